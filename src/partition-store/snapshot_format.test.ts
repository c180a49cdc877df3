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
  parseSnapshotManifest,
  snapshotStore,
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
    refused(flipped, manifest, /SHA-256/);
    refused(data.subarray(0, data.length - 1), manifest, /bytes/);
    refused(data, { ...manifest, entries: 5 }, /entries/);
    // A manifest made for the damaged bytes: the frames' own checksums still refuse them.
    refused(flipped, { ...manifest, sha256: toHex(sha256(flipped)) }, /damaged/);
  });

  it("copies a store with the applied LSN the copy records", async () => {
    const store = new MemoryStore();
    const batch = store.beginBatch();
    const tables = new Tables(batch);
    tables.putFsm({ ...tables.fsm(), appliedLsn: 41 });
    batch.put("s/x", new Uint8Array([5]));
    store.commit(batch);
    const snapshot = await snapshotStore(store, () => Promise.resolve());
    assert.equal(snapshot.appliedLsn, 41);
    assert.equal(snapshot.entries, 2);
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
