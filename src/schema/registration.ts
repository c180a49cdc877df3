/**
 * Registering a deployment: turning a discovered manifest into schema changes, with Restate's rules.
 * - A new endpoint (URI and additional headers) creates a deployment (201); each of its services gets
 *   a revision one above the service's active revision and becomes the target of new invocations
 *   (in-flight ones stay pinned to their deployment). Older deployments keep their revisions.
 * - The same endpoint again answers "unchanged" (200) and changes nothing, whatever it now serves.
 * - The same endpoint with `force` overwrites that deployment in place (same id, 200), with new
 *   revisions for all its services, even when nothing changed.
 * - Changing a service's type is a breaking change: it needs `breaking` or `force`.
 * - Names starting with `restate` or equal to `openapi` are reserved, and a private service may not
 *   declare a handler public.
 */

import type { EndpointManifest, ManifestHandler, ManifestService } from "./manifest.js";
import {
  DEFAULT_RETRY_POLICY,
  activeServices,
  type DeploymentSchema,
  type HandlerSchema,
  type Schema,
  type ServiceSchema,
} from "./schema.js";
import { limits, presentFields } from "../core/index.js";

/**
 * The server's timeouts for services whose manifest sets none (Restate's
 * `worker.invoker.inactivity-timeout` and `abort-timeout`), taken at registration.
 */
export interface TimeoutDefaults {
  readonly inactivityTimeoutMs: number;
  readonly abortTimeoutMs: number;
}

const LIMIT_TIMEOUTS: TimeoutDefaults = {
  inactivityTimeoutMs: limits.inactivityTimeoutMsDefault,
  abortTimeoutMs: limits.abortTimeoutMsDefault,
};

export interface RegistrationRequest {
  readonly uri: string;
  readonly useHttp11: boolean;
  readonly additionalHeaders: Record<string, string>;
  readonly metadata: Record<string, string>;
  readonly force: boolean;
  readonly breaking: boolean;
  readonly manifest: EndpointManifest;
  readonly sdkVersion: string | undefined;
  readonly nowMs: number;
  /** The id to give the deployment if it is new. */
  readonly newDeploymentId: string;
  readonly timeoutDefaults?: TimeoutDefaults | undefined;
}

export type RegistrationResult =
  | {
      readonly kind: "created" | "unchanged" | "overwritten";
      readonly schema: Schema;
      readonly deployment: DeploymentSchema;
      readonly services: readonly ServiceSchema[];
    }
  | {
      readonly kind: "rejected";
      readonly status: number;
      readonly message: string;
      readonly restateCode: string | null;
    };

function handlerOf(h: ManifestHandler, service: ManifestService): HandlerSchema {
  const isPrivate = h.ingressPrivate ?? service.ingressPrivate ?? false;
  const out: Record<string, unknown> = { name: h.name };
  if (h.ty !== undefined) out["ty"] = h.ty;
  out["public"] = !isPrivate;
  if (h.ingressPrivate !== undefined) out["ingressPrivate"] = h.ingressPrivate;
  for (const key of [
    "documentation",
    "metadata",
    "input",
    "output",
    "journalRetentionMs",
    "idempotencyRetentionMs",
    "workflowCompletionRetentionMs",
    "inactivityTimeoutMs",
    "abortTimeoutMs",
    "enableLazyState",
    "retryPolicy",
  ] as const) {
    if (h[key] !== undefined) out[key] = h[key];
  }
  return out as unknown as HandlerSchema;
}

function serviceOf(
  s: ManifestService,
  deploymentId: string,
  revision: number,
  timeouts: TimeoutDefaults = LIMIT_TIMEOUTS,
): ServiceSchema {
  const workflowHandler =
    s.ty === "Workflow" ? s.handlers.find((h) => (h.ty ?? "Workflow") === "Workflow") : undefined;
  return {
    name: s.name,
    ty: s.ty,
    handlers: s.handlers.map((h) => handlerOf(h, s)),
    deploymentId,
    revision,
    public: !(s.ingressPrivate ?? false),
    ...(s.documentation === undefined ? {} : { documentation: s.documentation }),
    ...(s.metadata === undefined ? {} : { metadata: s.metadata }),
    idempotencyRetentionMs: s.idempotencyRetentionMs ?? limits.idempotencyRetentionMsDefault,
    journalRetentionMs: s.journalRetentionMs ?? limits.journalRetentionMsDefault,
    ...(s.ty === "Workflow"
      ? {
          workflowCompletionRetentionMs:
            workflowHandler?.workflowCompletionRetentionMs ??
            limits.workflowCompletionRetentionMsDefault,
        }
      : {}),
    inactivityTimeoutMs: s.inactivityTimeoutMs ?? timeouts.inactivityTimeoutMs,
    abortTimeoutMs: s.abortTimeoutMs ?? timeouts.abortTimeoutMs,
    enableLazyState: s.enableLazyState ?? false,
    retryPolicy: { ...DEFAULT_RETRY_POLICY, ...(s.retryPolicy ?? {}) },
  };
}

