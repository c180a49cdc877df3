/**
 * The log-server store port: the durable store of one log server (all its loglets). Implementations:
 * segment files (io/file_log_store.ts), memory (memory_log_store.ts), the simulator's disk.
 *
 * Contract: `write` completes writes in the order they were issued; a write is durable when its
 * `done` is called without an error; a batch of records is written atomically.
 */

import { type StoredRecord, type LogletId, type StoreWrite } from "../bifrost/index.js";

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
