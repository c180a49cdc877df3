/**
 * The cluster controller's decisions, as pure functions: today the placement of partitions on worker
 * nodes (replicas and leaders, stable under membership changes, spread over failure domains). The
 * controller that runs them on one admin node and writes the partition table arrives with cluster
 * mode (docs/design/cluster.md).
 */

export { placePartitions } from "./placement.js";
export type { PartitionAssignment, PlacementInput } from "./placement.js";