/** A service's name, type and handlers (with their types), in a comparable form. */
function shape(service: ServiceSchema): string {
  const handlers = service.handlers.map((h) => `${h.name}:${h.ty ?? ""}`).sort();
  return JSON.stringify([service.name, service.ty, handlers]);
}

/**
 * Whether two endpoint URIs name one deployment, as Restate decides it: the same authority and path.
 * The scheme and the additional headers do not count (Restate's `deployment_routing_headers`, which
 * would make some headers count, is empty by default and not offered); counting the headers once
 * made a second deployment of an endpoint registered again with other headers.
 */
function sameEndpoint(a: string, b: string): boolean {
  const endpoint = (uri: string): string => {
    try {
      const url = new URL(uri);
      return `${url.username}:${url.password}@${url.host}${url.pathname}`;
    } catch {
      return uri;
    }
  };
  return endpoint(a) === endpoint(b);
}

/** The deployment registered for an endpoint (the newest, should several share it). */
export function findDeployment(schema: Schema, uri: string): DeploymentSchema | undefined {
  let found: DeploymentSchema | undefined;
  for (const d of schema.deployments) {
    if (!sameEndpoint(d.uri, uri)) continue;
    if (found === undefined || d.createdAtMs >= found.createdAtMs) found = d;
  }
  return found;
}

/** The revisions a deployment exposes, in its own order. */
export function servicesOfDeployment(schema: Schema, deploymentId: string): ServiceSchema[] {
  return schema.services.filter((s) => s.deploymentId === deploymentId);
}

export function registerDeployment(
  schema: Schema,
  request: RegistrationRequest,
): RegistrationResult {
  const existing = findDeployment(schema, request.uri);
  if (existing !== undefined && !request.force) {
    return {
      kind: "unchanged",
      schema,
      deployment: existing,
      services: servicesOfDeployment(schema, existing.id),
    };
  }
  const deploymentId = existing?.id ?? request.newDeploymentId;
  const active = new Map(activeServices(schema).map((s) => [s.name, s]));
  const candidates = request.manifest.services.map((m) =>
    serviceOf(m, deploymentId, (active.get(m.name)?.revision ?? 0) + 1, request.timeoutDefaults),
  );

  const problem = serviceProblem(request, active);
  if (problem !== undefined) return problem;

  const deployment: DeploymentSchema = {
    id: deploymentId,
    uri: request.uri,
    protocolType: request.manifest.protocolMode,
    useHttp11: request.useHttp11,
    additionalHeaders: request.additionalHeaders,
    metadata: request.metadata,
    // As in Restate, an overwritten deployment counts as created now.
    createdAtMs: request.nowMs,
    minProtocolVersion: request.manifest.minProtocolVersion,
    maxProtocolVersion: request.manifest.maxProtocolVersion,
    ...(request.sdkVersion === undefined ? {} : { sdkVersion: request.sdkVersion }),
    services: candidates.map((s) => ({ name: s.name, revision: s.revision })),
  };
  return {
    kind: existing === undefined ? "created" : "overwritten",
    schema: {
      deployments: [...schema.deployments.filter((d) => d.id !== deploymentId), deployment],
      services: [...schema.services.filter((s) => s.deploymentId !== deploymentId), ...candidates],
    },
    deployment,
    services: candidates,
  };
}

/** Why Restate would refuse the manifest's services, checked in Restate's order. */
function serviceProblem(
  request: RegistrationRequest,
  active: ReadonlyMap<string, ServiceSchema>,
): Extract<RegistrationResult, { kind: "rejected" }> | undefined {
  const reserved = request.manifest.services.find(
    (s) => s.name.toLowerCase().startsWith("restate") || s.name.toLowerCase() === "openapi",
  );
  if (reserved !== undefined) {
    return {
      kind: "rejected",
      status: 400,
      message: `[META0005] cannot insert/modify service '${reserved.name}' as it contains a reserved name`,
      restateCode: "META0005",
    };
  }
  for (const service of request.manifest.services) {
    const previous = active.get(service.name);
    if (
      !request.force &&
      !request.breaking &&
      previous !== undefined &&
      previous.ty !== service.ty
    ) {
      return {
        kind: "rejected",
        status: 409,
        message: `[META0006] detected a new service revision for '${service.name}' changing the service type from previous revision. Service type cannot be changed across revisions.`,
        restateCode: "META0006",
      };
    }
    const open = service.handlers.find((h) => h.ingressPrivate === false);
    if (service.ingressPrivate === true && open !== undefined) {
      return {
        kind: "rejected",
        status: 400,
        message: `The service ${service.name} is private, but the ${open.name} is explicitly set as public. This is not supported. Please make the service public, and hide the individual handlers`,
        restateCode: null,
      };
    }
  }
  return undefined;
}

/**
 * Removes a deployment and its revisions. A service whose active revision it held falls back to
 * its highest revision left in another deployment, or disappears if there is none.
 */
