/**
 * In-memory implementations of the runtime's ports, for tests and the simulator: a partition store
 * with the same read-your-writes semantics as the LMDB one, a manual clock, and a fixed entropy source.
 */

import { assert } from "../core/assert.js";
import {
  MemoryPartitionStore,
  STORE_KEY_BYTES_MAX,
  type PartitionReader,
  type PartitionTxn,
} from "../partition-store/store.js";
import type { Cancel, Clock, Entropy, PartitionStore } from "./ports.js";

type Writes = Map<string, Uint8Array | null>;

export class MemoryStore implements PartitionStore {
  readonly data = new MemoryPartitionStore();

  reader(): PartitionReader {
    return this.data;
  }

  beginBatch(): PartitionTxn {
    const writes: Writes = new Map();
    const data = this.data;
    const batch: PartitionTxn & { writes: Writes } = {
      writes,
      get: (k) => (writes.has(k) ? (writes.get(k) ?? undefined) : data.get(k)),
      put: (k, v) => {
        // The LMDB store's limit, so that tests in memory catch a key a real store could not hold.
        assert(
          k.length <= STORE_KEY_BYTES_MAX,
          `store key of ${k.length} bytes: ${k.slice(0, 64)}…`,
        );
        writes.set(k, v);
      },
      delete: (k) => void writes.set(k, null),
      scan: (prefix, limit, startAfter) => {
        const view = new MemoryPartitionStore();
        for (const [k, v] of data.scan(prefix)) view.put(k, v);
        for (const [k, v] of writes) {
          if (!k.startsWith(prefix)) continue;
          if (v === null) view.delete(k);
          else view.put(k, v);
        }
        return view.scan(prefix, limit, startAfter);
      },
    };
    return batch;
  }

  commit(batch: PartitionTxn): void {
    for (const [k, v] of (batch as PartitionTxn & { writes: Writes }).writes) {
      if (v === null) this.data.delete(k);
      else this.data.put(k, v);
    }
  }

  flushed(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A clock that moves only when told to; timers fire in order as it passes them. */
export class ManualClock implements Clock {
  private timers: { at: number; seq: number; callback: () => void; cancelled: boolean }[] = [];
  private seq = 0;

  constructor(private now: number) {}

  nowMs(): number {
    return this.now;
  }

  setTimer(delayMs: number, callback: () => void): Cancel {
    const timer = {
      at: this.now + Math.max(0, delayMs),
      seq: this.seq++,
      callback,
      cancelled: false,
    };
    this.timers.push(timer);
    return () => void (timer.cancelled = true);
  }

  defer(run: () => void): void {
    queueMicrotask(run);
  }

  /** No I/O here: after what is already queued. */
  deferAfterIo(run: () => void): void {
    queueMicrotask(run);
  }

  /** Moves time forward, firing every timer due on the way, in order. */
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      this.timers = this.timers.filter((t) => !t.cancelled);
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers[0];
      if (next === undefined || next.at > until) break;
      this.timers.shift();
      this.now = next.at;
      next.callback();
    }
    this.now = until;
  }
}

export function counterEntropy(): Entropy {
  let n = 0;
  return {
    fill(target) {
      n++;
      for (let i = 0; i < target.length; i++) target[i] = (n * 131 + i * 17) & 255;
    },
  };
}
