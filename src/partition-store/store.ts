/**
 * The partition store contract: what the partition state machine reads and writes, synchronously.
 *
 * A `PartitionTxn` is the view of one apply batch: reads see the committed store plus every write made
 * earlier in the batch (and in batches still being committed). Keys are ASCII strings of at most
 * `STORE_KEY_BYTES_MAX` bytes, ordered by byte value; `scan(prefix)` returns entries whose key starts
 * with `prefix`, in key order. Values are bytes.
 * Nothing here is durable by itself: the log is, and the applied LSN is written in the same batch.
 *
 * Implementations: `MemoryPartitionStore` (tests, simulation) and the LMDB store in src/partition-store/io.
 */

import { assert } from "../core/index.js";

/**
 * The longest key a partition store holds (LMDB's limit with 4 KiB pages). Keys are ASCII, so their
 * length is their size. The key layout (keys.ts) never builds a longer one.
 */
export const STORE_KEY_BYTES_MAX = 1978;

export interface PartitionReader {
  get(key: string): Uint8Array | undefined;
  /** Entries with keys starting with `prefix`, in key order, at most `limit`. */
  scan(prefix: string, limit?: number, startAfter?: string): [string, Uint8Array][];
}

export interface PartitionTxn extends PartitionReader {
  put(key: string, value: Uint8Array): void;
  delete(key: string): void;
}

/** Smallest string greater than every string starting with `prefix` (keys are ASCII). */
export function prefixEnd(prefix: string): string {
  return prefix + "\u007f";
}

/** A sorted in-memory store: the reference implementation of the contract. */
export class MemoryPartitionStore implements PartitionTxn {
  private readonly entries = new Map<string, Uint8Array>();
  private sorted: string[] | undefined;

  get(key: string): Uint8Array | undefined {
    return this.entries.get(key);
  }

  put(key: string, value: Uint8Array): void {
    // The LMDB store's limit, so that tests in memory catch a key a real store could not hold.
    assert(
      key.length <= STORE_KEY_BYTES_MAX,
      `store key of ${key.length} bytes: ${key.slice(0, 64)}…`,
    );
    if (!this.entries.has(key)) this.sorted = undefined;
    this.entries.set(key, value);
  }

  delete(key: string): void {
    if (this.entries.delete(key)) this.sorted = undefined;
  }

  scan(
    prefix: string,
    limit = Number.POSITIVE_INFINITY,
    startAfter?: string,
  ): [string, Uint8Array][] {
    this.sorted ??= [...this.entries.keys()].sort(compareKeys);
    const out: [string, Uint8Array][] = [];
    let lo = 0;
    let hi = this.sorted.length;
    const from = startAfter !== undefined && startAfter >= prefix ? startAfter : prefix;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareKeys(this.sorted[mid]!, from) < 0) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.sorted.length && out.length < limit; i++) {
      const key = this.sorted[i]!;
      if (!key.startsWith(prefix)) break;
      if (startAfter !== undefined && key <= startAfter) continue;
      out.push([key, this.entries.get(key)!]);
    }
    return out;
  }

  /** Every entry in key order (digests, tests). */
  dump(): [string, Uint8Array][] {
    return this.scan("");
  }
}

export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The partition store port: synchronous reads, batches applied in order and committed off the hot
 * path. Contract: reads see every committed batch, including those still being written; batches are
 * written in commit order; durability comes from the log, not from the store.
 */
export interface PartitionStore {
  /** Reads see every committed batch, including those still being written. */
  reader(): PartitionReader;
  /** A write batch; its writes become visible to `reader()` when it is committed. */
  beginBatch(): PartitionTxn;
  /** Commits the batch (atomically, without waiting for durability: the log is the source of truth). */
  commit(batch: PartitionTxn): void;
  /** Resolves once every committed batch is written. */
  flushed(): Promise<void>;
  /**
   * A consistent copy of the store for a snapshot: all of some prefix of the committed batches and
   * nothing of the rest (the copy records its own applied LSN), its FSM entry first, then every other
   * entry in key order. Taking it never stops the partition; iterate it promptly (to its end, or
   * call `return`).
   */
  exportEntries(): Iterable<[string, Uint8Array]>;
  /**
   * Replaces everything the store holds with `entries` (a restored snapshot, streamed in), writing
   * the FSM entry last: until it is written the store has applied nothing, so a crash in between
   * leaves a store that is restored again before use (its log is trimmed past it). When the entries'
   * iteration throws (damaged data), the store is left empty and the error passes on. Only before the
   * partition's processor starts.
   */
  replaceAll(
    entries: Iterable<readonly [string, Uint8Array]> | AsyncIterable<readonly [string, Uint8Array]>,
  ): Promise<void>;
  close(): Promise<void>;
}
