/**
 * What the next attempt of an invocation sends, from the partition's store and the schema: the
 * deployment and service revision it runs on (its pinned deployment's own revision, else the active
 * one), the protocol version both sides speak, the journal to replay, the eager state (as much as
 * fits, in key order), the Start message, the request's path and headers. Pure: the invoker drives
 * the attempt, this only plans it.
 */

import { InvocationId, limits, readU32BE } from "../core/index.js";
import type { InvocationStatus, PinnedDeployment, Target } from "../gen/keel/records.js";
import type { StartMessage } from "../gen/keel/service_protocol.js";
import { isKeyed, objectOf } from "../partition/index.js";
import type { TableReader } from "../partition-store/index.js";
import { PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN, type SchemaIndex } from "../schema/index.js";
import type { AttemptFailure, AttemptSetup } from "./invocation_attempt.js";

/**
 * The longest `x-restate-service-key` header sent (the key, percent-encoded). The SDK reads the key
 * from the Start message; the header only informs proxies. A header near 64 KiB passes Node's HTTP/2
 * server's default limit on a header list (65,535 bytes) and the SDK refuses the stream: every
 * attempt would fail. Restate sends the header whatever its size, and such invocations never run.
 */
const SERVICE_KEY_HEADER_BYTES_MAX = 16 * 1024;

/** The attempt's progress as the invoker counts it (retries and time since the journal grew). */
export interface AttemptProgress {
  readonly retriesSinceProgress: number;
  readonly lastProgressAtMs: number;
}

export type AttemptPlan =
  | { readonly kind: "failed"; readonly failure: AttemptFailure }
  | {
      readonly kind: "start";
      /** Everything the attempt needs but its call resolution and test switches. */
      readonly setup: Omit<AttemptSetup, "resolveCall" | "testOnlyFaults">;
      /** The deployment the invocation runs on (and is pinned to by this attempt, if not yet). */
      readonly pinned: PinnedDeployment;
      readonly pinNeeded: boolean;
    };

export function planAttempt(
  id: InvocationId,
  status: InvocationStatus,
  tables: TableReader,
  schema: SchemaIndex,
  progress: AttemptProgress,
  nowMs: number,
  clusterName: string,
): AttemptPlan {
  const target: Target = status.target!;
  const pinnedTo = status.pinned?.deploymentId;
  // A pinned invocation runs on its deployment's own revision of the service.
  const resolved =
    (pinnedTo === undefined
      ? undefined
      : schema.handlerIn(pinnedTo, target.service, target.handler)) ??
    schema.handler(target.service, target.handler);
  const deploymentId = pinnedTo ?? resolved?.service.deploymentId;
  const deployment = deploymentId === undefined ? undefined : schema.deployment(deploymentId);
  if (resolved === undefined || deployment === undefined) {
    return {
      kind: "failed",
      failure: {
        code: 404,
        errorCode: "RT0011",
        message:
          resolved === undefined
            ? `the handler ${target.service}/${target.handler} is not registered`
            : `the deployment ${deploymentId ?? "?"} of ${target.service} is not registered`,
      },
    };
  }
  const { service, handler } = resolved;
  const protocolVersion =
    status.pinned?.protocolVersion ?? Math.min(deployment.maxProtocolVersion, PROTOCOL_VERSION_MAX);
  if (protocolVersion < Math.max(deployment.minProtocolVersion, PROTOCOL_VERSION_MIN)) {
    return {
      kind: "failed",
      failure: {
        code: 415,
        errorCode: "RT0013",
        message: `no common service protocol version with deployment ${deployment.id}`,
      },
    };
  }
  const journal = tables.journal(id, status.journalLength);
  const lazy = handler.enableLazyState ?? service.enableLazyState;
  let partialState = !isKeyed(target) || lazy;
  const stateMap: StartMessage["stateMap"] = [];
  if (!partialState) {
    // As much as fits, in key order (as Restate sends it); the SDK reads the rest lazily.
    let bytes = 0;
    for (const entry of tables.stateEntries(objectOf(target))) {
      bytes += entry.key.length + entry.value.length;
      if (bytes > limits.eagerStateBytesMax) {
        partialState = true;
        break;
      }
      stateMap.push(entry);
    }
  }
  const start: StartMessage = {
    id: id.bytes,
    debugId: id.toString(),
    knownEntries: journal.length,
    stateMap,
    partialState,
    key: target.key,
    retryCountSinceLastStoredEntry: progress.retriesSinceProgress,
    durationSinceLastStoredEntry: Math.max(0, nowMs - progress.lastProgressAtMs),
    randomSeed:
      protocolVersion >= 6
        ? seedOf(
            status.randomSeedFrom.length > 0 ? InvocationId.fromBytes(status.randomSeedFrom) : id,
          )
        : 0,
  };
  const type = `application/vnd.restate.invocation.v${protocolVersion}`;
  const headers: Record<string, string> = {
    ...deployment.additionalHeaders,
    "content-type": type,
    accept: type,
    "x-restate-invocation-id": id.toString(),
    "x-restate-cluster-name": clusterName,
  };
  const keyHeader = isKeyed(target) ? encodeURIComponent(target.key) : undefined;
  if (keyHeader !== undefined && keyHeader.length <= SERVICE_KEY_HEADER_BYTES_MAX)
    headers["x-restate-service-key"] = keyHeader;
  const base = new URL(deployment.uri);
  const prefix = base.pathname.endsWith("/") ? base.pathname.slice(0, -1) : base.pathname;
  return {
    kind: "start",
    setup: {
      uri: deployment.uri,
      useHttp11: deployment.useHttp11,
      requestResponse: deployment.protocolType === "RequestResponse",
      path: `${prefix}/invoke/${encodeURIComponent(target.service)}/${encodeURIComponent(target.handler)}`,
      headers,
      protocolVersion,
      start,
      target,
      journal,
      nextCommandIndex: status.commandCount,
      inactivityTimeoutMs: handler.inactivityTimeoutMs ?? service.inactivityTimeoutMs,
      abortTimeoutMs: handler.abortTimeoutMs ?? service.abortTimeoutMs,
    },
    pinned: { deploymentId: deployment.id, protocolVersion, server: "" },
    pinNeeded: status.pinned === undefined,
  };
}

/** A stable per-invocation seed for the SDK's deterministic random, below 2^53. */
function seedOf(id: InvocationId): number {
  const uuid = id.uuid;
  return readU32BE(uuid, 0) * 2 ** 21 + (readU32BE(uuid, 4) >>> 11);
}