export function removeDeployment(schema: Schema, deploymentId: string): Schema | undefined {
  if (!schema.deployments.some((d) => d.id === deploymentId)) return undefined;
  return {
    deployments: schema.deployments.filter((d) => d.id !== deploymentId),
    services: schema.services.filter((s) => s.deploymentId !== deploymentId),
  };
}

export interface DeploymentUpdate {
  readonly uri: string;
  readonly useHttp11: boolean;
  readonly additionalHeaders: Record<string, string>;
  readonly manifest: EndpointManifest;
  readonly sdkVersion: string | undefined;
  /** Replace the deployment's services with the manifest's (else they must not change). */
  readonly overwrite: boolean;
  readonly timeoutDefaults?: TimeoutDefaults | undefined;
}

/**
 * Points a deployment at a new address or headers (`PATCH /deployments/{id}`), keeping its id. Its
 * services may only change with `overwrite`, which applies them like a forced registration.
 */
export function updateDeployment(
  schema: Schema,
  deploymentId: string,
  update: DeploymentUpdate,
): RegistrationResult | undefined {
  const existing = schema.deployments.find((d) => d.id === deploymentId);
  if (existing === undefined) return undefined;
  const clash = schema.deployments.find((d) => d.uri === update.uri && d.id !== deploymentId);
  if (clash !== undefined) {
    return {
      kind: "rejected",
      status: 409,
      message: `The deployment ${clash.id} already uses the URI ${update.uri}`,
      restateCode: "META0006",
    };
  }
  const current = servicesOfDeployment(schema, deploymentId);
  const previousByName = new Map(current.map((s) => [s.name, s]));
  const candidates = update.manifest.services.map((m) =>
    serviceOf(m, deploymentId, previousByName.get(m.name)?.revision ?? 1, update.timeoutDefaults),
  );
  // Operators may have changed service options since: only the services' shapes must match.
  const same =
    current.length === candidates.length &&
    candidates.every((c) => {
      const now = previousByName.get(c.name);
      return now !== undefined && shape(now) === shape(c);
    });
  if (!same && !update.overwrite) {
    return {
      kind: "rejected",
      status: 409,
      message: `The endpoint at ${update.uri} exposes different services than deployment ${deploymentId}; use 'overwrite' to replace them`,
      restateCode: "META0006",
    };
  }
  const moved: DeploymentSchema = {
    ...existing,
    uri: update.uri,
    protocolType: update.manifest.protocolMode,
    useHttp11: update.useHttp11,
    additionalHeaders: update.additionalHeaders,
    minProtocolVersion: update.manifest.minProtocolVersion,
    maxProtocolVersion: update.manifest.maxProtocolVersion,
    ...(update.sdkVersion === undefined ? {} : { sdkVersion: update.sdkVersion }),
  };
  const deployments = schema.deployments.map((d) => (d.id === deploymentId ? moved : d));
  if (same) {
    return {
      kind: "overwritten",
      schema: { deployments, services: schema.services },
      deployment: moved,
      services: current,
    };
  }
  // Overwriting replaces the deployment's revisions, keeping the revision number of each service
  // it already exposed.
  const replacedDeployment: DeploymentSchema = {
    ...moved,
    services: candidates.map((c) => ({ name: c.name, revision: c.revision })),
  };
  return {
    kind: "overwritten",
    schema: {
      deployments: schema.deployments.map((d) => (d.id === deploymentId ? replacedDeployment : d)),
      services: [...schema.services.filter((s) => s.deploymentId !== deploymentId), ...candidates],
    },
    deployment: replacedDeployment,
    services: candidates,
  };
}

/** The options an operator may change on a service (`PATCH /services/{name}`). */
export interface ServiceOptionsChange {
  readonly public?: boolean | undefined;
  readonly idempotencyRetentionMs?: number | undefined;
  readonly workflowCompletionRetentionMs?: number | undefined;
  readonly journalRetentionMs?: number | undefined;
  readonly inactivityTimeoutMs?: number | undefined;
  readonly abortTimeoutMs?: number | undefined;
}

/** Applies an options change to one service; a string explains why it cannot apply. */
export function modifyService(
  schema: Schema,
  name: string,
  change: ServiceOptionsChange,
): { schema: Schema; service: ServiceSchema } | string | undefined {
  const service = activeServices(schema).find((s) => s.name === name);
  if (service === undefined) return undefined;
  if (change.workflowCompletionRetentionMs !== undefined && service.ty !== "Workflow")
    return "workflow_completion_retention can be set only on workflows";
  const changed: ServiceSchema = {
    ...service,
    ...presentFields({
      public: change.public,
      idempotencyRetentionMs: change.idempotencyRetentionMs,
      workflowCompletionRetentionMs: change.workflowCompletionRetentionMs,
      journalRetentionMs: change.journalRetentionMs,
      inactivityTimeoutMs: change.inactivityTimeoutMs,
      abortTimeoutMs: change.abortTimeoutMs,
    }),
  };
  return {
    schema: { ...schema, services: schema.services.map((s) => (s === service ? changed : s)) },
    service: changed,
  };
}
