/** Small helpers shared by the HTTP edges: bounded body reading, JSON answers, RFC 3339 times. */

import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerOptions,
  type ServerResponse,
} from "node:http";
import {
  createServer as createHttp2Server,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
} from "node:http2";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { KeelError, type ErrorCode } from "../../core/index.js";

/** Reads the request body, failing with 413 past `limitBytes`. */
export function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? "0");
    if (declared > limitBytes) {
      reject(
        new KeelError(
          "payload_too_large",
          `request body of ${declared} bytes exceeds the limit of ${limitBytes} bytes`,
        ),
      );
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on("data", (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limitBytes) {
        failed = true;
        reject(
          new KeelError(
            "payload_too_large",
            `request body exceeds the limit of ${limitBytes} bytes`,
          ),
        );
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on("error", (error) => {
      if (!failed) {
        failed = true;
        reject(error);
      }
    });
  });
}

const HTTP_STATUS_BY_CODE: Record<ErrorCode, number> = {
  bad_request: 400,
  not_found: 404,
  conflict: 409,
  unsupported_media_type: 415,
  payload_too_large: 413,
  // Restate's status for "not ready yet" (an invocation's output asked before it completed).
  not_ready: 470,
  sealed: 503,
  not_leader: 503,
  unavailable: 503,
  storage: 503,
  timeout: 504,
};

/** The HTTP status that says a KeelError at the HTTP edges (ingress, admin). */
export function httpStatusOf(error: KeelError): number {
  return HTTP_STATUS_BY_CODE[error.code];
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/** RFC 3339 in UTC with milliseconds: `2026-11-26T10:09:17.001Z`. */
export function isoMillis(ms: number): string {
  return new Date(ms).toISOString();
}

/** RFC 3339 with nanoseconds, as Restate's ingress prints execution times. */
export function isoNanos(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000000Z");
}

/** RFC 3339 with milliseconds and a numeric offset: `2026-11-27T10:09:32.953+00:00`. */
export function isoOffset(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, "+00:00");
}

/** Listens, turning "address in use" and "permission denied" into clear errors. */
export function listenOn<S extends Server | NetServer>(
  server: S,
  port: number,
  host: string,
  what: string,
): Promise<S> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      server.off("listening", onListening);
      if (error.code === "EADDRINUSE")
        reject(new KeelError("unavailable", `${what} port ${port} on ${host} is already in use`));
      else if (error.code === "EACCES")
        reject(new KeelError("unavailable", `${what} port ${port} on ${host}: permission denied`));
      else reject(error);
    };
    const onListening = (): void => {
      server.off("error", onError);
      resolve(server);
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, host);
  });
}

/** What an HTTP/2 client sends first on a cleartext connection ("prior knowledge", RFC 9113 3.4). */
const HTTP2_PREFACE_START = Buffer.from("PRI * HTTP/2.0");

/** A certificate chain and its private key, in PEM. */
export interface TlsCredentials {
  readonly cert: string;
  readonly key: string;
}

/**
 * An HTTP server for one of the node's APIs, speaking HTTP/1.1 and, on the same port, HTTP/2 with
 * prior knowledge (h2c, as gRPC-style clients and some proxies use it; Restate's servers take both).
 * Each connection's first bytes choose the protocol. With TLS credentials it serves HTTPS instead:
 * HTTP/2 for clients that choose it by ALPN, else the first bytes choose as above. Listen once;
 * close with its open connections.
 */
export class HttpApiServer {
  private server: NetServer | undefined;
  private http1: Server | undefined;
  private readonly http2Sessions = new Set<Http2Session>();
  /** Connections whose protocol is not known yet (no byte received). */
  private readonly undecided = new Set<Socket>();
  /**
   * The TCP connections under TLS ones, from accept to close: one still in its handshake belongs to
   * no protocol yet, and the server's close would wait for it.
   */
  private readonly tlsConnections = new Set<Socket>();

  constructor(
    private readonly what: string,
    private readonly handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
    private readonly keepAliveTimeoutMs?: number,
    private readonly options: ServerOptions = {},
    private readonly tls?: TlsCredentials,
  ) {}

  private protocols: { readonly http1: Server; readonly http2: Http2Server } | undefined;

