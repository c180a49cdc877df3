/** Small helpers shared by the HTTP edges: bounded body reading, JSON answers, RFC 3339 times. */

import type { IncomingMessage, ServerResponse } from "node:http";
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
