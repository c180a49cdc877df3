/**
 * The partition store contract (src/partition-store/store.ts, src/platform/ports.ts), run against the
 * in-memory reference and the LMDB store: point reads and prefix scans see a batch's own writes and
 * every committed batch, in key order, with deletions applied, before and after the writes land; a
 * snapshot's copy is stable and a restore replaces everything.
 * Then the partition's tables (src/partition-store/tables.ts) over each store, with object keys, state
 * keys, promise and signal names far longer than a store key: each table keeps and returns them in
 * full, keeps its order, and leaves nothing behind once they are deleted.
 */

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  openLmdbEnvironment,
  type LmdbEnvironment,
} from "../../src/partition-store/io/lmdb_store.js";
import { PartitionKey } from "../../src/core/brand.js";
import { utf8 } from "../../src/core/bytes.js";
import type { InboxEntry } from "../../src/gen/keel/records.js";
import {
  INBOX_PREFIX,
  LOCK_PREFIX,
  PROMISE_PREFIX,
  STATE_PREFIX,
  hasDigest,
  type ObjectRef,
} from "../../src/partition-store/keys.js";
import {
  STORE_KEY_BYTES_MAX,
  type PartitionReader,
  type PartitionStore,
} from "../../src/partition-store/store.js";
import {
  TableReader,
  Tables,
  INVOCATION_PHASES,
  decodeInboxEntry,
  decodeLockEntry,
  decodePromiseEntry,
  decodeStateEntry,
} from "../../src/partition-store/tables.js";
import { InvocationId } from "../../src/core/ids.js";
import { partitionKeyOf } from "../../src/core/partitioning.js";
import { MemoryStore } from "../../src/partition-store/memory_store.js";

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

    it("exports a copy of what is written, in key order, and replaces everything from one", async () => {
      const store = create();
      const batch = store.beginBatch();
      for (const k of ["k/b", "k/a", "k/c"]) batch.put(k, bytes(k));
      store.commit(batch);
      await store.flushed();
      const copy = [...store.exportEntries()];
      assert.deepEqual(
        copy.map(([k, v]) => `${k}=${text(v)}`),
        ["k/a=k/a", "k/b=k/b", "k/c=k/c"],
      );
      // Writes after the copy was taken do not change it.
      const later = store.beginBatch();
      later.put("k/a", bytes("changed"));
      later.delete("k/c");
      store.commit(later);
      await store.flushed();
      assert.equal(text(copy[0]![1]), "k/a");
      await store.replaceAll([
        ["r/1", bytes("one")],
        ["r/2", new Uint8Array(0)],
      ]);
      assert.deepEqual(keys(store.reader(), ""), ["r/1", "r/2"]);
      assert.equal(text(store.reader().get("r/1")), "one");
      assert.deepEqual(
        [...store.exportEntries()].map(([k]) => k),
        ["r/1", "r/2"],
      );
      const next = store.beginBatch();
      next.put("r/3", bytes("three"));
      store.commit(next);
      await store.flushed();
      assert.deepEqual(keys(store.reader(), "r/"), ["r/1", "r/2", "r/3"]);
      await store.close();
    });

    it("exports its FSM entry first, and restores from a stream, the FSM entry last", async () => {
      const store = create();
      const batch = store.beginBatch();
      for (const k of ["a/1", "f", "z/1"]) batch.put(k, bytes(k));
      store.commit(batch);
      await store.flushed();
      assert.deepEqual(
        [...store.exportEntries()].map(([k]) => k),
        ["f", "a/1", "z/1"],
      );
      // Many entries, streamed: more than one of a restore's write batches.
      const big = new Uint8Array(64 * 1024).fill(7);
      async function* streamed(failAt?: number): AsyncGenerator<[string, Uint8Array]> {
        yield ["f", bytes("fsm")];
        for (let i = 0; i < 200; i++) {
          if (i === failAt) throw new Error("damaged snapshot");
          yield [`s/${String(i).padStart(3, "0")}`, big];
        }
      }
      await store.replaceAll(streamed());
      assert.equal(keys(store.reader(), "s/").length, 200);
      assert.equal(text(store.reader().get("f")), "fsm");
      assert.equal(store.reader().get("a/1"), undefined);
      // A stream that fails part way leaves nothing: no FSM entry, so nothing applied.
      await assert.rejects(store.replaceAll(streamed(150)), /damaged snapshot/);
      assert.deepEqual(keys(store.reader(), ""), []);
      await store.close();
    });
  });
}

