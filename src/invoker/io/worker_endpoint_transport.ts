/**
 * Streams to service endpoints through a worker thread. Node's HTTP/2 client (stream objects, async
 * resources, header mapping, framing, socket I/O) was the largest single cost on the node's thread,
 * which also runs ingress, the log and the partition processors; here it runs on its own thread and
 * only the request's bytes and events cross. See endpoint_worker.ts for the other side.
 *
 * If the worker dies, every open stream fails (its attempt is retried like any broken connection)
 * and the next attempt starts a new worker.
 */

import { Worker } from "node:worker_threads";
import type {
  EndpointRequest,
  EndpointStream,
  EndpointStreamHandlers,
  EndpointTransport,
} from "../index.js";
import type { Logger } from "../../platform/index.js";
import type { FromWorker, ToWorker, WorkerErrorDescription } from "./endpoint_worker_messages.js";
import { OutboundBatch, packForCrossing } from "./worker_batch.js";
import type { EndpointClientSettings } from "./endpoint_transport.js";

const CLOSE_TIMEOUT_MS = 5_000;

class EndpointError extends Error {
  override readonly name = "EndpointError";
  readonly code: string | undefined;

  constructor(description: WorkerErrorDescription) {
    super(description.message);
    this.code = description.code;
  }
}

interface WorkerHandle {
  readonly worker: Worker;
  readonly outbound: OutboundBatch<ToWorker>;
  /** Data written to a stream within one turn goes as one buffer. */
  readonly pendingWrites: Map<number, Uint8Array[]>;
  closed?: () => void;
}

export class WorkerEndpointTransport implements EndpointTransport {
  private handle: WorkerHandle | undefined;
  private readonly handlers = new Map<number, EndpointStreamHandlers>();
  private nextStream = 1;
  private closed = false;

  constructor(
    private readonly logger: Logger,
    private readonly clientSettings: EndpointClientSettings = {},
  ) {}

  open(request: EndpointRequest, handlers: EndpointStreamHandlers): EndpointStream {
    if (this.closed) throw new Error("endpoint transport is closed");
    const handle = this.worker();
    const stream = this.nextStream++;
    this.handlers.set(stream, handlers);
    handle.outbound.push({ kind: "open", stream, request });
    let ended = false;
    return {
      write: (bytes) => {
        if (ended || !this.handlers.has(stream)) return;
        const pending = handle.pendingWrites.get(stream);
        if (pending === undefined) handle.pendingWrites.set(stream, [bytes]);
        else pending.push(bytes);
        handle.outbound.schedule();
      },
      end: () => {
        if (ended || !this.handlers.has(stream)) return;
        ended = true;
        this.flushWrites(handle, stream);
        handle.outbound.push({ kind: "end", stream });
      },
      abort: () => {
        if (!this.handlers.delete(stream)) return;
        handle.pendingWrites.delete(stream);
        handle.outbound.push({ kind: "abort", stream });
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    const handle = this.handle;
    if (handle === undefined) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
      handle.closed = () => {
        clearTimeout(timer);
        resolve();
      };
      handle.outbound.push({ kind: "close" });
    });
    this.handle = undefined;
    await handle.worker.terminate();
  }

  /**
   * Stops the worker as a crash would: open streams fail and the next `open` starts a new one.
   * Tests use it; the node never calls it.
   */
  async crashWorkerForTesting(): Promise<void> {
    await this.handle?.worker.terminate();
  }

  private flushWrites(handle: WorkerHandle, stream: number): void {
    const chunks = handle.pendingWrites.get(stream);
    if (chunks === undefined) return;
    handle.pendingWrites.delete(stream);
    // The stream owns what it was given (see EndpointStream.write): large buffers move.
    const { parts, moved } = packForCrossing(chunks);
    handle.outbound.push({ kind: "write", stream, parts }, moved);
  }

  private worker(): WorkerHandle {
    if (this.handle !== undefined) return this.handle;
    const worker = new Worker(new URL("./endpoint_worker.js", import.meta.url), {
      workerData: this.clientSettings,
    });
    // The node's own servers keep the process alive; a worker left behind must not.
    worker.unref();
    const handle: WorkerHandle = {
      worker,
      outbound: new OutboundBatch<ToWorker>(
        (batch, transfer) => worker.postMessage(batch, transfer),
        "task",
      ),
      pendingWrites: new Map(),
    };
    handle.outbound.beforeFlush = () => {
      for (const stream of [...handle.pendingWrites.keys()]) this.flushWrites(handle, stream);
    };
    worker.on("message", (batch: FromWorker[]) => this.dispatch(handle, batch));
    const lost = (reason: string): void => {
      if (this.handle !== handle) return;
      this.handle = undefined;
      if (!this.closed)
        this.logger.warn("the endpoint worker stopped; starting a new one", { reason });
      const broken = [...this.handlers.entries()];
      this.handlers.clear();
      for (const [, handlers] of broken)
        handlers.onError(new EndpointError({ message: `endpoint worker stopped: ${reason}` }));
      handle.closed?.();
    };
    worker.on("error", (error) => lost(error.message));
    worker.on("exit", (code) => lost(`exit code ${code}`));
    this.handle = handle;
    return handle;
  }

  private dispatch(handle: WorkerHandle, batch: FromWorker[]): void {
    for (const event of batch) {
      if (event.kind === "closed") {
        handle.closed?.();
        continue;
      }
      const handlers = this.handlers.get(event.stream);
      if (handlers === undefined) continue;
      switch (event.kind) {
        case "response":
          handlers.onResponse(event.status, event.headers);
          break;
        case "data":
          handlers.onData(event.bytes);
          break;
        case "end":
          this.handlers.delete(event.stream);
          handlers.onEnd();
          break;
        case "error":
          this.handlers.delete(event.stream);
          handlers.onError(new EndpointError(event.error));
          break;
      }
    }
  }
}
