/**
 * Node-to-node messaging: the transport contract (one multiplexed connection per peer pair,
 * service-tagged one-way messages and request/response) and the envelope that frames it on port 5122.
 * Implementations live in io/ (TCP, in-process) and in src/sim (the simulated network).
 */

export {
  ANONYMOUS_NODE,
  EnvelopeDecoder,
  NodeService,
  decodeHello,
  encodeEnvelope,
  encodeHello,
} from "./envelope.js";
export type { Envelope } from "./envelope.js";
export type { NodeTransport, RequestOutcome, ServiceHandler } from "./transport.js";
