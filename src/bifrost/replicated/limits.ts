/**
 * Named limits of the replicated loglet, units last. Time is counted in ticks: the driver calls
 * `tick()` every `tickMs` of its clock, so the machines never read a clock. Relationships between
 * limits are asserted by `checkLogletLimits`, once, where the limits are built.
 */

import { assert } from "../../core/index.js";

export interface ReplicatedLogletLimits {
  /** Wall (or virtual) milliseconds per tick; only drivers use it, to arm the tick timer. */
  readonly tickMs: number;
  /** A store not answered within this many ticks counts as failed: the server is graylisted. */
  readonly storeTimeoutTicks: number;
  /** Requests of readers, seal and repair not answered within this many ticks fail. */
  readonly requestTimeoutTicks: number;
  /** An append forwarded to a remote sequencer fails (outcome unknown) after this many ticks. */
  readonly remoteAppendTimeoutTicks: number;
  /** A graylisted server is left out of new spreads for this long. */
  readonly graylistTicks: number;
  /** Records assigned offsets but not yet committed, at most; more appends wait in a queue. */
  readonly inflightRecordsMax: number;
  /** Records one batch (one store wave) carries at most; concurrent appends share batches. */
  readonly batchRecordsMax: number;
  /** Payload bytes after which a batch is sent without waiting for more appends. */
  readonly batchBytesMax: number;
  /** Appends waiting for the in-flight window, at most; more are refused as unavailable. */
  readonly queuedAppendsMax: number;
  /** After this many ticks without a store, the sequencer tells the nodeset its committed tail. */
  readonly releaseIdleTicks: number;
  /** A seal/find-tail attempt that lost to a higher ballot or failed waits up to this long. */
  readonly coordinatorBackoffTicksMax: number;
  /** Non-sequencer handles ask for the tail this often while someone waits for it. */
  readonly tailPollTicks: number;
  /** Records one read request returns at most. */
  readonly readRecordsMax: number;
  /** Payload bytes one read request returns at most (at least one record is always returned). */
  readonly readBytesMax: number;
}

export const DEFAULT_LOGLET_LIMITS: ReplicatedLogletLimits = {
  tickMs: 10,
  storeTimeoutTicks: 100,
  requestTimeoutTicks: 100,
  remoteAppendTimeoutTicks: 500,
  graylistTicks: 300,
  inflightRecordsMax: 4096,
  batchRecordsMax: 1024,
  batchBytesMax: 1024 * 1024,
  queuedAppendsMax: 10_000,
  releaseIdleTicks: 5,
  coordinatorBackoffTicksMax: 20,
  tailPollTicks: 5,
  readRecordsMax: 1024,
  readBytesMax: 4 * 1024 * 1024,
};

export function checkLogletLimits(limits: ReplicatedLogletLimits): ReplicatedLogletLimits {
  for (const [name, value] of Object.entries(limits)) {
    assert(Number.isSafeInteger(value) && value > 0, `limit ${name} must be a positive integer`);
  }
  assert(
    limits.graylistTicks >= limits.storeTimeoutTicks,
    "a graylisted server stays out at least as long as a store may take",
  );
  assert(limits.batchRecordsMax <= limits.inflightRecordsMax, "a batch fits the in-flight window");
  assert(
    limits.remoteAppendTimeoutTicks > limits.storeTimeoutTicks,
    "a forwarded append outlives at least one store timeout and retry",
  );
  assert(
    limits.coordinatorBackoffTicksMax < limits.requestTimeoutTicks,
    "a coordinator backs off less than a request may wait",
  );
  return limits;
}
