/**
 * Partition placement: which worker nodes hold a replica of each partition, and which replica leads.
 * A pure function of the alive workers, their locations, the replication property and the current
 * placement; the cluster controller calls it when membership changes and writes the result as the
 * new partition table when it differs (docs/design/cluster.md, steps 5 and part 2).
 *
 * Rules, in priority order:
 * 1. Replicas are distinct alive workers, as many as the property's copies (or every alive worker when
 *    there are fewer), spanning the property's failure domains wherever the alive workers allow it.
 * 2. Stability: an alive replica stays a replica and an alive leader stays leader, so a change of
 *    membership moves only what it must (each move costs a replica's catch-up and a leader's
 *    hand-over).
 * 3. Balance: a new replica goes to the worker in a new failure domain (widest constrained scope
 *    first) holding the fewest replicas; a new leader is the replica leading the fewest partitions
 *    among those that were replicas before (they hold the partition's state and follow its log, so
 *    they lead at once; a new replica must first read the whole log or a snapshot). Ties go to the
 *    lowest node id: the same input always gives the same placement.
 * A worker that joins takes new replicas only as others are lost; moving live replicas to it is a
 * rebalancing decision for the controller, not for this function.
 */

import type { NodeId } from "../core/index.js";
import {
  copiesOf,
  domainOf,
  isWriteQuorum,
  type ReplicationProperty,
  type Scope,
  type Topology,
} from "../bifrost/index.js";

export interface PartitionAssignment {
  /** Undefined only when no worker is alive. */
  readonly leader: NodeId | undefined;
  /** The leader first, then the followers. */
  readonly replicas: readonly NodeId[];
}

export interface PlacementInput {
  readonly partitions: number;
  /** The worker nodes believed alive. */
  readonly workers: readonly NodeId[];
  readonly topology: Topology;
  readonly property: ReplicationProperty;
  /** The current placement, if any (one entry per partition). */
  readonly previous?: readonly PartitionAssignment[];
}

const SCOPES_WIDEST_FIRST: readonly Scope[] = ["region", "zone", "node"];

export function placePartitions(input: PlacementInput): PartitionAssignment[] {
  const workers = [...new Set(input.workers)].sort((a, b) => a - b);
  const alive = new Set(workers);
  const copies = Math.min(copiesOf(input.property), workers.length);
  const replicaCount = new Map<NodeId, number>(workers.map((w) => [w, 0]));
  const leaderCount = new Map<NodeId, number>(workers.map((w) => [w, 0]));
  const bump = (counts: Map<NodeId, number>, node: NodeId, by: number): void =>
    void counts.set(node, (counts.get(node) ?? 0) + by);

  // Rule 2 first: what is still alive stays, the leader ahead of the others.
  const kept: NodeId[][] = [];
  for (let p = 0; p < input.partitions; p++) {
    const before = input.previous?.[p];
    const order = before === undefined ? [] : [before.leader, ...before.replicas];
    const replicas: NodeId[] = [];
    for (const node of order) {
      if (node === undefined || !alive.has(node) || replicas.includes(node)) continue;
      if (replicas.length === copies) break;
      replicas.push(node);
    }
    replicas.forEach((node) => bump(replicaCount, node, 1));
    kept.push(replicas);
  }

  // Rule 1 and 3: fill each partition, a new domain first, then the least loaded.
  for (const replicas of kept) {
    while (replicas.length < copies) {
      const next = bestCandidate(replicas, workers, replicaCount, input.property, input.topology);
      replicas.push(next);
      bump(replicaCount, next, 1);
    }
    spreadAcrossDomains(replicas, workers, replicaCount, input.property, input.topology);
  }

  // Leaders: keep those alive and still replicas, then give the rest to the least-leading replica
  // that was a replica before (a warm one), or to the least-leading one when none was.
  const leaders: (NodeId | undefined)[] = kept.map((replicas, p) => {
    const before = input.previous?.[p]?.leader;
    if (before === undefined || !replicas.includes(before)) return undefined;
    bump(leaderCount, before, 1);
    return before;
  });
  return kept.map((replicas, p) => {
    let leader = leaders[p];
    if (leader === undefined && replicas.length > 0) {
      const warm = wasReplica(input.previous, p);
      leader = [...replicas].sort(
        (a, b) =>
          Number(warm(b)) - Number(warm(a)) ||
          (leaderCount.get(a) ?? 0) - (leaderCount.get(b) ?? 0) ||
          a - b,
      )[0]!;
      bump(leaderCount, leader, 1);
    }
    return {
      leader,
      replicas: leader === undefined ? replicas : [leader, ...replicas.filter((r) => r !== leader)],
    };
  });
}

/** The worker to add to `replicas`: in a domain they lack (widest scope first), then least loaded. */
function bestCandidate(
  replicas: readonly NodeId[],
  workers: readonly NodeId[],
  load: ReadonlyMap<NodeId, number>,
  property: ReplicationProperty,
  topology: Topology,
): NodeId {
  const candidates = workers.filter((w) => !replicas.includes(w));
  const newDomains = (node: NodeId): number =>
    SCOPES_WIDEST_FIRST.filter((scope) => property[scope] !== undefined).findIndex(
      (scope) =>
        !replicas.some((r) => domainOf(r, scope, topology) === domainOf(node, scope, topology)),
    );
  // A node adding a domain at a wider scope ranks first; one adding none ranks last.
  const rank = (node: NodeId): number => {
    const index = newDomains(node);
    return index < 0 ? SCOPES_WIDEST_FIRST.length : index;
  };
  return candidates.sort(
    (a, b) => rank(a) - rank(b) || (load.get(a) ?? 0) - (load.get(b) ?? 0) || a - b,
  )[0]!;
}

