/**
 * Node transports for real processes: TCP on the node port (one connection per peer pair,
 * hello with node id and generation, bounded queues, reconnection with backoff, authentication with
 * the cluster's credentials) and an in-process twin.
 */

export { DEFAULT_NODE_PORT, TcpTransport } from "./tcp_transport.js";
export type {
  NodePortSecurity,
  NodeTls,
  PeerAddress,
  TcpTransportOptions,
} from "./tcp_transport.js";
export { ClusterCredentials } from "./node_auth.js";
