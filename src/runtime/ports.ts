/**
 * Ports: how drivers reach the world. Drivers (src/runtime) import no Node module; the adapters
 * (src/adapters) implement these ports for real processes and the simulator (src/sim) implements them
 * over its seeded event queue. Ports are callback-based, not promise-based, so that the simulator can
 * run a whole cluster synchronously and deterministically inside one event loop turn per event.
 *
 * Contracts:
 * - `Clock.setTimer` runs the callback once, later (never synchronously), unless cancelled.
 *   `Clock.defer` runs it once the current synchronous work is done (a microtask in a process, the
 *   next event at the same virtual time in the simulator): work issued together is handled together.
 * - `NodeTransport.request` calls `done` exactly once: with the response, or with "timeout" after
 *   `timeoutMs`, or with "unavailable" when the peer cannot be reached. Never synchronously.
 *   One-way `send` is best effort. Handlers are never called synchronously from `send`/`request`.
 * - `LogServerStore.write` completes writes in the order they were issued; a write is durable when
 *   its `done` is called without an error. A batch of records is written atomically.
 */

import type { NodeId } from "../core/node_id.js";
import type { StoreWrite } from "../log/replicated/log_server.js";
import type { StoredRecord } from "../log/replicated/messages.js";
import type { LogletId } from "../log/replicated/types.js";

export type Cancel = () => void;

export interface Clock {
  /** Milliseconds on a monotonic clock (virtual time in the simulator). */
  nowMs(): number;
  setTimer(delayMs: number, run: () => void): Cancel;
  defer(run: () => void): void;
}

export type RequestOutcome =
  | { readonly ok: true; readonly payload: Uint8Array }
  | { readonly ok: false; readonly error: "timeout" | "unavailable"; readonly detail: string };

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

/** The durable store of one log server (all its loglets). */
export interface LogServerStore {
  write(write: StoreWrite, done: (error: Error | undefined) => void): void;
  /**
   * Records of one loglet in `[from, toExclusive)`, ascending and contiguous from `from`, at most
   * `recordsMax` and about `bytesMax` (always at least one record when `from` is held).
   */
  read(
    logletId: LogletId,
    from: number,
    toExclusive: number,
    recordsMax: number,
    bytesMax: number,
    done: (result: readonly StoredRecord[] | Error) => void,
  ): void;
}
