/**
 * Service endpoints for real processes: HTTP/2 and HTTP/1.1 clients (cleartext or TLS), run on a
 * worker thread, with only request bytes and response events crossing threads; requests signed
 * with the node's request-identity key (Restate's scheme v1).
 */

export { EndpointClient, fetchDiscovery } from "./endpoint_transport.js";
export type { EndpointClientSettings } from "./endpoint_transport.js";
export {
  RequestIdentityKeyError,
  generateSigningKey,
  readSigningKeyFile,
} from "./request_identity.js";
export { WorkerEndpointTransport } from "./worker_endpoint_transport.js";
