/**
 * Provisioning a metadata cluster and registering nodes in it.
 *
 * - Provisioning happens exactly once per cluster: one node (started with an auto-provision flag, or
 *   told by `keel provision`) writes the initial Raft state: a snapshot at index 1 whose membership
 *   is that node alone and whose state holds the initial nodes configuration. Provisioning two nodes
 *   independently would make two clusters; the operator's docs say so, the code cannot know.
 * - Every other metadata-server node joins by name: it registers in the nodes configuration
 *   (getting a plain id, which is also its Raft member id), then asks the leader to add it (as a
 *   learner, then a voter once caught up), one server at a time.
 * - Every start of a node bumps its generation in the nodes configuration (read-modify-write with
 *   compare-and-swap), so that a restarted node is told apart from its previous incarnation.
 *
 * The nodes configuration here is the metadata store's view of nodes (name, plain id, generation,
 * address, roles); the cluster controller's richer model can extend the same JSON value.
 */

import { KeelError, assert, fromUtf8, utf8, Version } from "../core/index.js";
import { bootstrapState } from "./raft/bootstrap.js";
import type { RaftRecovered } from "./raft/raft.js";
import { MemberId } from "./raft/types.js";
import { MetadataStateMachine } from "./state_machine.js";
import {
  MUST_NOT_EXIST,
  PreconditionFailed,
  matchesVersion,
  type MetadataStore,
} from "../metadata/index.js";

export const NODES_CONFIG_KEY = "nodes_config";

export interface NodeRecord {
  readonly name: string;
  /** Plain node id (N1 → 1); also the node's Raft member id when it runs a metadata server. */
  readonly plainId: number;
  /** Bumped on every start of the node. */
  readonly generation: number;
  readonly address: string;
  readonly roles: readonly string[];
  /** `region.zone`, `region`, or "" (the unnamed region). */
  readonly location?: string;
}

export interface NodesConfiguration {
  readonly clusterName: string;
  readonly nodes: readonly NodeRecord[];
}

export interface NodeIdentity {
  readonly name: string;
  readonly address: string;
  readonly roles: readonly string[];
  readonly location?: string;
}

/** Attempts of a read-modify-write before giving up on contention. */
const REGISTER_ATTEMPTS_MAX = 32;

export function encodeNodesConfiguration(config: NodesConfiguration): Uint8Array {
  return utf8(JSON.stringify(config));
}

export function decodeNodesConfiguration(bytes: Uint8Array): NodesConfiguration {
  const parsed = JSON.parse(fromUtf8(bytes)) as NodesConfiguration;
  assert(typeof parsed.clusterName === "string", "nodes configuration has a cluster name");
  assert(Array.isArray(parsed.nodes), "nodes configuration lists nodes");
  return parsed;
}

/**
 * The Raft state that provisions a new cluster with `node` as its first (and only) member, plain id
 * 1, generation 1; with `imported`, the other keys of a single node's metadata that grows into the
 * cluster (its schema, log chains, partition table and epochs; its nodes configuration is replaced).
 */
export function provisionedState(
  clusterName: string,
  node: NodeIdentity,
  imported: ReadonlyMap<string, Uint8Array> = new Map(),
): RaftRecovered {
  const first: NodeRecord = { ...node, plainId: 1, generation: 1 };
  const state = new MetadataStateMachine();
  state.provisionValue(NODES_CONFIG_KEY, encodeNodesConfiguration({ clusterName, nodes: [first] }));
  for (const [key, value] of imported)
    if (key !== NODES_CONFIG_KEY) state.provisionValue(key, value);
  const member = MemberId(first.plainId);
  return bootstrapState(
    { voters: [member], learners: [], addresses: { [member]: node.address } },
    state.encodeSnapshot(),
  );
}

/**
 * Registers a starting node by name: a known node gets its generation bumped (and its address and
 * roles refreshed), a new one the next plain id with generation 1. Refuses a cluster of another name.
 */
export async function registerNode(
  store: MetadataStore,
  clusterName: string,
  node: NodeIdentity,
): Promise<NodeRecord> {
  for (let attempt = 1; attempt <= REGISTER_ATTEMPTS_MAX; attempt++) {
    const found = await store.get(NODES_CONFIG_KEY);
    const config: NodesConfiguration =
      found === undefined ? { clusterName, nodes: [] } : decodeNodesConfiguration(found.value);
    if (config.clusterName !== clusterName) {
      throw new KeelError(
        "conflict",
        `node '${node.name}' is started for cluster '${clusterName}', but its metadata belongs to cluster '${config.clusterName}'`,
      );
    }
    const known = config.nodes.find((n) => n.name === node.name);
    const record: NodeRecord =
      known === undefined
        ? {
            ...node,
            plainId: Math.max(0, ...config.nodes.map((n) => n.plainId)) + 1,
            generation: 1,
          }
        : { ...known, ...node, generation: known.generation + 1 };
    const next: NodesConfiguration = {
      clusterName,
      nodes: [...config.nodes.filter((n) => n.name !== node.name), record].sort(
        (a, b) => a.plainId - b.plainId,
      ),
    };
    try {
      await store.put(
        NODES_CONFIG_KEY,
        encodeNodesConfiguration(next),
        found === undefined ? MUST_NOT_EXIST : matchesVersion(Version(found.version)),
      );
      return record;
    } catch (error) {
      if (!(error instanceof PreconditionFailed)) throw error;
      // Another node registered at the same time: read again and retry.
    }
  }
  throw new KeelError(
    "unavailable",
    `could not register node '${node.name}': the nodes configuration keeps changing`,
    true,
  );
}
