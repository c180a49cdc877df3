import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sha256 } from "../core/sha256.js";
import { concatBytes, toHex } from "../core/bytes.js";
import { DecodeError } from "../wire/binary.js";
import { MemoryStore } from "./memory_store.js";
import {
  SNAPSHOT_FORMAT_VERSION,
  decodeSnapshot,
  encodeSnapshot,
  copyStore,
  parseSnapshotManifest,
  readSnapshot,
  type SnapshotManifest,
} from "./snapshot_format.js";
import { Tables } from "./tables.js";

const manifestFor = (encoded: ReturnType<typeof encodeSnapshot>): SnapshotManifest => ({
  formatVersion: SNAPSHOT_FORMAT_VERSION,
  snapshotId: "snap_test",
  clusterName: "c",
  nodeName: "n",
  partitionId: 0,
  keyRange: { from: "0", to: "18446744073709551615" },
  appliedLsn: 7,
  createdAtMs: 1,
  entries: encoded.entries,
  bytes: encoded.bytes,
  sha256: encoded.sha256,
});

describe("snapshot format", () => {
  const entries: [string, Uint8Array][] = [
    ["a", new Uint8Array([])],
    ["b/1", new Uint8Array([0, 255, 7])],
    // Larger than a frame: it gets a frame of its own.
    ["c", new Uint8Array(1536 * 1024).fill(9)],
    ["d", new Uint8Array([1])],
  ];

  it("reads back exactly what it wrote, across frames", () => {
    const encoded = encodeSnapshot(entries);
    assert.equal(encoded.entries, 4);
    assert.ok(encoded.parts.length >= 3, "header and more than one frame");
    assert.deepEqual(decodeSnapshot(concatBytes(encoded.parts), manifestFor(encoded)), entries);
    const empty = encodeSnapshot([]);
    assert.deepEqual(decodeSnapshot(concatBytes(empty.parts), manifestFor(empty)), []);
  });

  it("refuses data that disagrees with its manifest anywhere", () => {
    const encoded = encodeSnapshot(entries);
    const manifest = manifestFor(encoded);
    const data = concatBytes(encoded.parts);
    const flipped = data.slice();
    flipped[data.length - 3]! ^= 1;
    const refused = (bytes: Uint8Array, m: SnapshotManifest, why: RegExp): void =>
      assert.throws(
        () => decodeSnapshot(bytes, m),
        (error) => error instanceof DecodeError && why.test(error.message),
      );
    // Damage shows in a frame's checksum as the data streams in; the SHA-256 covers the rest.
    refused(flipped, manifest, /damaged/);
    refused(data, { ...manifest, sha256: "0".repeat(64) }, /SHA-256/);
    refused(data.subarray(0, data.length - 1), manifest, /bytes/);
    refused(data, { ...manifest, entries: 5 }, /entries/);
    // A manifest made for the damaged bytes: the frames' own checksums still refuse them.
    refused(flipped, { ...manifest, sha256: toHex(sha256(flipped)) }, /damaged/);
  });

  it("reads data streamed in chunks of any size, and refuses it damaged or cut short", async () => {
    const encoded = encodeSnapshot(entries);
    const manifest = manifestFor(encoded);
    const data = concatBytes(encoded.parts);
    const chunked = (bytes: Uint8Array, size: number) =>
      (async function* () {
        for (let at = 0; at < bytes.length; at += size) yield bytes.slice(at, at + size);
      })();
    const readAll = async (bytes: Uint8Array, size: number, m = manifest) => {
      const out: [string, Uint8Array][] = [];
      for await (const entry of readSnapshot(chunked(bytes, size), m)) out.push(entry);
      return out;
    };
    for (const size of [4096, 65_537, 1024 * 1024, data.length])
      assert.deepEqual(await readAll(data, size), entries, `chunks of ${size}`);
    // Every split of small data, down to a byte at a time.
    const small = encodeSnapshot(entries.filter(([key]) => key !== "c"));
    const smallData = concatBytes(small.parts);
    for (const size of [1, 2, 7, 15, 16, 17, 31])
      assert.deepEqual(
        await readAll(smallData, size, manifestFor(small)),
        entries.filter(([key]) => key !== "c"),
        `chunks of ${size}`,
      );
    const flipped = data.slice();
    flipped[40]! ^= 1;
    await assert.rejects(readAll(flipped, 4096), /damaged/);
    await assert.rejects(readAll(data.subarray(0, data.length - 5), 4096), /bytes/);
    await assert.rejects(readAll(data, 4096, { ...manifest, entries: 3 }), /entries/);
  });

  it("copies a store, its FSM entry first, with the applied LSN the copy records", async () => {
    const store = new MemoryStore();
    const batch = store.beginBatch();
    const tables = new Tables(batch);
    tables.putFsm({ ...tables.fsm(), appliedLsn: 41 });
    batch.put("a/x", new Uint8Array([5]));
    batch.put("s/x", new Uint8Array(700 * 1024).fill(1));
    batch.put("s/y", new Uint8Array(700 * 1024).fill(2));
    store.commit(batch);
    let pauses = 0;
    const copy = copyStore(store, () => {
      pauses++;
      return Promise.resolve();
    });
    assert.equal(copy.appliedLsn, 41);
    const parts: Uint8Array[] = [];
    for await (const part of copy.data) parts.push(part);
    const summary = copy.summary();
    assert.equal(summary.entries, 4);
    assert.ok(pauses >= 1, "a pause after a frame");
    const manifest = { ...manifestFor({ ...summary, parts }), appliedLsn: 41 };
    const keys = decodeSnapshot(concatBytes(parts), manifest).map(([key]) => key);
    assert.equal(keys[0], "f");
    assert.deepEqual(keys.slice(1), ["a/x", "s/x", "s/y"]);
    // An empty store has applied nothing: nothing to copy.
    assert.equal(copyStore(new MemoryStore(), () => Promise.resolve()).appliedLsn, 0);
  });

  it("reads manifests only when every field is there and of its type", () => {
    const good = manifestFor(encodeSnapshot(entries));
    assert.deepEqual(parseSnapshotManifest(JSON.stringify(good)), good);
    for (const bad of [
      "not json",
      "null",
      JSON.stringify({ ...good, formatVersion: 2 }),
      JSON.stringify({ ...good, appliedLsn: -1 }),
      JSON.stringify({ ...good, sha256: "xyz" }),
      JSON.stringify({ ...good, keyRange: undefined }),
    ]) {
      assert.throws(() => parseSnapshotManifest(bad), DecodeError, bad);
    }
  });
});