  /** The HTTP/1.1 and HTTP/2 servers, made once: by `listen`, or by the first adopted connection. */
  private servers(): { readonly http1: Server; readonly http2: Http2Server } {
    if (this.protocols !== undefined) return this.protocols;
    const http1 = createServer(this.options, (req, res) => void this.handle(req, res));
    if (this.keepAliveTimeoutMs !== undefined) http1.keepAliveTimeout = this.keepAliveTimeoutMs;
    // The compatibility API gives handlers request and response objects shaped like HTTP/1's.
    const http2 = createHttp2Server((req, res) => void this.handle(asHttp1(req), asHttp1(res)));
    http2.on("session", (session) => {
      this.http2Sessions.add(session);
      session.once("close", () => this.http2Sessions.delete(session));
    });
    // The HTTP/1 server never listens itself; this starts its tracking of connections (which
    // enforces its header and request timeouts and lets close() end them).
    http1.emit("listening");
    this.http1 = http1;
    this.protocols = { http1, http2 };
    return this.protocols;
  }

  /**
   * Serves a plain-TCP connection another listener accepted and read `firstBytes` from (the node
   * port's transport hands over the connections that open with an HTTP request).
   */
  adopt(socket: Socket, firstBytes: Buffer): void {
    const { http1, http2 } = this.servers();
    this.undecided.add(socket);
    chooseProtocol(socket, http1, http2, () => this.undecided.delete(socket), firstBytes);
  }

  async listen(port: number, host: string): Promise<NetServer> {
    const { http1, http2 } = this.servers();
    const serve = (socket: Socket): void => {
      this.undecided.add(socket);
      chooseProtocol(socket, http1, http2, () => this.undecided.delete(socket));
    };
    const tls = this.tls;
    const server =
      tls === undefined
        ? createNetServer(serve)
        : createTlsServer(
            { cert: tls.cert, key: tls.key, ALPNProtocols: ["h2", "http/1.1"] },
            (socket: TLSSocket) => {
              if (socket.alpnProtocol === "h2") http2.emit("connection", socket);
              else serve(socket);
            },
          );
    if (tls !== undefined) {
      server.on("connection", (socket: Socket) => {
        this.tlsConnections.add(socket);
        socket.once("close", () => this.tlsConnections.delete(socket));
      });
    }
    this.server = server;
    await listenOn(server, port, host, this.what);
    return server;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined && this.protocols === undefined) return;
    await new Promise<void>((resolve) => {
      if (server === undefined) resolve();
      else server.close(() => resolve());
      this.http1?.closeAllConnections();
      this.http1?.close();
      for (const session of this.http2Sessions) session.destroy();
      for (const socket of this.undecided) socket.destroy();
      for (const socket of this.tlsConnections) socket.destroy();
    });
  }
}

/**
 * Hands the connection to HTTP/2 if it opens with the HTTP/2 preface, else to HTTP/1.1. A connection
 * that sends nothing is closed after the time HTTP/1 gives a client to send its headers.
 */
function chooseProtocol(
  socket: Socket,
  http1: Server,
  http2: Http2Server,
  decided: () => void,
  firstBytes?: Buffer,
): void {
  let seen = Buffer.alloc(0);
  const onSilence = (): void => {
    socket.destroy();
  };
  socket.setTimeout(http1.headersTimeout, onSilence);
  socket.once("close", decided);
  const onData = (chunk: Buffer): void => {
    seen = Buffer.concat([seen, chunk]);
    const prefix = seen.subarray(0, HTTP2_PREFACE_START.length);
    if (
      seen.length < HTTP2_PREFACE_START.length &&
      HTTP2_PREFACE_START.subarray(0, seen.length).equals(prefix)
    )
      return; // Too few bytes to tell yet.
    socket.off("data", onData);
    socket.off("error", onError);
    socket.off("close", decided);
    socket.setTimeout(0);
    socket.off("timeout", onSilence);
    decided();
    if (prefix.equals(HTTP2_PREFACE_START)) {
      // HTTP/2 reads what the socket buffered before it takes the socket over.
      socket.pause();
      socket.unshift(seen);
      http2.emit("connection", socket);
    } else {
      // The HTTP/1 parser reads the socket's handle directly, past any buffered bytes: give it the
      // bytes already read now, before the handle can deliver more (later, in another turn).
      http1.emit("connection", socket);
      socket.emit("data", seen);
    }
  };
  const onError = (): void => {
    socket.destroy();
  };
  socket.on("data", onData);
  socket.on("error", onError);
  if (firstBytes !== undefined) onData(firstBytes);
}

/** The compatibility API's objects stand in for HTTP/1's in the shared handlers. */
function asHttp1<T>(value: Http2ServerRequest | Http2ServerResponse): T {
  return value as unknown as T;
}
