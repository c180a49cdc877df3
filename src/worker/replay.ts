/**
 * Replay without leadership: applies a partition's log to its store from the store's applied LSN up
 * to a target LSN (by default the log's tail), discarding every action, as a follower would. It
 * proposes nothing, so the log is left as it is: that makes it the way to compare stores at an equal
 * applied LSN (a restart appends a new AnnounceLeader, so a restarted node's LSNs move on).
 *
 * Used by the offline replay tool (`keel-replay`) and by the crash-recovery tests, which compare the
 * digest of a recovered store with that of a store rebuilt from LSN 1.
 */

import { Lsn, type PartitionId, KeelError, limits, type PartitionTable } from "../core/index.js";
import type { VirtualLog } from "../bifrost/index.js";
import { type Action, PartitionStateMachine } from "../partition/index.js";
import { TableReader, type PartitionStore } from "../partition-store/index.js";

/**
 * A store that has applied records the log no longer holds cannot be recovered by replay: the log
 * lost acknowledged records (a truncated or replaced log, or a store from another data directory).
 */
export function assertStoreWithinLog(
  partitionId: PartitionId,
  appliedLsn: number,
  tail: Lsn,
): void {
  if (appliedLsn < tail) return;
  throw new KeelError(
    "storage",
    `partition ${partitionId}: the store has applied LSN ${appliedLsn}, but the log ends at LSN ` +
      `${tail - 1}: records the store applied are missing from the log (a lost or truncated log, ` +
      `or a store from another data directory); refusing to start`,
  );
}

export interface ReplayResult {
  /** The applied LSN the store had before the replay. */
  readonly storeAppliedLsn: number;
  /** The applied LSN after the replay. */
  readonly appliedLsn: number;
  /** The log's tail (first unwritten LSN) when the replay started. */
  readonly logTail: number;
}

/** Applies the log to `store` up to `throughLsn` (default: the tail), one store batch at a time. */
export async function replayPartition(args: {
  readonly partitionId: PartitionId;
  readonly partitionTable: PartitionTable;
  readonly log: VirtualLog;
  readonly store: PartitionStore;
  readonly throughLsn?: number;
}): Promise<ReplayResult> {
  const { partitionId, log, store } = args;
  const machine = new PartitionStateMachine(
    partitionId,
    args.partitionTable,
    new TableReader(store.reader()).fsm(),
  );
  const storeAppliedLsn = machine.appliedLsn;
  const logTail = await log.findTail();
  assertStoreWithinLog(partitionId, storeAppliedLsn, logTail);
  const target = args.throughLsn ?? logTail - 1;
  if (target >= logTail || target < storeAppliedLsn) {
    throw new KeelError(
      "bad_request",
      `partition ${partitionId}: cannot replay through LSN ${target}: the store is at ` +
        `${storeAppliedLsn} and the log ends at ${logTail - 1}`,
    );
  }
  const discarded: Action[] = [];
  while (machine.appliedLsn < target) {
    const from = machine.appliedLsn + 1;
    const entries = await log.read(
      Lsn(from),
      Math.min(limits.applyBatchRecordsMax, target - machine.appliedLsn),
    );
    if (entries.length === 0)
      throw new KeelError("storage", `partition ${partitionId}: log has no record at LSN ${from}`);
    const batch = store.beginBatch();
    for (const entry of entries) {
      if (entry.kind === "trimGap") {
        throw new KeelError(
          "storage",
          `partition ${partitionId}: log trimmed at ${entry.from}..${entry.to} before it was applied`,
        );
      }
      machine.apply(batch, entry.lsn, entry.payload, discarded);
      discarded.length = 0;
    }
    store.commit(batch);
  }
  await store.flushed();
  return { storeAppliedLsn, appliedLsn: machine.appliedLsn, logTail };
}
