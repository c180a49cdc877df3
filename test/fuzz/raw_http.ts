/**
 * Sends raw bytes to an HTTP/1.1 server over one TCP connection and reads what comes back, for the
 * ingress fuzz test: the status line and headers of the first answer, or how the server ended the
 * connection without one.
 */

import { connect } from "node:net";

export interface RawAnswer {
  /** The first answer's status; undefined when none came. */
  readonly status: number | undefined;
  /** The first answer's header block, lower-cased. */
  readonly head: string;
  readonly timedOut: boolean;
}

/**
 * `endAfterMs`: half-close the connection this long after writing, for requests that never end on
 * their own (a body shorter than declared). Otherwise the connection stays open: a Node server drops
 * a connection whose client half-closed, pending answers included.
 */
export function sendRaw(
  port: number,
  bytes: Buffer,
  timeoutMs: number,
  endAfterMs?: number,
): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    // A 100 Continue is not the answer.
    const answerText = (): string =>
      Buffer.concat(chunks)
        .toString("latin1")
        .replace(/^(HTTP\/1\.1 100 [^\r]*\r\n\r\n)+/, "");
    const socket = connect(port, "127.0.0.1");
    let settled = false;
    const finish = (timedOut: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const text = answerText();
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      const end = text.indexOf("\r\n\r\n");
      resolve({
        status: match === null ? undefined : Number(match[1]),
        head: (end < 0 ? text : text.slice(0, end)).toLowerCase(),
        timedOut,
      });
    };
    const timer = setTimeout(() => finish(true), timeoutMs);
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      const text = answerText();
      if (/^HTTP\/1\.[01] \d{3}/.test(text) && text.includes("\r\n\r\n")) finish(false);
    });
    socket.on("error", () => finish(false));
    socket.on("close", () => finish(false));
    socket.write(bytes, () => {
      if (endAfterMs !== undefined)
        setTimeout(() => {
          if (!settled) socket.end();
        }, endAfterMs);
    });
  });
}
