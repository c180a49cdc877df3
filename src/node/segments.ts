/**
 * A new segment of a partition's log in a cluster: a replicated loglet on the registered log
 * servers, its nodeset chosen for the cluster's replication and the servers' locations, sequenced by
 * the incarnation that asks (a sequencer lives only on the incarnation its segment names).
 */

import { KeelError, NodeId, type GenerationalNodeId, type Prng } from "../core/index.js";
import {
  formatLogletParams,
  logletIdOf,
  nodesetSizeFor,
  selectNodeset,
  type LogletConfig,
  type ReplicationProperty,
  type Topology,
} from "../bifrost/index.js";
import type { NodeRecord } from "../metadata-server/index.js";

export interface SegmentRequest {
  readonly logId: number;
  readonly segmentIndex: number;
  /** The nodes configuration as last read. */
  readonly nodes: readonly NodeRecord[];
  readonly sequencer: GenerationalNodeId;
  readonly replication: ReplicationProperty;
  readonly topology: Topology;
}

function logServersOf(nodes: readonly NodeRecord[]): NodeId[] {
  return nodes.filter((n) => n.roles.includes("log-server")).map((n) => NodeId(n.plainId));
}

/**
 * The size a new segment's nodeset gets from the log servers registered now: as wide as the
 * replication wants (room to lose a server and still seal), at most every log server.
 */
export function nodesetTargetSize(
  nodes: readonly NodeRecord[],
  replication: ReplicationProperty,
): number {
  return Math.min(nodesetSizeFor(replication, 0), logServersOf(nodes).length);
}

/** Throws a retryable "unavailable" error while too few log servers are registered. */
export function replicatedSegment(request: SegmentRequest, prng: Prng): LogletConfig {
  const logServers = logServersOf(request.nodes);
  const chosen = selectNodeset(
    {
      candidates: logServers,
      property: request.replication,
      topology: request.topology,
      targetSize: 0,
    },
    prng,
  );
  if (!chosen.ok)
    throw new KeelError(
      "unavailable",
      `log ${request.logId}: ${chosen.reason}; waiting for more log servers to join`,
      true,
    );
  return {
    provider: "replicated",
    params: formatLogletParams({
      logletId: logletIdOf(request.logId, request.segmentIndex),
      sequencer: request.sequencer,
      nodeset: chosen.nodeset,
      replication: request.replication,
    }),
  };
}
