/**
 * The ports through which drivers reach the world. Adapters (src/adapters) implement them on Node;
 * the simulator implements them deterministically. Drivers never import Node themselves.
 */

import type { PartitionReader, PartitionTxn } from "../partition/store.js";

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Wall-clock milliseconds since the Unix epoch (record timestamps, durable timers). */
  nowMs(): number;
  /** Runs `callback` after `delayMs`; the returned handle cancels it. */
  setTimer(delayMs: number, callback: () => void): TimerHandle;
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
