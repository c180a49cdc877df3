/**
 * Ports: how drivers reach the world. Drivers (src/runtime) import no Node module; the adapters
 * (src/adapters) implement these ports for real processes, and the simulator (src/sim) and the
 * in-memory test harness implement them deterministically.
 *
 * Contracts:
 * - `Clock.nowMs` is wall-clock milliseconds since the Unix epoch (record timestamps and durable
 *   timers need it); drivers also use it for durations. `Clock.setTimer` runs the callback once, later
 *   (never synchronously), unless cancelled through the returned function. `Clock.defer` runs it once
 *   the current synchronous work is done (a microtask in a process, the next event at the same virtual
 *   time in the simulator): work issued together is handled together.
 * - `NodeTransport.request` calls `done` exactly once: with the response, or with "timeout" after
 *   `timeoutMs`, or with "unavailable" when the peer cannot be reached. Never synchronously.
 *   One-way `send` is best effort. Handlers are never called synchronously from `send`/`request`.
 * - `LogServerStore.write` completes writes in the order they were issued; a write is durable when
 *   its `done` is called without an error. A batch of records is written atomically.
 * - `PartitionStore`: reads see every committed batch, including those still being written; batches
 *   are written in commit order; durability comes from the log, not from the store.
 */

import type { PartitionReader, PartitionTxn } from "../partition/store.js";
import type { NodeId } from "../core/node_id.js";
import type { StoreWrite } from "../log/replicated/log_server.js";
import type { StoredRecord } from "../log/replicated/messages.js";
import type { LogletId } from "../log/replicated/types.js";

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

export type Cancel = () => void;

export interface Clock {
  nowMs(): number;
  setTimer(delayMs: number, run: () => void): Cancel;
  defer(run: () => void): void;
  /**
   * Runs `run` once the I/O callbacks already due have run (Node's check phase): for work nobody
   * waits for, so that it does not hold up the acknowledgements and writes of the same turn.
   */
  deferAfterIo(run: () => void): void;
}

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** A partition store: synchronous reads, batches applied in order and committed off the hot path. */
export interface PartitionStore {
  /** Reads see every committed batch, including those still being written. */
  reader(): PartitionReader;
  /** A write batch; its writes become visible to `reader()` when it is committed. */
  beginBatch(): PartitionTxn;
  /** Commits the batch (atomically, without waiting for durability: the log is the source of truth). */
  commit(batch: PartitionTxn): void;
  /** Resolves once every committed batch is written. */
  flushed(): Promise<void>;
  close(): Promise<void>;
}

/** An open invocation stream to a service endpoint (one attempt). */
export interface EndpointStream {
  /**
   * Queues request bytes. The stream owns `bytes` from here on (a transport may move the buffer to
   * another thread): pass a buffer nothing else uses.
   */
  write(bytes: Uint8Array): void;
  /** Closes the request side; the response may go on. */
  end(): void;
  /** Tears the stream down in both directions. */
  abort(): void;
}

export interface EndpointStreamHandlers {
  onResponse(status: number, headers: Record<string, string | string[] | undefined>): void;
  onData(chunk: Uint8Array): void;
  onEnd(): void;
  onError(error: Error): void;
}

export interface EndpointRequest {
  readonly uri: string;
  readonly useHttp11: boolean;
  /** Request/response deployments get the whole request body before they answer. */
  readonly requestResponse: boolean;
  readonly path: string;
  readonly headers: Record<string, string>;
}

export interface EndpointTransport {
  open(request: EndpointRequest, handlers: EndpointStreamHandlers): EndpointStream;
  close(): Promise<void>;
}

/** Random bytes for new ids and seeds (crypto at the edge, a seeded PRNG in simulation). */
export interface Entropy {
  fill(target: Uint8Array): void;
}

export const NO_LOG: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
