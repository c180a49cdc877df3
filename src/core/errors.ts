/**
 * Expected failures at the edges: every KeelError carries a stable code, an HTTP-like status and a
 * retryable flag, so that the ingress, the admin API and the CLI can answer clearly.
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
  | "timeout"
  | "internal";

const STATUS_BY_CODE: Record<ErrorCode, number> = {
  bad_request: 400,
  not_found: 404,
  conflict: 409,
  unsupported_media_type: 415,
  payload_too_large: 413,
  not_ready: 470,
  sealed: 503,
  not_leader: 503,
  unavailable: 503,
  storage: 503,
  timeout: 504,
  internal: 500,
};

export class KeelError extends Error {
  override readonly name = "KeelError";
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly retryable = false,
    options?: { cause?: unknown; status?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.status = options?.status ?? STATUS_BY_CODE[code];
  }
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
