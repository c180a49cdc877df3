/**
 * The endpoint manifest an SDK returns from `GET /discover` (manifest versions 2 to 4), validated into
 * plain values. Every problem becomes a clear message naming the field, what was found and what was
 * expected; nothing here throws on bad input.
 */

import {
  PROTOCOL_VERSION_MAX,
  PROTOCOL_VERSION_MIN,
  type HandlerOptions,
  type HandlerType,
  type ProtocolType,
  type RetryPolicy,
  type ServiceType,
} from "./schema.js";

export interface ManifestHandler extends HandlerOptions {
  readonly name: string;
  readonly ty?: HandlerType;
  readonly ingressPrivate?: boolean;
}

export interface ManifestService {
  readonly name: string;
  readonly ty: ServiceType;
  readonly handlers: readonly ManifestHandler[];
  readonly documentation?: string;
  readonly metadata?: Record<string, string>;
  readonly journalRetentionMs?: number;
  readonly idempotencyRetentionMs?: number;
  readonly inactivityTimeoutMs?: number;
  readonly abortTimeoutMs?: number;
  readonly enableLazyState?: boolean;
  readonly ingressPrivate?: boolean;
  readonly retryPolicy?: Partial<RetryPolicy>;
}

export interface EndpointManifest {
  readonly protocolMode: ProtocolType;
  readonly minProtocolVersion: number;
  readonly maxProtocolVersion: number;
  readonly services: readonly ManifestService[];
}

export type ManifestResult =
  { ok: true; manifest: EndpointManifest } | { ok: false; message: string };

const SERVICE_NAME = /^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9._-]*$/;
const HANDLER_NAME = /^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9_]*$/;

class ManifestError extends Error {}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function field<T>(
  obj: Record<string, unknown>,
  name: string,
  kind: "string" | "number" | "boolean",
  where: string,
): T | undefined {
  const value = obj[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== kind)
    throw new ManifestError(`${where}.${name}: expected a ${kind}, found ${JSON.stringify(value)}`);
  return value as T;
}

function durationMs(obj: Record<string, unknown>, name: string, where: string): number | undefined {
  const value = field<number>(obj, name, "number", where);
  if (value !== undefined && (!Number.isFinite(value) || value < 0)) {
    throw new ManifestError(
      `${where}.${name}: expected a non-negative number of milliseconds, found ${value}`,
    );
  }
  return value;
}

function stringMap(
  obj: Record<string, unknown>,
  name: string,
  where: string,
): Record<string, string> | undefined {
  const value = obj[name];
  if (value === undefined || value === null) return undefined;
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === "string")) {
    throw new ManifestError(`${where}.${name}: expected an object of strings`);
  }
  return value as Record<string, string>;
}

function retryPolicy(
  obj: Record<string, unknown>,
  where: string,
): Partial<RetryPolicy> | undefined {
  const policy: { -readonly [K in keyof RetryPolicy]?: RetryPolicy[K] } = {};
  const initial = durationMs(obj, "retryPolicyInitialInterval", where);
  const max = durationMs(obj, "retryPolicyMaxInterval", where);
  const attempts = field<number>(obj, "retryPolicyMaxAttempts", "number", where);
  const factor = field<number>(obj, "retryPolicyExponentiationFactor", "number", where);
  const onMax = field<string>(obj, "retryPolicyOnMaxAttempts", "string", where);
  if (initial !== undefined) policy.initialIntervalMs = initial;
  if (max !== undefined) policy.maxIntervalMs = max;
  if (attempts !== undefined) {
    if (!Number.isInteger(attempts) || attempts < 1)
      throw new ManifestError(
        `${where}.retryPolicyMaxAttempts: expected a positive integer, found ${attempts}`,
      );
    policy.maxAttempts = attempts;
  }
  if (factor !== undefined) {
    if (!(factor >= 1))
      throw new ManifestError(
        `${where}.retryPolicyExponentiationFactor: expected a number ≥ 1, found ${factor}`,
      );
    policy.exponentiationFactor = factor;
  }
  if (onMax !== undefined) {
    if (onMax !== "PAUSE" && onMax !== "KILL")
      throw new ManifestError(
        `${where}.retryPolicyOnMaxAttempts: expected PAUSE or KILL, found ${JSON.stringify(onMax)}`,
      );
    policy.onMaxAttempts = onMax === "PAUSE" ? "Pause" : "Kill";
  }
  return Object.keys(policy).length === 0 ? undefined : policy;
}

function options(obj: Record<string, unknown>, where: string) {
  const out: Record<string, unknown> = {};
  const set = (name: string, value: unknown): void => {
    if (value !== undefined) out[name] = value;
  };
  set("documentation", field<string>(obj, "documentation", "string", where));
  set("metadata", stringMap(obj, "metadata", where));
  set("journalRetentionMs", durationMs(obj, "journalRetention", where));
  set("idempotencyRetentionMs", durationMs(obj, "idempotencyRetention", where));
  set("inactivityTimeoutMs", durationMs(obj, "inactivityTimeout", where));
  set("abortTimeoutMs", durationMs(obj, "abortTimeout", where));
  set("enableLazyState", field<boolean>(obj, "enableLazyState", "boolean", where));
  set("ingressPrivate", field<boolean>(obj, "ingressPrivate", "boolean", where));
  set("retryPolicy", retryPolicy(obj, where));
  return out;
}

