/**
 * The partition store contract (src/partition/store.ts, src/runtime/ports.ts), run against the
 * in-memory reference and the LMDB store: point reads and prefix scans see a batch's own writes and
 * every committed batch, in key order, with deletions applied, before and after the writes land.
 */

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { openLmdbEnvironment, type LmdbEnvironment } from "../../src/adapters/lmdb_store.js";
import type { PartitionReader } from "../../src/partition/store.js";
import { MemoryStore } from "../../src/runtime/memory_ports.js";
import type { PartitionStore } from "../../src/runtime/ports.js";

const root = mkdtempSync(join(tmpdir(), "keel-store-"));
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (value: Uint8Array | undefined): string | undefined =>
  value === undefined ? undefined : new TextDecoder().decode(value);
const keys = (reader: PartitionReader, prefix: string, limit?: number, after?: string): string[] =>
  reader.scan(prefix, limit, after).map(([k]) => k);

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

describeStoreContract("memory", () => new MemoryStore());
let n = 0;
const environments: LmdbEnvironment[] = [];
after(async () => {
  for (const environment of environments) await environment.close();
  rmSync(root, { recursive: true, force: true });
});
// Opened before the contract's tests run (node:test drops tests registered after a top-level await).
let shared: LmdbEnvironment | undefined;
before(async () => {
  shared = (await openLmdbEnvironment(join(root, "shared"), (e) => assert.fail(e))).environment;
  environments.push(shared);
});
describeStoreContract("lmdb", () => shared!.partition(n++));

describe("lmdb environment", () => {
  it("keeps every flushed batch across a clean reopen", async () => {
    const dir = join(root, "reopen");
    const { environment } = await openLmdbEnvironment(dir, (e) => assert.fail(e));
    const store = environment.partition(7);
    const batch = store.beginBatch();
    batch.put("k", bytes("v"));
    store.commit(batch);
    await environment.close();
    const reopened = await openLmdbEnvironment(dir, (e) => assert.fail(e));
    assert.equal(reopened.rebuilt, false);
    assert.equal(text(reopened.environment.partition(7).reader().get("k")), "v");
    await reopened.environment.close();
  });

  it("discards the stores when the machine restarted while they were open", async () => {
    const dir = join(root, "rebooted");
    const { environment } = await openLmdbEnvironment(dir, (e) => assert.fail(e));
    const store = environment.partition(1);
    const batch = store.beginBatch();
    batch.put("k", bytes("v"));
    store.commit(batch);
    await environment.close();
    // As if the environment had been open when the machine crashed, on an earlier boot.
    writeFileSync(join(dir, "STATE"), JSON.stringify({ bootId: "an-earlier-boot", clean: false }));
    const reopened = await openLmdbEnvironment(dir, (e) => assert.fail(e));
    assert.equal(reopened.rebuilt, true);
    assert.equal(
      reopened.environment.partition(1).reader().get("k"),
      undefined,
      "rebuilt from the logs",
    );
    await reopened.environment.close();
  });

  it("trusts the stores after a process crash on the same boot", async () => {
    const dir = join(root, "killed");
    const { environment } = await openLmdbEnvironment(dir, (e) => assert.fail(e));
    const store = environment.partition(2);
    const batch = store.beginBatch();
    batch.put("k", bytes("v"));
    store.commit(batch);
    await environment.close();
    const state = JSON.parse(readFileSync(join(dir, "STATE"), "utf8")) as { bootId: string };
    writeFileSync(join(dir, "STATE"), JSON.stringify({ bootId: state.bootId, clean: false }));
    const reopened = await openLmdbEnvironment(dir, (e) => assert.fail(e));
    assert.equal(reopened.rebuilt, false);
    assert.equal(text(reopened.environment.partition(2).reader().get("k")), "v");
    await reopened.environment.close();
  });
});
