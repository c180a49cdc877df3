/**
 * The partition store contract (src/partition/store.ts, src/runtime/ports.ts), run against the
 * in-memory reference and the LMDB store: point reads and prefix scans see a batch's own writes and
 * every committed batch, in key order, with deletions applied, before and after the writes land.
 */

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { LmdbPartitionStore } from "../../src/adapters/lmdb_store.js";
import {
  MemoryPartitionStore,
  type PartitionReader,
  type PartitionTxn,
} from "../../src/partition/store.js";
import type { PartitionStore } from "../../src/runtime/ports.js";

const root = mkdtempSync(join(tmpdir(), "keel-store-"));
after(() => rmSync(root, { recursive: true, force: true }));
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (value: Uint8Array | undefined): string | undefined =>
  value === undefined ? undefined : new TextDecoder().decode(value);
const keys = (reader: PartitionReader, prefix: string, limit?: number, after?: string): string[] =>
  reader.scan(prefix, limit, after).map(([k]) => k);

/** The memory store as a PartitionStore: one shared map, batches applied at commit. */
class MemoryStoreHarness implements PartitionStore {
  readonly store = new MemoryPartitionStore();
  reader(): PartitionReader {
    return this.store;
  }
  beginBatch(): PartitionTxn {
    const writes = new Map<string, Uint8Array | null>();
    const view = this.store;
    return {
      get: (k) => (writes.has(k) ? (writes.get(k) ?? undefined) : view.get(k)),
      put: (k, v) => void writes.set(k, v),
      delete: (k) => void writes.set(k, null),
      scan: (p, l, a) => {
        const copy = new MemoryPartitionStore();
        for (const [k, v] of view.scan(p)) copy.put(k, v);
        for (const [k, v] of writes) {
          if (!k.startsWith(p)) continue;
          if (v === null) copy.delete(k);
          else copy.put(k, v);
        }
        return copy.scan(p, l, a);
      },
      ...{ writes },
    };
  }
  commit(batch: PartitionTxn): void {
    for (const [k, v] of (batch as unknown as { writes: Map<string, Uint8Array | null> }).writes) {
      if (v === null) this.store.delete(k);
      else this.store.put(k, v);
    }
  }
  flushed(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function describeStoreContract(name: string, create: () => PartitionStore): void {
  describe(`partition store contract: ${name}`, () => {
    it("reads a batch's own writes and, after commit, through the reader", async () => {
      const store = create();
      const batch = store.beginBatch();
      batch.put("a/1", bytes("one"));
      batch.put("a/2", bytes("two"));
      assert.equal(text(batch.get("a/1")), "one");
      assert.equal(store.reader().get("a/1"), undefined, "uncommitted writes stay in the batch");
      store.commit(batch);
      assert.equal(text(store.reader().get("a/2")), "two", "visible at once after commit");
      await store.flushed();
      assert.equal(text(store.reader().get("a/2")), "two", "and after the write lands");
      await store.close();
    });

    it("scans in key order, merging committed, pending and own writes with deletions", async () => {
      const store = create();
      const first = store.beginBatch();
      for (const k of ["p/b", "p/d", "p/a", "q/z", "p/c"]) first.put(k, bytes(k));
      store.commit(first);
      await store.flushed();
      const second = store.beginBatch();
      second.delete("p/b");
      second.put("p/bb", bytes("new"));
      assert.deepEqual(keys(second, "p/"), ["p/a", "p/bb", "p/c", "p/d"]);
      store.commit(second);
      const third = store.beginBatch();
      third.delete("p/a");
      assert.deepEqual(keys(third, "p/"), ["p/bb", "p/c", "p/d"]);
      assert.deepEqual(keys(third, "p/", 2), ["p/bb", "p/c"], "limit counts only live entries");
      assert.deepEqual(keys(third, "p/", 10, "p/bb"), ["p/c", "p/d"], "startAfter is exclusive");
      assert.deepEqual(keys(store.reader(), "p/"), ["p/a", "p/bb", "p/c", "p/d"]);
      store.commit(third);
      await store.flushed();
      assert.deepEqual(keys(store.reader(), "p/"), ["p/bb", "p/c", "p/d"]);
      assert.deepEqual(keys(store.reader(), "q/"), ["q/z"]);
      await store.close();
    });

    it("keeps binary values byte for byte", async () => {
      const store = create();
      const batch = store.beginBatch();
      const value = new Uint8Array(300).map((_, i) => i % 256);
      batch.put("bin", value);
      batch.put("empty", new Uint8Array(0));
      store.commit(batch);
      await store.flushed();
      assert.deepEqual([...store.reader().get("bin")!], [...value]);
      assert.equal(store.reader().get("empty")?.length, 0);
      await store.close();
    });
  });
}

describeStoreContract("memory", () => new MemoryStoreHarness());
let n = 0;
describeStoreContract(
  "lmdb",
  () => new LmdbPartitionStore(join(root, `s${n++}`), (e) => assert.fail(e)),
);

describe("lmdb store durability across reopen", () => {
  it("reopens with every flushed batch", async () => {
    const path = join(root, "reopen");
    let store = new LmdbPartitionStore(path, (e) => assert.fail(e));
    const batch = store.beginBatch();
    batch.put("k", bytes("v"));
    store.commit(batch);
    await store.close();
    store = new LmdbPartitionStore(path, (e) => assert.fail(e));
    assert.equal(text(store.reader().get("k")), "v");
    await store.close();
  });
});
