/**
 * The cluster controller's logic, pure: failure detection from what a node hears of its peers, the
 * choice of the node that runs the controller, and the placement of partitions on worker nodes
 * (replicas and leaders, stable under membership changes, spread over failure domains). The driver
 * that runs it on a node and writes the partition table arrives with cluster mode
 * (docs/design/cluster.md).
 */

export { controllerNode, desiredPartitionTable } from "./controller.js";
export type { ClusterNode, ClusterView } from "./controller.js";
export { FailureDetector } from "./failure_detector.js";
export type { FailureDetectorSettings, Liveness, LivenessChange } from "./failure_detector.js";
export { placePartitions } from "./placement.js";
export type { PartitionAssignment, PlacementInput } from "./placement.js";
