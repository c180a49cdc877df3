/**
 * A log-server store in memory: the `LogServerStore` port for tests and single-process clusters.
 * "Durable" means "kept by this object": a log server restarted on the same object recovers
 * everything written before. Writes complete in order, asynchronously (through the clock), like a
 * real store's group commit.
 */

import {
  type RecoveredLoglet,
  type StoreWrite,
  type StoredRecord,
  InMemoryLogStoreIndex,
  type LogletId,
} from "../bifrost/index.js";
import type { Clock } from "../platform/index.js";
import type { LogServerStore } from "./store.js";

export class MemoryLogServerStore implements LogServerStore {
  private readonly index = new InMemoryLogStoreIndex();
  private readonly waiting: ((error: Error | undefined) => void)[] = [];
  private flushArmed = false;

  constructor(private readonly clock: Clock) {}

  /** What a log server starting on this store recovers. */
  recovered(): Map<LogletId, RecoveredLoglet> {
    return this.index.recovered();
  }

  write(write: StoreWrite, done: (error: Error | undefined) => void): void {
    // Keep copies: the caller's buffers may be reused.
    this.index.apply(
      write.kind === "records"
        ? { ...write, payloads: write.payloads.map((p) => p.slice()) }
        : write,
    );
    this.waiting.push(done);
    if (this.flushArmed) return;
    this.flushArmed = true;
    this.clock.setTimer(0, () => {
      this.flushArmed = false;
      for (const callback of this.waiting.splice(0)) callback(undefined);
    });
  }

  read(
    logletId: LogletId,
    from: number,
    toExclusive: number,
    recordsMax: number,
    bytesMax: number,
    done: (result: readonly StoredRecord[] | Error) => void,
  ): void {
    const records = this.index.records(logletId, from, toExclusive, recordsMax, bytesMax);
    this.clock.setTimer(0, () => done(records));
  }
}
