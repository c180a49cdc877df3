/**
 * The cluster controller's logic: from the nodes configuration, what the failure detector says of each
 * node and the current partition table, which node runs the controller and which partition table it
 * should write. Pure; the node that runs it reads its inputs from the metadata store and its own
 * failure detector, and writes the table with a compare-and-swap on the version it read.
 *
 * - The controller is the admin node with the lowest id that is not declared dead: every node can
 *   compute it alike, and two nodes that disagree for a moment only race on the table's version.
 * - A suspect node keeps its replicas and leaderships (a pause must not move partitions); a dead one
 *   loses them. Placement itself is `placement.ts`.
 */

import type { NodeId } from "../core/index.js";
import { parseLocation, type ReplicationProperty, type Topology } from "../bifrost/index.js";
import type { Liveness } from "./failure_detector.js";
import { placePartitions, rebalance, type PartitionAssignment } from "./placement.js";

/** What the controller needs of a node's record in the nodes configuration. */
export interface ClusterNode {
  readonly plainId: number;
  readonly roles: readonly string[];
  readonly location?: string;
}

export interface ClusterView {
  readonly nodes: readonly ClusterNode[];
  readonly liveness: (node: NodeId) => Liveness;
  readonly partitions: number;
  readonly property: ReplicationProperty;
  readonly current: readonly PartitionAssignment[] | undefined;
  /**
   * Whether this pass may balance (move healthy replicas and leaders to nodes holding fewer): the
   * controller allows it once the table has stood for a while, so that a node that just became a
   * replica has read its partitions' logs before it is asked to lead them. Default: allowed.
   */
  readonly balance?: boolean;
}

/** The node that runs the controller: the lowest-id admin node not declared dead. */
export function controllerNode(
  nodes: readonly ClusterNode[],
  liveness: (node: NodeId) => Liveness,
): NodeId | undefined {
  return nodes
    .filter((n) => n.roles.includes("admin") && liveness(n.plainId as NodeId) !== "dead")
    .map((n) => n.plainId as NodeId)
    .sort((a, b) => a - b)[0];
}

/** The partition table the controller should write, or undefined when the current one stands. */
export function desiredPartitionTable(view: ClusterView): PartitionAssignment[] | undefined {
  const workers = view.nodes
    .filter((n) => n.roles.includes("worker") && view.liveness(n.plainId as NodeId) !== "dead")
    .map((n) => n.plainId as NodeId);
  const topology: Topology = new Map(
    view.nodes.map((n) => [n.plainId as NodeId, parseLocation(n.location ?? "")]),
  );
  const placed = placePartitions({
    partitions: view.partitions,
    workers,
    topology,
    property: view.property,
    ...(view.current === undefined ? {} : { previous: view.current }),
  });
  // A pass that repairs (a replica or a leader lost) moves only what it must, at once; balancing
  // (which moves healthy leaders too) waits for a pass with nothing to repair.
  const repairs = view.current === undefined || !sameTable(placed, view.current);
  const desired =
    repairs || view.balance === false
      ? placed
      : rebalance(placed, workers, view.property, view.current);
  return view.current !== undefined && sameTable(desired, view.current) ? undefined : desired;
}

function sameTable(a: readonly PartitionAssignment[], b: readonly PartitionAssignment[]): boolean {
  return (
    a.length === b.length &&
    a.every(
      (x, i) =>
        x.leader === b[i]!.leader &&
        x.replicas.length === b[i]!.replicas.length &&
        x.replicas.every((r, j) => r === b[i]!.replicas[j]),
    )
  );
}
