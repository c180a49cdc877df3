/**
 * The ports through which the metadata store's drivers reach the world. Production adapters live in
 * src/metadata-server/io (TCP transport, files with fsync, timers); the simulator's twins in src/sim/metadata.
 * Drivers never import Node: this is the whole of their view of I/O.
 */

import type { PersistWork } from "./raft/storage_format.js";
import type { Envelope } from "./wire.js";

/**
 * Best-effort, unordered delivery of envelopes between named endpoints (a member's address or a
 * client's name). It may drop, delay, duplicate and reorder; Raft and the client cope.
 */
export interface MetadataTransport {
  /** This endpoint's address, as peers should reach it. */
  readonly address: string;
  send(to: string, envelope: Envelope): void;
  /** Sets the receiver of every envelope addressed to this endpoint. */
  onReceive(handler: (envelope: Envelope) => void): void;
  close(): void;
}

/**
 * A member's durable Raft state. `persist` makes the work durable in its order (snapshot, hard state,
 * entries) and then calls `done`; calls are made one at a time (the next only after `done`). An error
 * means the disk can no longer be trusted: the driver stops the member.
 */
export interface RaftStorage {
  persist(work: PersistWork, done: (error: Error | undefined) => void): void;
  close(): void;
}

/** Logical time: calls `onTick` every `intervalMs` until stopped. */
export interface Ticker {
  every(intervalMs: number, onTick: () => void): () => void;
}
