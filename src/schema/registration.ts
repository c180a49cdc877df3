/**
 * Registering a deployment: turning a discovered manifest into schema changes, with Restate's rules.
 * - A new endpoint URI creates a deployment (201); each of its services gets revision = previous + 1
 *   and becomes the target of new invocations (in-flight ones stay pinned to their deployment).
 * - The same URI with the same services answers "unchanged" (200) and changes nothing.
 * - The same URI with different services needs `force`, which overwrites it in place (same id).
 * - Changing a service's type, or removing handlers, is a breaking change: it needs `breaking` or
 *   `force`.
 */

import type { EndpointManifest, ManifestHandler, ManifestService } from "./manifest.js";
import {
  DEFAULT_RETRY_POLICY,
  type DeploymentSchema,
  type HandlerSchema,
  type Schema,
  type ServiceSchema,
} from "./schema.js";
import { limits } from "../core/limits.js";

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
  | { readonly kind: "rejected"; readonly status: number; readonly message: string };

function handlerOf(h: ManifestHandler, service: ManifestService): HandlerSchema {
  const isPrivate = h.ingressPrivate ?? service.ingressPrivate ?? false;
  const out: Record<string, unknown> = { name: h.name };
  if (h.ty !== undefined) out["ty"] = h.ty;
  out["public"] = !isPrivate;
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

/** What makes two registrations of a service the same, ignoring ids and revisions. */
function definition(service: ServiceSchema): string {
  const { deploymentId: _d, revision: _r, ...rest } = service;
  return JSON.stringify(rest);
}

/** A service's name, type and handlers (with their types), in a comparable form. */
function shape(service: ServiceSchema): string {
  const handlers = service.handlers.map((h) => `${h.name}:${h.ty ?? ""}`).sort();
  return JSON.stringify([service.name, service.ty, handlers]);
}

function breakingChange(previous: ServiceSchema, next: ServiceSchema): string | undefined {
  if (previous.ty !== next.ty) {
    return `the service '${next.name}' changes type from ${previous.ty} to ${next.ty}`;
  }
  const removed = previous.handlers
    .filter((h) => !next.handlers.some((n) => n.name === h.name))
    .map((h) => h.name);
  if (removed.length > 0)
    return `the service '${next.name}' removes handlers ${removed.join(", ")}`;
  return undefined;
}

export function registerDeployment(
  schema: Schema,
  request: RegistrationRequest,
): RegistrationResult {
  const existing = schema.deployments.find((d) => d.uri === request.uri);
  const deploymentId = existing?.id ?? request.newDeploymentId;
  const previousByName = new Map(schema.services.map((s) => [s.name, s]));
  const candidates = request.manifest.services.map((m) =>
    serviceOf(
      m,
      deploymentId,
      (previousByName.get(m.name)?.revision ?? 0) + 1,
      request.timeoutDefaults,
    ),
  );

  if (existing !== undefined) {
    const current = existing.services.map((ref) => previousByName.get(ref.name));
    const unchanged =
      current.length === candidates.length &&
      candidates.every((c) => {
        const now = previousByName.get(c.name);
        return (
          now !== undefined && now.deploymentId === existing.id && definition(now) === definition(c)
        );
      });
    if (unchanged) {
      return {
        kind: "unchanged",
        schema,
        deployment: existing,
        services: current.filter((s): s is ServiceSchema => s !== undefined),
      };
    }
    if (!request.force) {
      return {
        kind: "rejected",
        status: 409,
        message: `A deployment with the same URI ${request.uri} already exists with id ${existing.id} and different services. Use 'force' to overwrite it.`,
      };
    }
  }

  if (!request.force && !request.breaking) {
    for (const candidate of candidates) {
      const previous = previousByName.get(candidate.name);
      const reason = previous === undefined ? undefined : breakingChange(previous, candidate);
      if (reason !== undefined) {
        return {
          kind: "rejected",
          status: 409,
          message: `${reason}; this is a breaking change, use 'breaking' or 'force' to register it.`,
        };
      }
    }
  }

  const deployment: DeploymentSchema = {
    id: deploymentId,
    uri: request.uri,
    protocolType: request.manifest.protocolMode,
    useHttp11: request.useHttp11,
    additionalHeaders: request.additionalHeaders,
    metadata: request.metadata,
    createdAtMs: existing?.createdAtMs ?? request.nowMs,
    minProtocolVersion: request.manifest.minProtocolVersion,
    maxProtocolVersion: request.manifest.maxProtocolVersion,
    ...(request.sdkVersion === undefined ? {} : { sdkVersion: request.sdkVersion }),
    services: candidates.map((s) => ({ name: s.name, revision: s.revision })),
  };
  const candidateNames = new Set(candidates.map((s) => s.name));
  // Services the overwritten deployment no longer exposes disappear; others keep their deployment.
  const keptServices = schema.services.filter(
    (s) =>
      !candidateNames.has(s.name) && !(existing !== undefined && s.deploymentId === existing.id),
  );
  const services = [...keptServices, ...candidates];
  const deployments = [
    ...schema.deployments
      .filter((d) => d.id !== deploymentId)
      .map((d) => ({ ...d, services: d.services.filter((ref) => !candidateNames.has(ref.name)) })),
    deployment,
  ];
  return {
    kind: existing === undefined ? "created" : "overwritten",
    schema: { deployments, services },
    deployment,
    services: candidates,
  };
}

/** Removes a deployment. Its services disappear unless another deployment still provides them. */
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
    };
  }
  const previousByName = new Map(schema.services.map((s) => [s.name, s]));
  const candidates = update.manifest.services.map((m) =>
    serviceOf(m, deploymentId, previousByName.get(m.name)?.revision ?? 0, update.timeoutDefaults),
  );
  const current = existing.services.map((ref) => previousByName.get(ref.name));
  // Operators may have changed service options since: only the services' shapes must match.
  const same =
    current.length === candidates.length &&
    candidates.every((c) => {
      const now = previousByName.get(c.name);
      return now !== undefined && now.deploymentId === deploymentId && shape(now) === shape(c);
    });
  if (!same && !update.overwrite) {
    return {
      kind: "rejected",
      status: 409,
      message: `The endpoint at ${update.uri} exposes different services than deployment ${deploymentId}; use 'overwrite' to replace them`,
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
  if (same) {
    return {
      kind: "overwritten",
      schema: {
        deployments: schema.deployments.map((d) => (d.id === deploymentId ? moved : d)),
        services: schema.services,
      },
      deployment: moved,
      services: current.filter((s): s is ServiceSchema => s !== undefined),
    };
  }
  const replaced = registerDeployment(
    { ...schema, deployments: schema.deployments.map((d) => (d.id === deploymentId ? moved : d)) },
    {
      uri: update.uri,
      useHttp11: update.useHttp11,
      additionalHeaders: update.additionalHeaders,
      metadata: existing.metadata,
      force: true,
      breaking: true,
      manifest: update.manifest,
      sdkVersion: update.sdkVersion,
      nowMs: existing.createdAtMs,
      newDeploymentId: deploymentId,
    },
  );
  return replaced;
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
  const service = schema.services.find((s) => s.name === name);
  if (service === undefined) return undefined;
  if (change.workflowCompletionRetentionMs !== undefined && service.ty !== "Workflow")
    return "workflow_completion_retention can be set only on workflows";
  const changed: ServiceSchema = {
    ...service,
    ...(change.public === undefined ? {} : { public: change.public }),
    ...(change.idempotencyRetentionMs === undefined
      ? {}
      : { idempotencyRetentionMs: change.idempotencyRetentionMs }),
    ...(change.workflowCompletionRetentionMs === undefined
      ? {}
      : { workflowCompletionRetentionMs: change.workflowCompletionRetentionMs }),
    ...(change.journalRetentionMs === undefined
      ? {}
      : { journalRetentionMs: change.journalRetentionMs }),
    ...(change.inactivityTimeoutMs === undefined
      ? {}
      : { inactivityTimeoutMs: change.inactivityTimeoutMs }),
    ...(change.abortTimeoutMs === undefined ? {} : { abortTimeoutMs: change.abortTimeoutMs }),
  };
  return {
    schema: { ...schema, services: schema.services.map((s) => (s.name === name ? changed : s)) },
    service: changed,
  };
}
