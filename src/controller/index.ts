/**
 * The cluster controller's logic, pure: failure detection from what a node hears of its peers, the
 * choice of the node that runs the controller, and the placement of partitions on worker nodes
 * (replicas and leaders, stable under membership changes, spread over failure domains); and the
 * driver that runs it on a node and writes the placement to the metadata store.
 */

export { controllerNode, desiredPartitionTable } from "./controller.js";
export type { ClusterNode, ClusterView } from "./controller.js";
export { FailureDetector } from "./failure_detector.js";
export type { FailureDetectorSettings, Liveness, LivenessChange } from "./failure_detector.js";
export { placePartitions, rebalance } from "./placement.js";
export { ControllerDriver, PARTITION_PLACEMENT_KEY } from "./controller_driver.js";
export type { PartitionPlacement } from "./controller_driver.js";
export type { PartitionAssignment, PlacementInput } from "./placement.js";
