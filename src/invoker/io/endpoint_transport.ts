/**
 * Streams to service endpoints. `restate.serve()` endpoints speak HTTP/2 cleartext with prior
 * knowledge (h2c); deployments registered with `use_http_11` get HTTP/1.1 with a chunked body.
 * HTTP/2 sessions are pooled per origin, with at most `endpointStreamsPerConnectionMax` streams each;
 * a broken session is dropped and the next attempt opens a new one.
 */

import http from "node:http";
import http2 from "node:http2";
import { limits } from "../../core/index.js";
import type {
  EndpointRequest,
  EndpointStream,
  EndpointStreamHandlers,
  EndpointTransport,
} from "../index.js";

interface PooledSession {
  readonly session: http2.ClientHttp2Session;
  streams: number;
}

export class HttpEndpointTransport implements EndpointTransport {
  private readonly pools = new Map<string, PooledSession[]>();
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  private closed = false;

  open(request: EndpointRequest, handlers: EndpointStreamHandlers): EndpointStream {
    const url = new URL(request.path, request.uri);
    return request.useHttp11
      ? this.openHttp1(url, request, handlers)
      : this.openHttp2(url, request, handlers);
  }

  private session(origin: string): PooledSession {
    let pool = this.pools.get(origin);
    if (pool === undefined) {
      pool = [];
      this.pools.set(origin, pool);
    }
    const free = pool.find(
      (p) =>
        p.streams < limits.endpointStreamsPerConnectionMax &&
        !p.session.closed &&
        !p.session.destroyed,
    );
    if (free !== undefined) return free;
    const session = http2.connect(origin, {
      peerMaxConcurrentStreams: limits.endpointStreamsPerConnectionMax,
    });
    const pooled: PooledSession = { session, streams: 0 };
    const forget = (): void => {
      const list = this.pools.get(origin);
      const index = list?.indexOf(pooled) ?? -1;
      if (index >= 0) list!.splice(index, 1);
    };
    session.on("error", forget);
    session.on("goaway", forget);
    session.on("close", forget);
    session.setTimeout(limits.endpointConnectTimeoutMs, () => {
      if (pooled.streams === 0) session.close();
    });
    pool.push(pooled);
    return pooled;
  }

  private openHttp2(
    url: URL,
    request: EndpointRequest,
    handlers: EndpointStreamHandlers,
  ): EndpointStream {
    if (this.closed) throw new Error("endpoint transport is closed");
    const pooled = this.session(url.origin);
    pooled.streams++;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      pooled.streams--;
    };
    const stream = pooled.session.request(
      { ":method": "POST", ":path": url.pathname + url.search, ...request.headers },
      { endStream: false },
    );
    stream.on("response", (headers) => {
      const plain: Record<string, string | string[] | undefined> = {};
      for (const [k, v] of Object.entries(headers)) if (!k.startsWith(":")) plain[k] = v;
      handlers.onResponse(Number(headers[":status"] ?? 0), plain);
    });
    stream.on("data", (chunk: Buffer) => handlers.onData(chunk));
    stream.on("end", () => {
      finish();
      handlers.onEnd();
    });
    stream.on("error", (error: Error) => {
      finish();
      handlers.onError(error);
    });
    stream.on("close", () => {
      if (!done) {
        finish();
        handlers.onError(new Error(`stream closed (code ${stream.rstCode})`));
      }
    });
    return {
      write: (bytes) => {
        if (!stream.closed && !stream.writableEnded) stream.write(bytes);
      },
      end: () => {
        if (!stream.closed && !stream.writableEnded) stream.end();
      },
      abort: () => {
        finish();
        if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
      },
    };
  }

  private openHttp1(
    url: URL,
    request: EndpointRequest,
    handlers: EndpointStreamHandlers,
  ): EndpointStream {
    let done = false;
    const req = http.request(url, {
      method: "POST",
      agent: this.agent,
      headers: { ...request.headers, "transfer-encoding": "chunked" },
    });
    req.on("response", (response) => {
      handlers.onResponse(response.statusCode ?? 0, response.headers);
      response.on("data", (chunk: Buffer) => handlers.onData(chunk));
      response.on("end", () => {
        if (done) return;
        done = true;
        handlers.onEnd();
      });
      response.on("error", (error) => {
        if (done) return;
        done = true;
        handlers.onError(error);
      });
    });
    req.on("error", (error) => {
      if (done) return;
      done = true;
      handlers.onError(error);
    });
    return {
      write: (bytes) => {
        if (!req.writableEnded) req.write(bytes);
      },
      end: () => {
        if (!req.writableEnded) req.end();
      },
      abort: () => {
        done = true;
        req.destroy();
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const pool of this.pools.values()) for (const p of pool) p.session.close();
    this.pools.clear();
    this.agent.destroy();
  }
}

export interface DiscoveryResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/** `GET {uri}/discover`, over h2c unless the deployment uses HTTP/1.1; bounded by a timeout. */
export function fetchDiscovery(
  uri: string,
  useHttp11: boolean,
  headers: Record<string, string>,
  timeoutMs = limits.discoveryTimeoutMs,
): Promise<DiscoveryResponse> {
  const base = new URL(uri);
  const path = `${base.pathname.endsWith("/") ? base.pathname.slice(0, -1) : base.pathname}/discover`;
  const accept = [1, 2, 3, 4]
    .map((v) => `application/vnd.restate.endpointmanifest.v${v}+json`)
    .join(", ");
  const requestHeaders = { ...headers, accept, "x-restate-cluster-name": "localcluster" };
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`discovery of ${uri} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    let cleanup = (): void => clearTimeout(timer);
    if (useHttp11) {
      const req = http.get(new URL(path, base), { headers: requestHeaders }, (res) => {
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          cleanup();
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          });
        });
      });
      req.on("error", (e: Error) => {
        cleanup();
        reject(e);
      });
      cleanup = (): void => {
        clearTimeout(timer);
        req.destroy();
      };
      return;
    }
    const session = http2.connect(base.origin);
    cleanup = (): void => {
      clearTimeout(timer);
      session.close();
    };
    session.on("error", (e: Error) => {
      cleanup();
      reject(e);
    });
    const stream = session.request({
      ":method": "GET",
      ":path": path + base.search,
      ...requestHeaders,
    });
    let status = 0;
    let responseHeaders: Record<string, string | string[] | undefined> = {};
    stream.on("response", (h) => {
      status = Number(h[":status"] ?? 0);
      responseHeaders = h;
    });
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      cleanup();
      resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks) });
    });
    stream.on("error", (e: Error) => {
      cleanup();
      reject(e);
    });
  });
}