/**
 * When the kept replicas crowd one domain (the property wants more domains and the alive workers have
 * them), swaps the most loaded crowding follower for a worker in a missing domain.
 */
function spreadAcrossDomains(
  replicas: NodeId[],
  workers: readonly NodeId[],
  load: Map<NodeId, number>,
  property: ReplicationProperty,
  topology: Topology,
): void {
  const attainable = isWriteQuorum(workers, property, topology);
  for (let swaps = 0; attainable && !isWriteQuorum(replicas, property, topology); swaps++) {
    if (swaps >= replicas.length) return;
    // The follower whose domain another replica shares, most loaded first (never the first: the leader).
    const crowding = replicas
      .slice(1)
      .filter((r) =>
        replicas.some(
          (o) =>
            o !== r &&
            SCOPES_WIDEST_FIRST.some(
              (s) =>
                property[s] !== undefined &&
                s !== "node" &&
                domainOf(o, s, topology) === domainOf(r, s, topology),
            ),
        ),
      )
      .sort((a, b) => (load.get(b) ?? 0) - (load.get(a) ?? 0) || b - a)[0];
    if (crowding === undefined) return;
    const rest = replicas.filter((r) => r !== crowding);
    const replacement = bestCandidate(
      rest,
      workers.filter((w) => w !== crowding),
      load,
      property,
      topology,
    );
    replicas.splice(replicas.indexOf(crowding), 1, replacement);
    load.set(crowding, (load.get(crowding) ?? 1) - 1);
    load.set(replacement, (load.get(replacement) ?? 0) + 1);
  }
}

/** Whether a node was a replica of partition `p` in the previous placement (none: nobody was). */
function wasReplica(
  previous: readonly PartitionAssignment[] | undefined,
  p: number,
): (node: NodeId) => boolean {
  const before = previous?.[p]?.replicas;
  return (node) => before === undefined || before.includes(node);
}

/**
 * Spreads an existing placement over workers that joined after it was made (placement keeps what is
 * alive where it is, so a new worker would otherwise stay empty): moves followers from the most to
 * the least loaded worker, then leadership to the replica leading the fewest partitions, until no
 * worker holds more than one above another. Only where the property constrains nothing wider than
 * nodes: a move must not undo a spread across zones or regions. Leadership moves only to a replica
 * that was one in `previous` (the placement in force): a replica added in this pass has not read the
 * partition's log yet, and it gets its share of leaders in a later pass. Deterministic, like
 * placement.
 */
export function rebalance(
  placed: readonly PartitionAssignment[],
  workers: readonly NodeId[],
  property: ReplicationProperty,
  previous?: readonly PartitionAssignment[],
): PartitionAssignment[] {
  const sorted = [...new Set(workers)].sort((a, b) => a - b);
  const result = placed.map((a) => ({ leader: a.leader, replicas: [...a.replicas] }));
  if (sorted.length < 2) return result;
  const countOf = (pick: (a: { leader: NodeId | undefined; replicas: NodeId[] }) => NodeId[]) => {
    const counts = new Map<NodeId, number>(sorted.map((w) => [w, 0]));
    for (const a of result) for (const n of pick(a)) counts.set(n, (counts.get(n) ?? 0) + 1);
    return counts;
  };
  const extremes = (counts: Map<NodeId, number>): { most: NodeId; least: NodeId } => {
    const byLoad = [...sorted].sort((a, b) => counts.get(a)! - counts.get(b)! || a - b);
    return { least: byLoad[0]!, most: byLoad[byLoad.length - 1]! };
  };
  const nodeScopeOnly = property.region === undefined && property.zone === undefined;
  for (let moves = 0; nodeScopeOnly && moves < result.length * sorted.length; moves++) {
    const counts = countOf((a) => a.replicas);
    const { most, least } = extremes(counts);
    if (counts.get(most)! - counts.get(least)! <= 1) break;
    const movable = result.find(
      (a) => a.leader !== most && a.replicas.includes(most) && !a.replicas.includes(least),
    );
    if (movable === undefined) break;
    movable.replicas.splice(movable.replicas.indexOf(most), 1, least);
  }
  for (let moves = 0; moves < result.length; moves++) {
    const counts = countOf((a) => (a.leader === undefined ? [] : [a.leader]));
    const { most, least } = extremes(counts);
    if (counts.get(most)! - counts.get(least)! <= 1) break;
    const movable = result.find(
      (a, p) => a.leader === most && a.replicas.includes(least) && wasReplica(previous, p)(least),
    );
    if (movable === undefined) break;
    movable.leader = least;
    movable.replicas = [least, ...movable.replicas.filter((r) => r !== least)];
  }
  return result;
}
