/**
 * Service endpoints for real processes: HTTP/2 and HTTP/1.1 clients, run on a worker thread,
 * with only request bytes and response events crossing threads.
 */

export { fetchDiscovery } from "./endpoint_transport.js";
export { WorkerEndpointTransport } from "./worker_endpoint_transport.js";
