/**
 * A fault injector loaded into keel-server with `node --import`: a crash between the log's fsync and
 * the partition store's commit. Inert until the process receives SIGUSR2; from then on it lets
 * `KEEL_FAULT_COMMITS_ALLOWED` more store batches commit, and when the next one is committed it
 * kills the process at once (SIGKILL to itself) instead. The processor only applies records read
 * back from the log, so that batch's records are durable while the store never sees them.
 */

import { LmdbPartitionStore } from "../../src/partition-store/io/lmdb_store.js";
import type { PartitionTxn } from "../../src/partition-store/store.js";

const allowed = Number(process.env["KEEL_FAULT_COMMITS_ALLOWED"] ?? "0");
let remaining: number | undefined;
process.on("SIGUSR2", () => {
  remaining = allowed;
});

const prototype = LmdbPartitionStore.prototype;
const commit = Object.getOwnPropertyDescriptor(prototype, "commit")!.value as (
  this: LmdbPartitionStore,
  batch: PartitionTxn,
) => void;
prototype.commit = function (this: LmdbPartitionStore, batch: PartitionTxn) {
  if (remaining !== undefined && remaining-- <= 0) {
    process.kill(process.pid, "SIGKILL");
    return;
  }
  commit.call(this, batch);
};
