/**
 * The invoker: runs invocations against service endpoints over the service protocol, one attempt
 * at a time per invocation, with its queue lanes, concurrency bounds, retries with jitter, suspension,
 * and the endpoint port it opens streams through.
 */

export type {
  EndpointRequest,
  EndpointStream,
  EndpointStreamHandlers,
  EndpointTransport,
} from "./endpoint.js";
export type { InvokerTestOnlyFaults } from "./invocation_attempt.js";
export { Invoker } from "./invoker.js";
export type { InvocationTaskInfo } from "./invoker.js";
