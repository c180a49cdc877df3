/**
 * The admin API's JSON shapes for services, handlers and deployments, as Restate renders them:
 * snake_case fields, durations in the friendly form (`1d`, `500ms`), timestamps with nanoseconds.
 */

import { formatDurationFriendly } from "../core/index.js";
import type { DeploymentSchema, HandlerSchema, RetryPolicy, ServiceSchema } from "./schema.js";

type Json = Record<string, unknown>;

function retryPolicyJson(policy: RetryPolicy): Json {
  return {
    initial_interval: formatDurationFriendly(policy.initialIntervalMs),
    exponentiation_factor: policy.exponentiationFactor,
    max_attempts: policy.maxAttempts,
    max_interval: formatDurationFriendly(policy.maxIntervalMs),
    on_max_attempts: policy.onMaxAttempts,
  };
}

function describeInput(h: HandlerSchema): string {
  if (h.input === undefined) return "none";
  return h.input.contentType ?? "*/*";
}

function describeOutput(h: HandlerSchema): string {
  if (h.output === undefined) return "none";
  return h.output.contentType ?? "none";
}

export function handlerJson(h: HandlerSchema): Json {
  const out: Json = { name: h.name };
  if (h.ty !== undefined) out["ty"] = h.ty;
  if (h.documentation !== undefined) out["documentation"] = h.documentation;
  if (h.metadata !== undefined) out["metadata"] = h.metadata;
  if (h.journalRetentionMs !== undefined)
    out["journal_retention"] = formatDurationFriendly(h.journalRetentionMs);
  if (h.idempotencyRetentionMs !== undefined)
    out["idempotency_retention"] = formatDurationFriendly(h.idempotencyRetentionMs);
  if (h.workflowCompletionRetentionMs !== undefined) {
    out["workflow_completion_retention"] = formatDurationFriendly(h.workflowCompletionRetentionMs);
  }
  if (h.inactivityTimeoutMs !== undefined)
    out["inactivity_timeout"] = formatDurationFriendly(h.inactivityTimeoutMs);
  if (h.abortTimeoutMs !== undefined)
    out["abort_timeout"] = formatDurationFriendly(h.abortTimeoutMs);
  if (h.enableLazyState !== undefined) out["enable_lazy_state"] = h.enableLazyState;
  out["public"] = h.public;
  out["input_description"] = describeInput(h);
  out["output_description"] = describeOutput(h);
  if (h.input?.jsonSchema !== undefined) out["input_json_schema"] = h.input.jsonSchema;
  if (h.output?.jsonSchema !== undefined) out["output_json_schema"] = h.output.jsonSchema;
  const retry: Json = { max_attempts: h.retryPolicy?.maxAttempts ?? null };
  if (h.retryPolicy?.initialIntervalMs !== undefined)
    retry["initial_interval"] = formatDurationFriendly(h.retryPolicy.initialIntervalMs);
  if (h.retryPolicy?.exponentiationFactor !== undefined)
    retry["exponentiation_factor"] = h.retryPolicy.exponentiationFactor;
  if (h.retryPolicy?.maxIntervalMs !== undefined)
    retry["max_interval"] = formatDurationFriendly(h.retryPolicy.maxIntervalMs);
  if (h.retryPolicy?.onMaxAttempts !== undefined)
    retry["on_max_attempts"] = h.retryPolicy.onMaxAttempts;
  out["retry_policy"] = retry;
  return out;
}

export function serviceJson(
  s: ServiceSchema,
  info?: readonly { code: string; message: string }[],
): Json {
  const out: Json = {
    name: s.name,
    ty: s.ty,
    handlers: s.handlers.map(handlerJson),
    deployment_id: s.deploymentId,
    revision: s.revision,
    public: s.public,
  };
  if (s.documentation !== undefined) out["documentation"] = s.documentation;
  if (s.metadata !== undefined) out["metadata"] = s.metadata;
  out["idempotency_retention"] = formatDurationFriendly(s.idempotencyRetentionMs);
  if (s.workflowCompletionRetentionMs !== undefined) {
    out["workflow_completion_retention"] = formatDurationFriendly(s.workflowCompletionRetentionMs);
  }
  out["journal_retention"] = formatDurationFriendly(s.journalRetentionMs);
  out["inactivity_timeout"] = formatDurationFriendly(s.inactivityTimeoutMs);
  out["abort_timeout"] = formatDurationFriendly(s.abortTimeoutMs);
  out["enable_lazy_state"] = s.enableLazyState;
  out["retry_policy"] = retryPolicyJson(s.retryPolicy);
  if (info !== undefined && info.length > 0) out["info"] = info;
  return out;
}

/** RFC 3339 with nanoseconds, as Restate prints deployment creation times. */
export function timestampNanos(ms: number, iso: (ms: number) => string): string {
  return iso(ms).replace(/\.(\d{3})Z$/, ".$1000000Z");
}

export function deploymentJson(
  d: DeploymentSchema,
  iso: (ms: number) => string,
  services: Json[] | undefined,
): Json {
  const out: Json = {
    id: d.id,
    uri: d.uri,
    protocol_type: d.protocolType,
    http_version: d.useHttp11 ? "HTTP/1.1" : "HTTP/2.0",
    created_at: timestampNanos(d.createdAtMs, iso),
    min_protocol_version: d.minProtocolVersion,
    max_protocol_version: d.maxProtocolVersion,
  };
  if (d.sdkVersion !== undefined) out["sdk_version"] = d.sdkVersion;
  if (Object.keys(d.additionalHeaders).length > 0) out["additional_headers"] = d.additionalHeaders;
  if (Object.keys(d.metadata).length > 0) out["metadata"] = d.metadata;
  out["services"] = services ?? d.services.map((s) => ({ name: s.name, revision: s.revision }));
  return out;
}
