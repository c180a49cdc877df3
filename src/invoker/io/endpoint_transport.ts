/**
 * Streams to service endpoints. `restate.serve()` endpoints speak HTTP/2 cleartext with prior
 * knowledge (h2c); deployments registered with `use_http_11` get HTTP/1.1 with a chunked body.
 * HTTP/2 sessions are pooled per origin, with at most `endpointStreamsPerConnectionMax` streams each;
 * a broken session is dropped and the next attempt opens a new one.
 *
 * Large messages: request bodies are paced (`PacedWriter`) so a session never holds more than every
 * stream's write-ahead, and Keel grants endpoints large flow-control windows so their responses do
 * not pile up in the SDK's server. A session whose stream was torn down mid-response, or which
 * refused a stream for lack of memory, takes no new streams: Node's server does not give back the
 * memory of data it had queued for a stream reset by the client, and refuses every new stream on
 * that session from then on (NGHTTP2_ENHANCE_YOUR_CALM).
 */

import http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import type { Writable } from "node:stream";
import { rootCertificates } from "node:tls";
import { Fifo, limits } from "../../core/index.js";
import { RequestSigner } from "./request_identity.js";
import type {
  EndpointRequest,
  EndpointStream,
  EndpointStreamHandlers,
  EndpointTransport,
} from "../index.js";

interface PooledSession {
  readonly origin: string;
  readonly session: http2.ClientHttp2Session;
  streams: number;
  /** Takes no new streams; closed once its last stream is done. */
  retired: boolean;
}

const MB = 1_000_000;

/**
 * Hands a request body to a stream a piece at a time, keeping at most `writeAheadBytes` handed over
 * and not yet sent; the rest waits here. Each piece's write callback (it was sent) hands over more,
 * so the stream never runs dry while bytes wait. Pieces are views of the written buffers.
 */
export class PacedWriter {
  private readonly pending = new Fifo<Uint8Array>();
  /** Bytes of the oldest pending buffer already handed to the stream. */
  private headOffset = 0;
  private waiting = 0;
  private inFlight = 0;
  private ending = false;
  private ended = false;

  constructor(
    private readonly sink: Writable,
    private readonly writeAheadBytes = limits.endpointWriteAheadBytes,
    private readonly chunkBytes = limits.endpointWriteChunkBytes,
  ) {}

  /** Bytes accepted but not yet handed to the stream. */
  get waitingBytes(): number {
    return this.waiting;
  }

  write(bytes: Uint8Array): void {
    if (this.ending || bytes.length === 0) return;
    this.pending.push(bytes);
    this.waiting += bytes.length;
    this.pump();
  }

  end(): void {
    this.ending = true;
    this.pump();
  }

  private pump(): void {
    const sink = this.sink;
    if (sink.destroyed || sink.writableEnded) return;
    while (this.pending.length > 0 && this.inFlight < this.writeAheadBytes) {
      const head = this.pending.peek()!;
      const end = Math.min(head.length, this.headOffset + this.chunkBytes);
      const piece =
        this.headOffset === 0 && end === head.length ? head : head.subarray(this.headOffset, end);
      this.waiting -= piece.length;
      this.inFlight += piece.length;
      if (end === head.length) {
        this.pending.shift();
        this.headOffset = 0;
      } else {
        this.headOffset = end;
      }
      sink.write(piece, () => {
        this.inFlight -= piece.length;
        this.pump();
      });
    }
    if (this.ending && !this.ended && this.pending.length === 0) {
      this.ended = true;
      sink.end();
    }
  }
}

/**
 * How Keel's clients to endpoints identify themselves and whom they trust, in PEM: plain data, so it
 * crosses to the endpoint worker as it is.
 */
export interface EndpointClientSettings {
  /** The Ed25519 key that signs every request (request identity v1); none: requests go unsigned. */
  readonly identityKeyPem?: string;
  /** Certificates trusted for `https://` endpoints besides the system's (a private CA). */
  readonly trustedCaPem?: string;
}

/** The settings made ready for use: a signer, and the certificates TLS connections trust. */
export class EndpointClient {
  readonly signer: RequestSigner | undefined;
  /** Undefined: Node's own trust store. */
  readonly ca: string[] | undefined;

  constructor(settings: EndpointClientSettings = {}) {
    this.signer =
      settings.identityKeyPem === undefined
        ? undefined
        : new RequestSigner(settings.identityKeyPem);
    // Node's `ca` replaces its trust store: keep the public roots beside the private CA.
    this.ca =
      settings.trustedCaPem === undefined
        ? undefined
        : [...rootCertificates, settings.trustedCaPem];
  }

  /** The request's headers with its identity, if Keel signs: `path` is the URL's path alone. */
  headersFor(
    headers: Record<string, string>,
    path: string,
    subject: string | undefined,
  ): Record<string, string> {
    if (this.signer === undefined) return headers;
    return { ...headers, ...this.signer.headers(path, subject, Date.now() / 1000) };
  }
}

export class HttpEndpointTransport implements EndpointTransport {
  private readonly pools = new Map<string, PooledSession[]>();
  /** Sessions that take no new streams, until their last stream is done. */
  private readonly retired = new Set<PooledSession>();
  private readonly agent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private closed = false;

