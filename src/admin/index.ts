/**
 * The admin API's own OpenAPI document. The server is in io/.
 */

export { keelAdminOpenApi } from "./openapi.js";
export type {
  ClusterStatusJson,
  NodeStatusJson,
  PartitionStatusJson,
  SubscriptionStatusJson,
} from "./status.js";
