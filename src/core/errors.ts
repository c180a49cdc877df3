/**
 * Expected failures, in one family: every KeelError carries a stable code and a retryable flag; the
 * edges choose how to say it (the HTTP status is chosen in platform/io/http_util.ts, the CLI's exit
 * code in cli/). A broken invariant is not one of these: it is an assertion (assert.ts).
 */

export type ErrorCode =
  | "bad_request"
  | "not_found"
  | "conflict"
  | "unsupported_media_type"
  | "payload_too_large"
  | "not_ready"
  | "sealed"
  | "not_leader"
  | "unavailable"
  | "storage"
  | "timeout";

export class KeelError extends Error {
  override readonly name = "KeelError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly retryable = false,
    options?: { cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
  }
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
