/** Small helpers shared by the HTTP edges: bounded body reading, JSON answers, RFC 3339 times. */

import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerOptions,
  type ServerResponse,
} from "node:http";
import type { Server as NetServer } from "node:net";
import { KeelError } from "../core/errors.js";

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

/** An HTTP server for one of the node's APIs: listen once, close with its open connections. */
export class HttpApiServer {
  private server: Server | undefined;

  constructor(
    private readonly what: string,
    private readonly handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
    private readonly keepAliveTimeoutMs?: number,
    private readonly options: ServerOptions = {},
  ) {}

  listen(port: number, host: string): Promise<Server> {
    const server = createServer(this.options, (req, res) => void this.handle(req, res));
    if (this.keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = this.keepAliveTimeoutMs;
    this.server = server;
    return listenOn(server, port, host, this.what);
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}