function parseHandler(raw: unknown, serviceTy: ServiceType, where: string): ManifestHandler {
  if (!isObject(raw)) throw new ManifestError(`${where}: expected an object`);
  const name = field<string>(raw, "name", "string", where);
  if (name === undefined || !HANDLER_NAME.test(name))
    throw new ManifestError(`${where}.name: invalid handler name ${JSON.stringify(name)}`);
  const at = `${where}(${name})`;
  const tyRaw = field<string>(raw, "ty", "string", at);
  let ty: HandlerType | undefined;
  if (tyRaw !== undefined) {
    const map: Record<string, HandlerType> = {
      EXCLUSIVE: "Exclusive",
      SHARED: "Shared",
      WORKFLOW: "Workflow",
    };
    ty = map[tyRaw];
    if (ty === undefined)
      throw new ManifestError(
        `${at}.ty: expected EXCLUSIVE, SHARED or WORKFLOW, found ${JSON.stringify(tyRaw)}`,
      );
    if (serviceTy === "Service")
      throw new ManifestError(`${at}.ty: handlers of a plain service have no type`);
    if (ty === "Workflow" && serviceTy !== "Workflow")
      throw new ManifestError(`${at}.ty: WORKFLOW handlers exist only in workflows`);
    if (ty === "Exclusive" && serviceTy === "Workflow")
      throw new ManifestError(`${at}.ty: workflows have no EXCLUSIVE handlers`);
  }
  const input = isObject(raw["input"]) ? (raw["input"] as ManifestHandler["input"]) : undefined;
  const output = isObject(raw["output"]) ? (raw["output"] as ManifestHandler["output"]) : undefined;
  const wfRetention = durationMs(raw, "workflowCompletionRetention", at);
  return {
    name,
    ...(ty === undefined ? {} : { ty }),
    ...(input === undefined ? {} : { input }),
    ...(output === undefined ? {} : { output }),
    ...(wfRetention === undefined ? {} : { workflowCompletionRetentionMs: wfRetention }),
    ...options(raw, at),
  };
}

function parseService(raw: unknown, where: string): ManifestService {
  if (!isObject(raw)) throw new ManifestError(`${where}: expected an object`);
  const name = field<string>(raw, "name", "string", where);
  if (name === undefined || !SERVICE_NAME.test(name))
    throw new ManifestError(`${where}.name: invalid service name ${JSON.stringify(name)}`);
  const at = `services(${name})`;
  const tyRaw = field<string>(raw, "ty", "string", at);
  const map: Record<string, ServiceType> = {
    SERVICE: "Service",
    VIRTUAL_OBJECT: "VirtualObject",
    WORKFLOW: "Workflow",
  };
  const ty = tyRaw === undefined ? undefined : map[tyRaw];
  if (ty === undefined)
    throw new ManifestError(
      `${at}.ty: expected SERVICE, VIRTUAL_OBJECT or WORKFLOW, found ${JSON.stringify(tyRaw)}`,
    );
  const handlersRaw = raw["handlers"];
  if (!Array.isArray(handlersRaw)) throw new ManifestError(`${at}.handlers: expected an array`);
  const handlers = handlersRaw.map((h, i) => parseHandler(h, ty, `${at}.handlers[${i}]`));
  const names = new Set<string>();
  for (const h of handlers) {
    if (names.has(h.name)) throw new ManifestError(`${at}: handler '${h.name}' appears twice`);
    names.add(h.name);
  }
  if (
    ty === "Workflow" &&
    handlers.filter((h) => (h.ty ?? "Workflow") === "Workflow").length !== 1
  ) {
    throw new ManifestError(`${at}: a workflow has exactly one WORKFLOW handler`);
  }
  return { name, ty, handlers, ...options(raw, at) };
}

export function parseManifest(raw: unknown): ManifestResult {
  try {
    if (!isObject(raw)) throw new ManifestError("the manifest must be a JSON object");
    const mode = field<string>(raw, "protocolMode", "string", "manifest");
    if (mode === undefined) throw new ManifestError("manifest.protocolMode is missing");
    if (mode !== "BIDI_STREAM" && mode !== "REQUEST_RESPONSE") {
      throw new ManifestError(
        `manifest.protocolMode: expected BIDI_STREAM or REQUEST_RESPONSE, found ${JSON.stringify(mode)}`,
      );
    }
    const min = field<number>(raw, "minProtocolVersion", "number", "manifest");
    const max = field<number>(raw, "maxProtocolVersion", "number", "manifest");
    if (min === undefined || max === undefined)
      throw new ManifestError("manifest.minProtocolVersion and maxProtocolVersion are required");
    if (min > max)
      throw new ManifestError(
        `manifest: minProtocolVersion ${min} is greater than maxProtocolVersion ${max}`,
      );
    if (max < PROTOCOL_VERSION_MIN || min > PROTOCOL_VERSION_MAX) {
      throw new ManifestError(
        `unsupported service protocol versions: the endpoint supports ${min}..${max}, this server supports ${PROTOCOL_VERSION_MIN}..${PROTOCOL_VERSION_MAX}`,
      );
    }
    const servicesRaw = raw["services"];
    if (!Array.isArray(servicesRaw))
      throw new ManifestError("manifest.services: expected an array");
    const services = servicesRaw.map((s, i) => parseService(s, `services[${i}]`));
    const names = new Set<string>();
    for (const s of services) {
      if (names.has(s.name)) throw new ManifestError(`service '${s.name}' appears twice`);
      names.add(s.name);
    }
    return {
      ok: true,
      manifest: {
        protocolMode: mode === "BIDI_STREAM" ? "BidiStream" : "RequestResponse",
        minProtocolVersion: min,
        maxProtocolVersion: max,
        services,
      },
    };
  } catch (error) {
    if (error instanceof ManifestError) return { ok: false, message: error.message };
    throw error;
  }
}
