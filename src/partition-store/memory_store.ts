/**
 * The in-memory partition store, for tests and the simulator: the same read-your-writes semantics as
 * the LMDB store (io/lmdb_store.ts), over a `MemoryPartitionStore`.
 */

import { assert } from "../core/index.js";
import { FSM_KEY } from "./keys.js";
import {
  MemoryPartitionStore,
  STORE_KEY_BYTES_MAX,
  type PartitionReader,
  type PartitionStore,
  type PartitionTxn,
} from "./store.js";

/** A batch's writes by key: a value, or null for a deletion. */
export type BatchWrites = Map<string, Uint8Array | null>;

/** A batch buffering its writes over `base`, which it reads through (read-your-writes). */
export function bufferedBatch(base: MemoryPartitionStore): PartitionTxn & { writes: BatchWrites } {
  const writes: BatchWrites = new Map();
  return {
    writes,
    get: (k) => (writes.has(k) ? (writes.get(k) ?? undefined) : base.get(k)),
    put: (k, v) => {
      // The LMDB store's limit, so that tests in memory catch a key a real store could not hold.
      assert(k.length <= STORE_KEY_BYTES_MAX, `store key of ${k.length} bytes: ${k.slice(0, 64)}…`);
      writes.set(k, v);
    },
    delete: (k) => void writes.set(k, null),
    scan: (prefix, limit, startAfter) => {
      const view = new MemoryPartitionStore();
      for (const [k, v] of base.scan(prefix)) view.put(k, v);
      for (const [k, v] of writes) {
        if (!k.startsWith(prefix)) continue;
        if (v === null) view.delete(k);
        else view.put(k, v);
      }
      return view.scan(prefix, limit, startAfter);
    },
  };
}

/** Applies a batch's writes to `store`. */
export function applyWrites(store: MemoryPartitionStore, writes: BatchWrites): void {
  for (const [k, v] of writes) {
    if (v === null) store.delete(k);
    else store.put(k, v);
  }
}

/** Makes `store` hold exactly `entries`. */
/**
 * Every entry of a restore, read whole (stores held in memory are small); when their iteration
 * throws, `onFailure` runs first (it empties the store, as a streamed restore leaves it).
 */
export async function collectEntries(
  entries: Iterable<readonly [string, Uint8Array]> | AsyncIterable<readonly [string, Uint8Array]>,
  onFailure: () => void,
): Promise<(readonly [string, Uint8Array])[]> {
  const all: (readonly [string, Uint8Array])[] = [];
  try {
    for await (const entry of entries) all.push(entry);
  } catch (error) {
    onFailure();
    throw error;
  }
  return all;
}

/** A store's entries in key order (`dump`) with the FSM entry moved first, as `exportEntries` gives them. */
export function fsmFirst(entries: [string, Uint8Array][]): [string, Uint8Array][] {
  const fsm = entries.findIndex(([key]) => key === FSM_KEY);
  return fsm < 0 ? entries : [entries[fsm]!, ...entries.slice(0, fsm), ...entries.slice(fsm + 1)];
}

export function replaceContent(
  store: MemoryPartitionStore,
  entries: Iterable<readonly [string, Uint8Array]>,
): void {
  for (const [key] of store.dump()) store.delete(key);
  for (const [key, value] of entries) store.put(key, value);
}

/** The writes of a batch begun by `bufferedBatch`. */
export function writesOf(batch: PartitionTxn): BatchWrites {
  return (batch as PartitionTxn & { writes: BatchWrites }).writes;
}

export class MemoryStore implements PartitionStore {
  readonly data = new MemoryPartitionStore();

  reader(): PartitionReader {
    return this.data;
  }

  beginBatch(): PartitionTxn {
    return bufferedBatch(this.data);
  }

  commit(batch: PartitionTxn): void {
    applyWrites(this.data, writesOf(batch));
  }

  exportEntries(): Iterable<[string, Uint8Array]> {
    return fsmFirst(this.data.dump());
  }

  async replaceAll(
    entries: Iterable<readonly [string, Uint8Array]> | AsyncIterable<readonly [string, Uint8Array]>,
  ): Promise<void> {
    const all = await collectEntries(entries, () => replaceContent(this.data, []));
    replaceContent(this.data, all);
  }

  flushed(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
