/**
 * The partition processor: the apply loop over a partition's log, leadership through the log
 * (epochs, AnnounceLeader), proposals and their waiters, durable timers, the shuffle between
 * partitions, snapshots of its store (and the log trimming they allow), and offline replay without
 * leadership.
 */

export { PartitionProcessor } from "./partition_processor.js";
export type {
  AttachResult,
  EnvelopeCommand,
  InvokeOrigin,
  PartitionDescription,
  PartitionHandle,
  PartitionInvoker,
  ProcessorTestOnlyFaults,
} from "./partition_processor.js";
export { assertStoreWithinLog, replayPartition } from "./replay.js";
export { PartitionSnapshots } from "./snapshots.js";
export type { SnapshotDeps, SnapshotSettings } from "./snapshots.js";
