import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryObjectStore } from "../object-store/memory_object_store.js";
import type { Logger } from "../platform/ports.js";
import {
  SNAPSHOT_FORMAT_VERSION,
  encodeSnapshot,
  type SnapshotManifest,
} from "./snapshot_format.js";
import { SnapshotRepository } from "./snapshot_repository.js";

function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    warnings,
    debug: () => undefined,
    info: () => undefined,
    warn: (message) => void warnings.push(message),
    error: () => undefined,
  };
}

async function save(
  repository: SnapshotRepository,
  lsn: number,
  value: number,
  clusterName = "c",
): Promise<SnapshotManifest> {
  const encoded = encodeSnapshot([["k", new Uint8Array([value])]]);
  const heading = {
    formatVersion: SNAPSHOT_FORMAT_VERSION,
    snapshotId: `snap_${lsn}`,
    clusterName,
    nodeName: "n",
    partitionId: 2,
    keyRange: { from: "0", to: "9" },
    appliedLsn: lsn,
    createdAtMs: lsn,
  };
  return repository.save(heading, { data: encoded.parts, summary: () => encoded });
}

/** Restores into an array; the entries land only once the data read back whole. */
async function restore(
  repository: SnapshotRepository,
  minLsn: number,
  clusterName = "c",
): Promise<{ manifest: SnapshotManifest; entries: [string, Uint8Array][] } | undefined> {
  let entries: [string, Uint8Array][] = [];
  const manifest = await repository.restore(clusterName, 2, minLsn, async (streamed) => {
    const read: [string, Uint8Array][] = [];
    for await (const entry of streamed) read.push(entry);
    entries = read;
  });
  return manifest === undefined ? undefined : { manifest, entries };
}

describe("snapshot repository", () => {
  it("lists newest first by LSN, restores the newest that covers, prunes the oldest", async () => {
    const objects = new MemoryObjectStore();
    const repository = new SnapshotRepository(objects, recordingLogger());
    await save(repository, 9, 1);
    await save(repository, 100, 2);
    await save(repository, 20, 3);
    assert.deepEqual(
      (await repository.list(2)).map((m) => m.appliedLsn),
      [100, 20, 9],
    );
    const restored = await restore(repository, 50);
    assert.equal(restored?.manifest.appliedLsn, 100);
    assert.deepEqual(restored?.entries, [["k", new Uint8Array([2])]]);
    assert.equal(await restore(repository, 101), undefined, "none covers LSN 101");
    assert.equal(await repository.prune(2, 2), 1);
    assert.deepEqual(
      (await repository.list(2)).map((m) => m.appliedLsn),
      [100, 20],
    );
    assert.ok(![...objects.objects.keys()].some((k) => k.includes("lsn_00000000000000000009")));
  });

  it("skips a damaged snapshot or another cluster's for an older good one, and says so", async () => {
    const objects = new MemoryObjectStore();
    const logger = recordingLogger();
    const repository = new SnapshotRepository(objects, logger);
    await save(repository, 10, 1);
    await save(repository, 20, 2);
    await save(repository, 30, 3, "another");
    const dataKey = [...objects.objects.keys()].find(
      (k) => k.includes("lsn_00000000000000000020") && k.endsWith("/data"),
    )!;
    objects.objects.get(dataKey)![20]! ^= 0xff;
    const restored = await restore(repository, 5);
    assert.equal(restored?.manifest.appliedLsn, 10);
    assert.deepEqual(logger.warnings, [
      "skipping a snapshot of another cluster",
      "skipping a snapshot that cannot be restored",
    ]);
    objects.objects.set(
      [...objects.objects.keys()].find(
        (k) => k.includes("lsn_00000000000000000010") && k.endsWith(".json"),
      )!,
      new TextEncoder().encode("{ torn"),
    );
    assert.deepEqual(
      (await repository.list(2)).map((m) => m.appliedLsn),
      [30, 20],
    );
  });
});
