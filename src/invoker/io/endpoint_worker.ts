/**
 * The endpoint worker thread: runs the HTTP/2 and HTTP/1.1 clients to service endpoints for the
 * node's thread (worker_endpoint_transport.ts). Only bytes cross: the worker neither parses the
 * service protocol nor decides anything.
 */

import { parentPort, workerData } from "node:worker_threads";
import { concatBytes } from "../../core/index.js";
import type { EndpointStream } from "../index.js";
import type { FromWorker, ToWorker } from "./endpoint_worker_messages.js";
import {
  EndpointClient,
  HttpEndpointTransport,
  type EndpointClientSettings,
} from "./endpoint_transport.js";
import { OutboundBatch, packForCrossing } from "./worker_batch.js";

const port = parentPort;
if (port === null) throw new Error("endpoint_worker.js runs only as a worker thread");

// Requests are signed here, where they are built: the node's thread only passes the key along.
const transport = new HttpEndpointTransport(
  new EndpointClient(workerData as EndpointClientSettings),
);
const streams = new Map<number, EndpointStream>();
const outbound = new OutboundBatch<FromWorker>(
  (batch, transfer) => port.postMessage(batch, transfer),
  "turn",
);
/** Data chunks of one stream within one turn are sent as one buffer of their own. */
const pendingData = new Map<number, Uint8Array[]>();

function flushData(stream: number): void {
  const chunks = pendingData.get(stream);
  if (chunks === undefined) return;
  pendingData.delete(stream);
  // A chunk from the socket is a view into a larger buffer: copy, or the clone copies it all (a
  // Buffer's `slice` is a view, hence the constructor).
  const bytes = chunks.length === 1 ? new Uint8Array(chunks[0]!) : concatBytes(chunks);
  outbound.push({ kind: "data", stream, bytes }, packForCrossing([bytes]).moved);
}

outbound.beforeFlush = () => {
  for (const stream of [...pendingData.keys()]) flushData(stream);
};

function open(stream: number, request: Extract<ToWorker, { kind: "open" }>["request"]): void {
  const forget = (): void => {
    streams.delete(stream);
  };
  try {
    const handle = transport.open(request, {
      onResponse: (status, headers) => outbound.push({ kind: "response", stream, status, headers }),
      onData: (chunk) => {
        const chunks = pendingData.get(stream);
        if (chunks === undefined) pendingData.set(stream, [chunk]);
        else chunks.push(chunk);
        outbound.schedule();
      },
      onEnd: () => {
        forget();
        flushData(stream);
        outbound.push({ kind: "end", stream });
      },
      onError: (error: Error & { code?: string }) => {
        forget();
        flushData(stream);
        outbound.push({
          kind: "error",
          stream,
          error:
            error.code === undefined
              ? { message: error.message }
              : { message: error.message, code: error.code },
        });
      },
    });
    streams.set(stream, handle);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    outbound.push({ kind: "error", stream, error: { message } });
  }
}

port.on("message", (batch: ToWorker[]) => {
  for (const message of batch) {
    switch (message.kind) {
      case "open":
        open(message.stream, message.request);
        break;
      case "write": {
        const handle = streams.get(message.stream);
        for (const part of message.parts) handle?.write(part);
        break;
      }
      case "end":
        streams.get(message.stream)?.end();
        break;
      case "abort":
        streams.get(message.stream)?.abort();
        streams.delete(message.stream);
        pendingData.delete(message.stream);
        break;
      case "close":
        void transport.close().finally(() => {
          outbound.push({ kind: "closed" });
          outbound.flush();
        });
        break;
    }
  }
});
