/**
 * The schema: registered deployments and the services and handlers they expose, with the options
 * that govern invocations (retention, timeouts, retry policy, lazy state, visibility). Stored as one
 * JSON value under `SCHEMA_KEY` in the metadata store; every change bumps its version.
 *
 * Effective option values are resolved at registration (manifest value, else the default), so that
 * readers never apply defaults themselves; operators may override service options later.
 *
 * As in Restate, every deployment keeps the revisions of the services it exposes; a service's
 * active revision (the one new invocations use) is its highest revision in any deployment, so
 * removing the deployment of the active revision falls back to the highest one left.
 */

import { limits } from "../core/index.js";
import type { RegisteredKafkaCluster } from "./kafka_clusters.js";
import type { SubscriptionSchema } from "./subscriptions.js";
import {
  HandlerType as RecordHandlerType,
  ServiceType as RecordServiceType,
  type Target,
} from "../gen/keel/records.js";

export const SCHEMA_KEY = "schema";

export type ServiceType = "Service" | "VirtualObject" | "Workflow";
export type HandlerType = "Exclusive" | "Shared" | "Workflow";
export type OnMaxAttempts = "Pause" | "Kill";

export interface RetryPolicy {
  readonly initialIntervalMs: number;
  readonly exponentiationFactor: number;
  readonly maxAttempts: number;
  readonly maxIntervalMs: number;
  readonly onMaxAttempts: OnMaxAttempts;
}

/** Options a handler may set for its invocations (absent = the service's or the server's default). */
export interface HandlerOptions {
  readonly documentation?: string;
  readonly metadata?: Record<string, string>;
  readonly input?: {
    readonly required?: boolean;
    readonly contentType?: string;
    readonly jsonSchema?: unknown;
  };
  readonly output?: {
    readonly contentType?: string;
    readonly setContentTypeIfEmpty?: boolean;
    readonly jsonSchema?: unknown;
  };
  readonly journalRetentionMs?: number;
  readonly idempotencyRetentionMs?: number;
  readonly workflowCompletionRetentionMs?: number;
  readonly inactivityTimeoutMs?: number;
  readonly abortTimeoutMs?: number;
  readonly enableLazyState?: boolean;
  readonly retryPolicy?: Partial<RetryPolicy>;
}

export interface HandlerSchema extends HandlerOptions {
  readonly name: string;
  /** Absent for handlers of plain services. */
  readonly ty?: HandlerType;
  /** Callable from the ingress: neither the handler nor (unless the handler says so) its service is private. */
  readonly public: boolean;
  /** The handler's own `ingressPrivate` from the manifest, if it set one. */
  readonly ingressPrivate?: boolean;
}

export interface ServiceSchema {
  readonly name: string;
  readonly ty: ServiceType;
  readonly handlers: readonly HandlerSchema[];
  readonly deploymentId: string;
  readonly revision: number;
  readonly public: boolean;
  readonly documentation?: string;
  readonly metadata?: Record<string, string>;
  readonly idempotencyRetentionMs: number;
  readonly journalRetentionMs: number;
  /** Workflows only. */
  readonly workflowCompletionRetentionMs?: number;
  readonly inactivityTimeoutMs: number;
  readonly abortTimeoutMs: number;
  readonly enableLazyState: boolean;
  readonly retryPolicy: RetryPolicy;
}

export type ProtocolType = "BidiStream" | "RequestResponse";

export interface DeploymentSchema {
  readonly id: string;
  readonly uri: string;
  readonly protocolType: ProtocolType;
  readonly useHttp11: boolean;
  readonly additionalHeaders: Record<string, string>;
  readonly metadata: Record<string, string>;
  readonly createdAtMs: number;
  readonly minProtocolVersion: number;
  readonly maxProtocolVersion: number;
  readonly sdkVersion?: string;
  readonly services: readonly { readonly name: string; readonly revision: number }[];
}

export interface Schema {
  readonly deployments: readonly DeploymentSchema[];
  /** Every deployment's revision of every service it exposes (one per deployment and name). */
  readonly services: readonly ServiceSchema[];
  /** Kafka subscriptions (absent in schemas stored before Keel had them). */
  readonly subscriptions?: readonly SubscriptionSchema[];
  /** Kafka clusters registered through the admin API (absent in schemas stored before). */
  readonly kafkaClusters?: readonly RegisteredKafkaCluster[];
}

/** The active revision of each service: its highest revision in any deployment. */
export function activeServices(schema: Schema): ServiceSchema[] {
  const byName = new Map<string, ServiceSchema>();
  for (const service of schema.services) {
    const current = byName.get(service.name);
    if (current === undefined || current.revision < service.revision)
      byName.set(service.name, service);
  }
  return [...byName.values()];
}

export const EMPTY_SCHEMA: Schema = { deployments: [], services: [] };

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  initialIntervalMs: limits.retryInitialIntervalMsDefault,
  exponentiationFactor: limits.retryExponentiationFactorDefault,
  maxAttempts: limits.retryMaxAttemptsDefault,
  maxIntervalMs: limits.retryMaxIntervalMsDefault,
  onMaxAttempts: "Pause",
};