  constructor(private readonly client = new EndpointClient()) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
    this.httpsAgent = new https.Agent({
      keepAlive: true,
      maxSockets: 256,
      ...(client.ca === undefined ? {} : { ca: client.ca }),
    });
  }

  open(request: EndpointRequest, handlers: EndpointStreamHandlers): EndpointStream {
    const url = new URL(request.path, request.uri);
    const signed =
      this.client.signer === undefined
        ? request
        : {
            ...request,
            headers: this.client.headersFor(request.headers, url.pathname, request.identitySubject),
          };
    return request.useHttp11
      ? this.openHttp1(url, signed, handlers)
      : this.openHttp2(url, signed, handlers);
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
      ...(this.client.ca === undefined ? {} : { ca: this.client.ca }),
      peerMaxConcurrentStreams: limits.endpointStreamsPerConnectionMax,
      maxSessionMemory: Math.ceil(limits.endpointSessionMemoryBytesMax / MB),
      settings: { initialWindowSize: limits.endpointStreamWindowBytes },
    });
    session.once("connect", () => session.setLocalWindowSize(limits.endpointConnectionWindowBytes));
    const pooled: PooledSession = { origin, session, streams: 0, retired: false };
    session.on("error", () => this.unpool(pooled));
    session.on("goaway", () => this.unpool(pooled));
    session.on("close", () => {
      this.unpool(pooled);
      this.retired.delete(pooled);
    });
    session.setTimeout(limits.endpointConnectTimeoutMs, () => {
      if (pooled.streams === 0) session.close();
    });
    pool.push(pooled);
    return pooled;
  }

  private unpool(pooled: PooledSession): void {
    const list = this.pools.get(pooled.origin);
    const index = list?.indexOf(pooled) ?? -1;
    if (index >= 0) list!.splice(index, 1);
  }

  /** No new streams on this session; it closes once its last stream is done. */
  private retire(pooled: PooledSession): void {
    if (pooled.retired) return;
    pooled.retired = true;
    this.unpool(pooled);
    this.retired.add(pooled);
    if (pooled.streams === 0) pooled.session.close();
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
      if (pooled.retired && pooled.streams === 0) pooled.session.close();
    };
    const stream = pooled.session.request(
      { ":method": "POST", ":path": url.pathname + url.search, ...request.headers },
      { endStream: false },
    );
    const body = new PacedWriter(stream);
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
      const code = stream.rstCode;
      if (
        code === http2.constants.NGHTTP2_ENHANCE_YOUR_CALM ||
        code === http2.constants.NGHTTP2_REFUSED_STREAM
      )
        this.retire(pooled);
      if (!done) {
        finish();
        handlers.onError(new Error(`stream closed (code ${code})`));
      }
    });
    return {
      write: (bytes) => {
        if (!stream.closed) body.write(bytes);
      },
      end: () => {
        if (!stream.closed) body.end();
      },
      abort: () => {
        // The endpoint may still have response data queued for this stream: see the top of the file.
        if (!stream.readableEnded) this.retire(pooled);
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
    const secure = url.protocol === "https:";
    const req = (secure ? https : http).request(url, {
      method: "POST",
      agent: secure ? this.httpsAgent : this.agent,
      headers: { ...request.headers, "transfer-encoding": "chunked" },
    });
    const body = new PacedWriter(req);
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
      write: (bytes) => body.write(bytes),
      end: () => body.end(),
      abort: () => {
        done = true;
        req.destroy();
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const pool of this.pools.values()) for (const p of pool) p.session.close();
    for (const p of this.retired) p.session.close();
    this.pools.clear();
    this.retired.clear();
    this.agent.destroy();
    this.httpsAgent.destroy();
  }
}

export interface DiscoveryResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/**
 * `GET {uri}/discover`, over HTTP/2 (h2c, or TLS for `https://`) unless the deployment uses
 * HTTP/1.1; signed when Keel signs; bounded by a timeout.
 */
export function fetchDiscovery(
  uri: string,
  useHttp11: boolean,
  headers: Record<string, string>,
  client = new EndpointClient(),
  timeoutMs = limits.discoveryTimeoutMs,
): Promise<DiscoveryResponse> {
  const base = new URL(uri);
  const path = `${base.pathname.endsWith("/") ? base.pathname.slice(0, -1) : base.pathname}/discover`;
  const accept = [1, 2, 3, 4]
    .map((v) => `application/vnd.restate.endpointmanifest.v${v}+json`)
    .join(", ");
  const requestHeaders = client.headersFor(
    { ...headers, accept, "x-restate-cluster-name": "localcluster" },
    path,
    undefined,
  );
  const tlsOptions = client.ca === undefined ? {} : { ca: client.ca };
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`discovery of ${uri} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    let cleanup = (): void => clearTimeout(timer);
    if (useHttp11) {
      const target = new URL(path + base.search, base);
      const get = target.protocol === "https:" ? https.get : http.get;
      const req = get(target, { headers: requestHeaders, ...tlsOptions }, (res) => {
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
    const session = http2.connect(base.origin, tlsOptions);
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
