import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { NO_LOG } from "../../platform/ports.js";
import { type EndpointStreamHandlers } from "../endpoint.js";
import { WorkerEndpointTransport } from "./worker_endpoint_transport.js";

/** An h2c server that answers each request with its whole body reversed, after the request ends. */
function reversingServer(): http2.Http2Server {
  return http2.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      res.writeHead(200, {
        "content-type": "application/octet-stream",
        "x-restate-server": "test",
      });
      res.end(Buffer.concat(chunks).reverse());
    });
  });
}

interface Outcome {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Uint8Array;
  error: Error | undefined;
}

function collect(): { handlers: EndpointStreamHandlers; done: Promise<Outcome> } {
  const outcome: Outcome = { status: 0, headers: {}, body: new Uint8Array(), error: undefined };
  const chunks: Uint8Array[] = [];
  let settle!: () => void;
  const done = new Promise<Outcome>((resolve) => {
    settle = () => {
      outcome.body = Buffer.concat(chunks);
      resolve(outcome);
    };
  });
  return {
    done,
    handlers: {
      onResponse: (status, headers) => {
        outcome.status = status;
        outcome.headers = headers;
      },
      onData: (chunk) => chunks.push(chunk),
      onEnd: settle,
      onError: (error) => {
        outcome.error = error;
        settle();
      },
    },
  };
}

async function withTransport(
  run: (transport: WorkerEndpointTransport) => Promise<void>,
): Promise<void> {
  const transport = new WorkerEndpointTransport(NO_LOG);
  try {
    await run(transport);
  } finally {
    await transport.close();
  }
}

describe("endpoint transport on a worker thread", () => {
  const server = reversingServer();
  let uri = "";
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  const request = (path: string) => ({
    uri,
    useHttp11: false,
    requestResponse: false,
    path,
    headers: { "content-type": "application/octet-stream" },
  });

  it("carries writes in order, coalesced or not, and answers with headers and body", async () => {
    await withTransport(async (transport) => {
      const runs = Array.from({ length: 50 }, (_, i) => {
        const { handlers, done } = collect();
        const stream = transport.open(request(`/echo/${i}`), handlers);
        const sent = new Uint8Array(1 + i * 997).map((_, j) => (j * 31 + i) & 255);
        // Several writes in one turn (coalesced), one write in a later turn, then the end.
        const half = Math.max(1, Math.floor(sent.length / 2));
        stream.write(sent.subarray(0, 1));
        stream.write(sent.subarray(1, half));
        setImmediate(() => {
          stream.write(sent.subarray(half));
          stream.end();
        });
        return done.then((outcome) => ({ outcome, sent }));
      });
      for (const { outcome, sent } of await Promise.all(runs)) {
        assert.equal(outcome.error, undefined);
        assert.equal(outcome.status, 200);
        assert.equal(outcome.headers["x-restate-server"], "test");
        assert.deepEqual([...outcome.body], [...sent].reverse());
      }
    });
  });

  it("reports a refused connection with the error's code", async () => {
    await withTransport(async (transport) => {
      const { handlers, done } = collect();
      const closed = http2.createServer();
      await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      transport.open({ ...request("/x"), uri: `http://127.0.0.1:${port}` }, handlers).end();
      const outcome = await done;
      assert.match(outcome.error?.message ?? "", /ECONNREFUSED/);
      // Node reports it as the pending stream's cancellation, caused by the refused connect.
      assert.equal(typeof (outcome.error as Error & { code?: string }).code, "string");
    });
  });

  it("fails the open streams when the worker dies, and starts a new worker for the next stream", async () => {
    await withTransport(async (transport) => {
      const { handlers, done } = collect();
      transport.open(request("/never-ends"), handlers).write(new Uint8Array([1, 2, 3]));
      await new Promise((resolve) => setTimeout(resolve, 50));
      await transport.crashWorkerForTesting();
      const broken = await done;
      assert.match(broken.error?.message ?? "", /endpoint worker stopped/);

      const next = collect();
      const stream = transport.open(request("/after"), next.handlers);
      stream.write(new Uint8Array([1, 2, 3]));
      stream.end();
      const outcome = await next.done;
      assert.equal(outcome.error, undefined);
      assert.deepEqual([...outcome.body], [3, 2, 1]);
    });
  });

  it("refuses new streams once closed", async () => {
    const transport = new WorkerEndpointTransport(NO_LOG);
    const { handlers, done } = collect();
    const stream = transport.open(request("/before-close"), handlers);
    stream.write(new Uint8Array([9]));
    stream.end();
    await done;
    await transport.close();
    assert.throws(() => transport.open(request("/late"), collect().handlers), /closed/);
  });
});