const objectOf = (key: string, service = "LongKeys"): ObjectRef => ({
  partitionKey: partitionKeyOf(key),
  service,
  key,
});
/** 60,000 bytes, as Restate takes them, and a second key differing only in its last character. */
const LONG = "k".repeat(59_999);
const long = objectOf(`${LONG}a`);
const twin = objectOf(`${LONG}b`);
const short = objectOf("short");
const idOf = (n: number): InvocationId =>
  InvocationId.fromParts(PartitionKey(1n), new Uint8Array(16).fill(n));
const inboxed = (entry: InboxEntry | undefined): string | undefined =>
  entry?.kind?.$case === "invocationId"
    ? InvocationId.fromBytes(entry.kind.value).toString()
    : undefined;

/** Applies `write` in one batch, commits it, waits until it is written; returns a reader. */
async function writeAndFlush(
  store: PartitionStore,
  write: (tables: Tables) => void,
): Promise<TableReader> {
  const batch = store.beginBatch();
  const tables = new Tables(batch);
  write(tables);
  tables.flush(new Array<number>(INVOCATION_PHASES).fill(0));
  store.commit(batch);
  await store.flushed();
  return new TableReader(store.reader());
}

function assertKeysFit(reader: PartitionReader): void {
  for (const [key] of reader.scan("")) assert.ok(key.length <= STORE_KEY_BYTES_MAX, key);
}

