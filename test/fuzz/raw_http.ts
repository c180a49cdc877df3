/**
 * Sends raw bytes to an HTTP/1.1 server over one TCP connection and reads what comes back, for the
 * fuzz tests: the status line and headers of the first answer (and, when asked, its body), or how the
 * server ended the connection without one.
 */

import { connect } from "node:net";

export interface RawAnswer {
  /** The first answer's status; undefined when none came. */
  readonly status: number | undefined;
  /** The first answer's header block, lower-cased. */
  readonly head: string;
  readonly timedOut: boolean;
  /**
   * With `readBody`: the first answer's body as it came (chunked framing left in place), complete
   * when the answer has a content length, else what came before the server closed.
   */
  readonly body: Buffer;
}

/**
 * `endAfterMs`: half-close the connection this long after writing, for requests that never end on
 * their own (a body shorter than declared). Otherwise the connection stays open: a Node server drops
 * a connection whose client half-closed, pending answers included. `readBody`: wait for the answer's
 * body too (its content length, or the server's close).
 */
export function sendRaw(
  port: number,
  bytes: Buffer,
  timeoutMs: number,
  endAfterMs?: number,
  readBody = false,
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
        body: end < 0 ? Buffer.alloc(0) : Buffer.from(text.slice(end + 4), "latin1"),
      });
    };
    /** Whether the first answer is complete: its head, and with `readBody` its declared body. */
    const complete = (text: string): boolean => {
      const end = text.indexOf("\r\n\r\n");
      if (!/^HTTP\/1\.[01] \d{3}/.test(text) || end < 0) return false;
      if (!readBody) return true;
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1];
      return length !== undefined && text.length - end - 4 >= Number(length);
    };
    const timer = setTimeout(() => finish(true), timeoutMs);
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      if (complete(answerText())) finish(false);
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
