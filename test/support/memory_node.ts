/**
 * A whole Keel node in one process with in-memory ports (memory loglets, memory stores, memory
 * metadata, a manual clock) and a fake SDK endpoint: fast, deterministic tests of the runtime.
 */

import type { InvocationTracing, KeelMetrics } from "../../src/observability/index.js";
import { MemoryLogletProvider } from "../../src/bifrost/memory_loglet.js";
import { MemoryMetadataStore } from "../../src/metadata/memory_store.js";
import { ManualClock, counterEntropy } from "../../src/platform/memory_ports.js";
import { MemoryStore } from "../../src/partition-store/memory_store.js";
import { KeelNode } from "../../src/node/node.js";
import { NO_LOG, type Logger } from "../../src/platform/ports.js";
import { utf8 } from "../../src/core/bytes.js";
import type { ServiceInvocation, Target } from "../../src/gen/keel/records.js";
import { freshInvocationId, type InvocationId } from "../../src/core/ids.js";
import { targetRefOf } from "../../src/partition/lifecycle.js";
import {
  DEFAULT_RETRY_POLICY,
  type DeploymentSchema,
  type Schema,
} from "../../src/schema/schema.js";
import type { FakeEndpoint } from "./fake_endpoint.js";

export const T0 = 1_800_000_000_000;

export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

export async function memoryNode(
  endpoint: FakeEndpoint,
  options: {
    partitions?: number;
    concurrencyMax?: number;
    backgroundStartingMax?: number;
    /** Where a broken invariant goes (default: thrown, failing the test). */
    onFatal?: (error: unknown) => void;
    logger?: Logger;
    metrics?: KeelMetrics;
    tracing?: InvocationTracing;
  } = {},
) {
  const clock = new ManualClock(T0);
  const metadata = new MemoryMetadataStore();
  const loglets = new MemoryLogletProvider();
  const stores: MemoryStore[] = [];
  const node = new KeelNode(
    {
      nodeName: "n1",
      partitions: options.partitions ?? 4,
      clusterName: "test",
      ...(options.concurrencyMax === undefined
        ? {}
        : { invokerConcurrencyMax: options.concurrencyMax }),
      ...(options.backgroundStartingMax === undefined
        ? {}
        : { invokerBackgroundStartingMax: options.backgroundStartingMax }),
    },
    {
      metadata,
      loglets: new Map([[loglets.name, loglets]]),
      initialLoglet: () => ({ provider: loglets.name, params: "{}" }),
      openPartitionStore: () => {
        const store = new MemoryStore();
        stores.push(store);
        return store;
      },
      transport: endpoint,
      clock,
      entropy: counterEntropy(),
      logger: options.logger ?? NO_LOG,
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
      ...(options.tracing === undefined ? {} : { tracing: options.tracing }),
      onFatal:
        options.onFatal ??
        ((error) => {
          throw error;
        }),
    },
  );
  await node.start();
  return { node, clock, metadata, loglets, stores };
}

/** A protocol v5–v6 h2 deployment created at T0, serving revision 1 of `services`. */
export function fakeDeployment(
  id: string,
  uri: string,
  services: readonly string[],
): DeploymentSchema {
  return {
    id,
    uri,
    protocolType: "BidiStream",
    useHttp11: false,
    additionalHeaders: {},
    metadata: {},
    createdAtMs: T0,
    minProtocolVersion: 5,
    maxProtocolVersion: 6,
    services: services.map((name) => ({ name, revision: 1 })),
  };
}

/** An ingress call of `target` with the argument `"x"`, waiting for its result. */
export function ingressInvocation(
  target: Target,
  uuid: Uint8Array,
  retention: { completionRetentionMs: number; journalRetentionMs: number },
): { id: InvocationId; invocation: ServiceInvocation } {
  const id = freshInvocationId(targetRefOf(target), uuid);
  return {
    id,
    invocation: {
      invocationId: id.bytes,
      target,
      argument: utf8('"x"'),
      headers: [],
      source: { kind: { $case: "ingress", value: {} } },
      responseSink: undefined,
      traceParent: "",
      idempotencyKey: undefined,
      executionTimeMs: 0,
      ...retention,
      wantsResult: true,
    },
  };
}

/** A schema with one plain service `Svc` (handlers `h`, `slow`) on a fake deployment. */
export function testSchema(
  retry: Partial<typeof DEFAULT_RETRY_POLICY> = {},
  timeouts: { inactivityTimeoutMs?: number; abortTimeoutMs?: number } = {},
): Schema {
  return {
    deployments: [fakeDeployment("dp_1fake000000000000000000", "http://fake/", ["Svc"])],
    services: [
      {
        name: "Svc",
        ty: "Service",
        handlers: [
          {
            name: "h",
            public: true,
            input: { contentType: "application/json" },
            output: { contentType: "application/json" },
          },
        ],
        deploymentId: "dp_1fake000000000000000000",
        revision: 1,
        public: true,
        idempotencyRetentionMs: 86_400_000,
        journalRetentionMs: 86_400_000,
        inactivityTimeoutMs: timeouts.inactivityTimeoutMs ?? 60_000,
        abortTimeoutMs: timeouts.abortTimeoutMs ?? 600_000,
        enableLazyState: false,
        retryPolicy: { ...DEFAULT_RETRY_POLICY, ...retry },
      },
    ],
  };
}
