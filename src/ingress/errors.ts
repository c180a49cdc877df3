/**
 * The ingress's errors, as Restate's ingress words them: each carries the HTTP status it is answered
 * with and says whether the ingress or the invocation produced it (`x-restate-error-source`).
 */

import type { Failure } from "../gen/keel/service_protocol.js";

/** An error the ingress answers with `status` and Restate's JSON error body. */
export class IngressError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly source: "ingress" | "invocation" = "ingress",
    readonly invocationId?: string,
  ) {
    super(message);
  }
}

export function serviceNotFound(name: string): IngressError {
  return new IngressError(
    404,
    `service '${name}' not found, make sure to register the service before calling it.`,
  );
}

/** A malformed path under `/restate/call`, `/restate/send` (Restate 1.7's ingress paths). */
export function badRestatePath(): IngressError {
  return new IngressError(
    400,
    "bad path, expected /restate/call/:service/:handler, /restate/send/:service/:handler, /restate/scope/:scope/call/:service/:handler, /restate/attach/:invocation_id, /restate/output/:invocation_id, or /restate/lookup",
  );
}

export function badServicePath(): IngressError {
  return new IngressError(
    400,
    "bad path, expected either /:service-name/:handler or /:object-name/:object-key/:handler",
  );
}

export function methodNotAllowed(): IngressError {
  return new IngressError(405, "method not allowed");
}

/** A terminal failure as Restate's ingress renders it: metadata only when there is some. */
export function failureBody(failure: Failure): Record<string, unknown> {
  const body: Record<string, unknown> = { code: failure.code, message: failure.message };
  if (failure.metadata.length > 0)
    body["metadata"] = Object.fromEntries(failure.metadata.map((m) => [m.key, m.value]));
  body["source"] = "invocation";
  return body;
}

export function mediaType(value: string): string {
  return value.split(";")[0]!.trim().toLowerCase();
}