function describeLongKeyTables(name: string, create: () => PartitionStore): void {
  describe(`partition tables with long keys: ${name}`, () => {
    it("state: keeps long object and state keys in full, in key order, and clears them", async () => {
      const store = create();
      const stateKeys = [utf8("count"), new Uint8Array(3000).fill(0x61), new Uint8Array(974)];
      const reader = await writeAndFlush(store, (tables) => {
        stateKeys.forEach((key, i) => tables.putState(long, key, utf8(`v${i}`)));
        tables.putState(twin, stateKeys[1]!, utf8("twin"));
        tables.putState(short, stateKeys[1]!, utf8("short"));
      });
      assertKeysFit(store.reader());
      assert.equal(new TextDecoder().decode(reader.state(long, stateKeys[1]!)), "v1");
      assert.equal(new TextDecoder().decode(reader.state(twin, stateKeys[1]!)), "twin");
      assert.equal(new TextDecoder().decode(reader.state(short, stateKeys[1]!)), "short");
      assert.equal(reader.state(long, new Uint8Array(3000).fill(0x62)), undefined);
      assert.deepEqual(
        reader.stateEntries(long).map((e) => [[...e.key].length, text(e.value)]),
        [
          [974, "v2"],
          [3000, "v1"],
          [5, "v0"],
        ],
        "ordered by key bytes",
      );
      const scanned = store
        .reader()
        .scan(STATE_PREFIX)
        .map(([key, value]) => decodeStateEntry(key, value)!);
      assert.deepEqual(
        scanned.map((e) => `${e.object.key.length}:${e.key.length}:${text(e.value)}`).sort(),
        ["5:3000:short", "60000:3000:twin", "60000:3000:v1", "60000:5:v0", "60000:974:v2"],
      );
      assert.ok(scanned.every((e) => e.object.partitionKey === partitionKeyOf(e.object.key)));
      await writeAndFlush(store, (tables) => {
        tables.deleteState(long, stateKeys[1]!);
        tables.clearState(twin);
      });
      assert.deepEqual(
        new TableReader(store.reader()).stateEntries(long).map((e) => e.key.length),
        [974, 5],
      );
      await writeAndFlush(store, (tables) => tables.clearState(long));
      assert.deepEqual(keys(store.reader(), STATE_PREFIX).length, 1, "only the short object's");
      await store.close();
    });

    it("locks: holds and releases the lock of a long key", async () => {
      const store = create();
      const reader = await writeAndFlush(store, (tables) => {
        tables.putLock(long, idOf(1));
        tables.putLock(short, idOf(2));
      });
      assertKeysFit(store.reader());
      assert.equal(reader.lock(long)?.toString(), idOf(1).toString());
      assert.equal(reader.lock(twin), undefined);
      const locks = store
        .reader()
        .scan(LOCK_PREFIX)
        .map(([key, value]) => decodeLockEntry(key, value)!);
      assert.deepEqual(locks.map((l) => `${l.object.key.length}:${l.holder.toString()}`).sort(), [
        `5:${idOf(2).toString()}`,
        `60000:${idOf(1).toString()}`,
      ]);
      await writeAndFlush(store, (tables) => tables.deleteLock(long));
      assert.deepEqual(keys(store.reader(), LOCK_PREFIX).length, 1);
      await store.close();
    });

    it("inbox: a long key's inbox is first in, first out, and empties", async () => {
      const store = create();
      const enqueue = (tables: Tables, o: ObjectRef, seq: number): void =>
        tables.enqueueInbox(o, seq, { kind: { $case: "invocationId", value: idOf(seq).bytes } });
      const reader = await writeAndFlush(store, (tables) => {
        for (const seq of [7, 3, 300]) enqueue(tables, long, seq);
        enqueue(tables, twin, 1);
      });
      assertKeysFit(store.reader());
      const head = reader.inboxHead(long);
      assert.deepEqual(inboxed(head?.entry), idOf(3).toString(), "the lowest sequence number");
      assert.ok(hasDigest(head!.key));
      const entries = store
        .reader()
        .scan(INBOX_PREFIX)
        .map(([key, value]) => decodeInboxEntry(key, value)!);
      const ofLong = entries.filter((e) => e.object.key === long.key).map((e) => e.seq);
      assert.deepEqual(ofLong, [3, 7, 300], "in sequence order");
      await writeAndFlush(store, (tables) => {
        tables.deleteRaw(head!.key);
        tables.deleteInboxEntry(long, 300);
      });
      assert.equal(
        inboxed(new TableReader(store.reader()).inboxHead(long)?.entry),
        idOf(7).toString(),
      );
      await writeAndFlush(store, (tables) => {
        tables.deleteInboxEntry(long, 7);
        tables.deleteInboxEntry(twin, 1);
      });
      assert.deepEqual(keys(store.reader(), INBOX_PREFIX), []);
      await store.close();
    });

    it("promises: keeps long names of a long key in full, and clears them", async () => {
      const store = create();
      const names = ["click", "n".repeat(5000), "\u4e2d".repeat(1000)];
      const reader = await writeAndFlush(store, (tables) => {
        names.forEach((name, i) =>
          tables.putPromise(long, name, {
            completed: { kind: { $case: "value", value: utf8(`r${i}`) } },
            waiters: [],
          }),
        );
        tables.putPromise(short, names[1]!, { completed: undefined, waiters: [] });
      });
      assertKeysFit(store.reader());
      const completed = reader.promise(long, names[1]!)?.completed?.kind;
      assert.equal(completed?.$case === "value" ? text(completed.value) : undefined, "r1");
      assert.equal(reader.promise(long, "n".repeat(4999)), undefined);
      assert.deepEqual(reader.promise(short, names[1]!)?.completed, undefined);
      const scanned = store
        .reader()
        .scan(PROMISE_PREFIX)
        .map(([key, value]) => decodePromiseEntry(key, value)!);
      assert.deepEqual(
        scanned.map((p) => `${p.object.key.length}:${p.name}`).sort(),
        [`5:${names[1]!}`, ...names.map((n) => `60000:${n}`)].sort(),
      );
      await writeAndFlush(store, (tables) => tables.clearPromises(long));
      assert.equal(keys(store.reader(), PROMISE_PREFIX).length, 1);
      await store.close();
    });

    it("named signals: indexes long names and removes them with the journal", async () => {
      const store = create();
      const id = idOf(9);
      const name = "s".repeat(4000);
      const reader = await writeAndFlush(store, (tables) => {
        tables.putNotificationIndex(id, { kind: "namedSignal", name }, 4);
        tables.putNotificationIndex(id, { kind: "namedSignal", name: `${name}!` }, 5);
      });
      assertKeysFit(store.reader());
      assert.equal(reader.notificationIndex(id, { kind: "namedSignal", name }), 4);
      assert.equal(reader.notificationIndex(id, { kind: "namedSignal", name: `${name}!` }), 5);
      await writeAndFlush(store, (tables) => tables.deleteJournal(id));
      assert.deepEqual(keys(store.reader(), "jn/"), []);
      await store.close();
    });
  });
}

describeStoreContract("memory", () => new MemoryStore());
describeLongKeyTables("memory", () => new MemoryStore());
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
describeLongKeyTables("lmdb", () => shared!.partition(n++));

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
