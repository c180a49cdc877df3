#!/usr/bin/env node
// Memory of a partition snapshot and of its restore, for a store larger than the memory they should
// take (after a build: it loads dist/).
//
//   node bench/snapshot_memory.mjs [--store-mb 512] [--value-kb 16] [--destination file|s3]
//
// Fills one LMDB partition store (an FSM entry and `store-mb` of values), takes a snapshot of it into
// a directory (or the test S3 server, s3rver, as a multipart upload) the way a node does (copyStore,
// SnapshotRepository.save), then restores it into a second, empty store (SnapshotRepository.restore,
// replaceAll). Samples the process's memory every 20 ms; prints the peak of the JavaScript heap and
// buffers above the level before each phase (and of RSS, which also counts the store's pages LMDB
// maps in as it reads them), and each phase's time. Everything is in a temporary directory, removed at the end.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";

const HERE = join(fileURLToPath(import.meta.url), "..");
const DIST = join(HERE, "..", "dist");
const { values: o } = parseArgs({
  options: {
    "store-mb": { type: "string", default: "512" },
    "value-kb": { type: "string", default: "16" },
    destination: { type: "string", default: "file" },
  },
});
const STORE_BYTES = Number(o["store-mb"]) * 1024 * 1024;
const VALUE_BYTES = Number(o["value-kb"]) * 1024;

const { openLmdbEnvironment } = await import(join(DIST, "src/partition-store/io/index.js"));
const { SnapshotRepository, Tables, copyStore, SNAPSHOT_FORMAT_VERSION, TableReader } = await import(
  join(DIST, "src/partition-store/index.js")
);
const { openObjectStore } = await import(join(DIST, "src/object-store/io/index.js"));

const root = mkdtempSync(join(tmpdir(), "keel-snapshot-memory-"));
const logger = { debug() {}, info() {}, warn: console.warn, error: console.error };
let s3;
try {
  const { environment } = await openLmdbEnvironment(join(root, "store"), (e) => console.error(e));
  const source = environment.partition(0);
  const value = new Uint8Array(VALUE_BYTES).fill(7);
  const count = Math.ceil(STORE_BYTES / VALUE_BYTES);
  for (let written = 0; written < count; ) {
    const batch = source.beginBatch();
    if (written === 0) {
      const tables = new Tables(batch);
      tables.putFsm({ ...tables.fsm(), appliedLsn: 123 });
    }
    for (let i = 0; i < 1000 && written < count; i++, written++)
      batch.put(`s/${String(written).padStart(10, "0")}`, value);
    source.commit(batch);
    await source.flushed();
  }

  let destination = `file://${join(root, "snapshots")}`;
  if (o.destination === "s3") {
    const { startS3Server } = await import(join(DIST, "test/support/s3_server.js"));
    s3 = await startS3Server();
    Object.assign(process.env, s3.credentials);
    destination = `s3://${s3.bucket}/bench`;
  }
  const objects = await openObjectStore(destination, {
    ...(s3 === undefined ? {} : { endpoint: s3.endpoint, pathStyle: true }),
  });
  // As a node does: the checksum with node:crypto.
  const repository = new SnapshotRepository(objects, logger, () => createHash("sha256"));

  const measure = async (name, work) => {
    global.gc?.();
    // The JavaScript heap and buffers: what the process allocates. RSS also counts the store's
    // pages LMDB maps in as they are read (file pages the kernel can drop), so it is shown apart.
    const allocated = () => {
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    const baseRss = process.memoryUsage().rss;
    const base = allocated();
    let peak = base;
    let peakRss = baseRss;
    const sample = () => {
      peak = Math.max(peak, allocated());
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    };
    const timer = setInterval(sample, 20);
    const started = performance.now();
    const result = await work();
    clearInterval(timer);
    sample();
    const mb = (n) => (n / 1024 / 1024).toFixed(0);
    console.log(
      `${name}: ${((performance.now() - started) / 1000).toFixed(1)} s, heap and buffers peak +${mb(peak - base)} MB, RSS peak +${mb(peakRss - baseRss)} MB`,
    );
    return result;
  };

  const manifest = await measure("snapshot", async () => {
    const copy = copyStore(source, () => new Promise((r) => setImmediate(r)), repository.newHash);
    return repository.save(
      {
        formatVersion: SNAPSHOT_FORMAT_VERSION,
        snapshotId: "snap_bench",
        clusterName: "bench",
        nodeName: "n1",
        partitionId: 0,
        keyRange: { from: "0", to: "18446744073709551615" },
        appliedLsn: copy.appliedLsn,
        createdAtMs: Date.now(),
      },
      copy,
    );
  });
  console.log(`  ${manifest.entries} entries, ${(manifest.bytes / 1024 / 1024).toFixed(0)} MB of data`);
  const target = environment.partition(1);
  await measure("restore", async () => {
    const restored = await repository.restore("bench", 0, 1, (entries) => target.replaceAll(entries));
    if (restored === undefined) throw new Error("nothing restored");
  });
  const applied = new TableReader(target.reader()).fsm().appliedLsn;
  let restoredCount = 0;
  for (const [key] of target.exportEntries()) if (key.startsWith("s/")) restoredCount++;
  console.log(`  restored: applied LSN ${applied}, ${restoredCount} entries`);
  if (applied !== 123 || restoredCount !== count) throw new Error("the restored store differs");
  objects.close();
  await environment.close();
} finally {
  await s3?.close();
  rmSync(root, { recursive: true, force: true });
}