/** Protocol versions this server speaks with endpoints. */
export const PROTOCOL_VERSION_MIN = 5;
export const PROTOCOL_VERSION_MAX = 6;

/** Fast lookups over one schema value. */
export class SchemaIndex {
  /** The active revisions, in registration order. */
  readonly services: readonly ServiceSchema[];
  private readonly servicesByName: ReadonlyMap<string, ServiceSchema>;
  private readonly deploymentsById: ReadonlyMap<string, DeploymentSchema>;
  /** Every revision by deployment id, then service name. */
  private readonly revisions: ReadonlyMap<string, ReadonlyMap<string, ServiceSchema>>;

  constructor(
    readonly schema: Schema,
    readonly version: number,
  ) {
    this.services = activeServices(schema);
    this.servicesByName = new Map(this.services.map((s) => [s.name, s]));
    this.deploymentsById = new Map(schema.deployments.map((d) => [d.id, d]));
    const revisions = new Map<string, Map<string, ServiceSchema>>();
    for (const service of schema.services) {
      let ofDeployment = revisions.get(service.deploymentId);
      if (ofDeployment === undefined) {
        ofDeployment = new Map<string, ServiceSchema>();
        revisions.set(service.deploymentId, ofDeployment);
      }
      ofDeployment.set(service.name, service);
    }
    this.revisions = revisions;
  }

  /** The active revision of a service. */
  service(name: string): ServiceSchema | undefined {
    return this.servicesByName.get(name);
  }

  /** The revisions of the services a deployment exposes. */
  servicesOf(deploymentId: string): ServiceSchema[] {
    return [...(this.revisions.get(deploymentId)?.values() ?? [])];
  }

  /** A handler as a deployment's own revision of its service defines it. */
  handlerIn(
    deploymentId: string,
    service: string,
    handler: string,
  ): { service: ServiceSchema; handler: HandlerSchema } | undefined {
    const svc = this.revisions.get(deploymentId)?.get(service);
    const h = svc?.handlers.find((x) => x.name === handler);
    return svc === undefined || h === undefined ? undefined : { service: svc, handler: h };
  }

  handler(
    service: string,
    handler: string,
  ): { service: ServiceSchema; handler: HandlerSchema } | undefined {
    const svc = this.servicesByName.get(service);
    const h = svc?.handlers.find((x) => x.name === handler);
    return svc === undefined || h === undefined ? undefined : { service: svc, handler: h };
  }

  deployment(id: string): DeploymentSchema | undefined {
    return this.deploymentsById.get(id);
  }
}

/** The handler's effective type: services have none, object handlers default to exclusive. */
export function handlerTypeOf(
  service: ServiceSchema,
  handler: HandlerSchema,
): HandlerType | undefined {
  if (service.ty === "Service") return undefined;
  return handler.ty ?? (service.ty === "Workflow" ? "Workflow" : "Exclusive");
}

/** The durable form of a call's target: what the partition records for `handler` of `service`. */
export function targetOf(service: ServiceSchema, handler: HandlerSchema, key: string): Target {
  const handlerType = handlerTypeOf(service, handler);
  return {
    service: service.name,
    handler: handler.name,
    key: service.ty === "Service" ? "" : key,
    serviceType:
      service.ty === "Service"
        ? RecordServiceType.SERVICE_TYPE_SERVICE
        : service.ty === "VirtualObject"
          ? RecordServiceType.SERVICE_TYPE_VIRTUAL_OBJECT
          : RecordServiceType.SERVICE_TYPE_WORKFLOW,
    handlerType:
      handlerType === undefined
        ? RecordHandlerType.HANDLER_TYPE_UNSPECIFIED
        : handlerType === "Exclusive"
          ? RecordHandlerType.HANDLER_TYPE_EXCLUSIVE
          : handlerType === "Shared"
            ? RecordHandlerType.HANDLER_TYPE_SHARED
            : RecordHandlerType.HANDLER_TYPE_WORKFLOW,
  };
}

export function retryPolicyOf(
  service: ServiceSchema,
  handler: HandlerSchema | undefined,
): RetryPolicy {
  return { ...service.retryPolicy, ...(handler?.retryPolicy ?? {}) };
}

/** Retention of a new invocation's result and journal, per Restate's rules. */
export function retentionOf(
  service: ServiceSchema,
  handler: HandlerSchema,
  idempotent: boolean,
): { completionRetentionMs: number; journalRetentionMs: number } {
  const journalRetentionMs = handler.journalRetentionMs ?? service.journalRetentionMs;
  if (handlerTypeOf(service, handler) === "Workflow") {
    return {
      completionRetentionMs:
        handler.workflowCompletionRetentionMs ??
        service.workflowCompletionRetentionMs ??
        limits.workflowCompletionRetentionMsDefault,
      journalRetentionMs,
    };
  }
  if (idempotent) {
    return {
      completionRetentionMs: handler.idempotencyRetentionMs ?? service.idempotencyRetentionMs,
      journalRetentionMs,
    };
  }
  return { completionRetentionMs: journalRetentionMs, journalRetentionMs };
}
