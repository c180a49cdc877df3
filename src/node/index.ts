/**
 * One Keel node composed from ports: the log, a partition processor per partition, the invoker,
 * readiness and the operations the ingress and admin API call.
 */

export { KeelNode, NODE_ROLES, PARTITION_TABLE_KEY } from "./node.js";
export { nodesetTargetSize, replicatedSegment, type SegmentRequest } from "./segments.js";
export type {
  ClusterDescription,
  ClusterPorts,
  MetadataMemberDescription,
  NodeRole,
} from "./node.js";
