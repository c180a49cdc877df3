/**
 * The node transport port: node-to-node messaging over one multiplexed connection per peer, with
 * service-tagged envelopes (src/net/envelope.ts). Implementations: TCP (io/tcp_transport.ts), in
 * process (io/in_process_transport.ts), and the simulator's network (src/sim/ports.ts).
 *
 * Contract: `request` calls `done` exactly once: with the response, or with "timeout" after
 * `timeoutMs`, or with "unavailable" when the peer cannot be reached (or "unreachable" when it is
 * certain the request was never sent); never synchronously. One-way
 * `send` is best effort. Handlers are never called synchronously from `send`/`request`.
 */

import type { NodeId } from "../core/index.js";

export type RequestOutcome =
  | { readonly ok: true; readonly payload: Uint8Array }
  /** "unreachable": no connection to the peer could be made, so the request was never sent. */
  | {
      readonly ok: false;
      readonly error: "timeout" | "unavailable" | "unreachable";
      readonly detail: string;
    };

export interface ServiceHandler {
  /** A one-way message. */
  onMessage(from: NodeId, payload: Uint8Array): void;
  /** A request; `respond` may be called later, at most once (not calling it makes the peer time out). */
  onRequest(from: NodeId, payload: Uint8Array, respond: (payload: Uint8Array) => void): void;
}

/** Node-to-node messaging: one multiplexed connection per peer, service-tagged envelopes. */
export interface NodeTransport {
  readonly self: NodeId;
  send(to: NodeId, service: number, payload: Uint8Array): void;
  request(
    to: NodeId,
    service: number,
    payload: Uint8Array,
    timeoutMs: number,
    done: (outcome: RequestOutcome) => void,
  ): void;
  /** Registers the handler of a service (one per service). */
  serve(service: number, handler: ServiceHandler): void;
}
