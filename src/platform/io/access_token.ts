/**
 * Bearer tokens in front of an HTTP API (the admin API, the ingress). A request is let in when its
 * `Authorization: Bearer <token>` matches the configured token. The comparison is of SHA-256
 * digests with `timingSafeEqual`: equal lengths whatever the client sends, and no early exit, so
 * response times say nothing about how much of a guess was right.
 */

import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

export class AccessToken {
  private readonly digest: Buffer;

  constructor(token: string) {
    this.digest = digestOf(token);
  }

  /** Whether the request carries the token, as `Authorization: Bearer <token>`. */
  admits(req: IncomingMessage): boolean {
    const header = req.headers.authorization;
    const match = header === undefined ? null : /^bearer +(\S+) *$/i.exec(header);
    // A missing header is compared too, so that it takes the time a wrong token takes.
    const presented = digestOf(match?.[1] ?? "");
    return timingSafeEqual(presented, this.digest) && match !== null;
  }
}

/** What a refused request is told, beside its body: how to authenticate (RFC 6750). */
export const UNAUTHORIZED_HEADERS = { "www-authenticate": "Bearer" } as const;

function digestOf(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}
