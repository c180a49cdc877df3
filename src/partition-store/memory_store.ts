/**
 * The in-memory partition store, for tests and the simulator: the same read-your-writes semantics as
 * the LMDB store (io/lmdb_store.ts), over a `MemoryPartitionStore`.
 */

import { assert } from "../core/index.js";
import {
  MemoryPartitionStore,
  STORE_KEY_BYTES_MAX,
  type PartitionReader,
  type PartitionStore,
  type PartitionTxn,
} from "./store.js";

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
