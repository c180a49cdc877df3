/**
 * Every static bound in one place, named with its unit last. Relationships between limits are asserted
 * once, when this module loads.
 */

import { assert } from "./assert.js";

const MiB = 1024 * 1024;
const DAY_MS = 86_400_000;

export const limits = {
  partitionsDefault: 24,
  /** Largest request body the ingress accepts (configurable; Restate's default message limit). */
  ingressBodyBytesMax: 32 * MiB,
  /** Largest single service-protocol message accepted from an SDK. */
  protocolMessageBytesMax: 32 * MiB,
  /** Largest log record. A journal entry must fit with its envelope. */
  logRecordBytesMax: 48 * MiB,
  /** A local loglet segment is rolled once it grows past this size. */
  segmentBytesTarget: 64 * MiB,
  /** Records coalesced into one group commit at most. */
  groupCommitRecordsMax: 4096,
  /** Bytes coalesced into one group commit at most. */
  groupCommitBytesMax: 16 * MiB,
  /** Records a partition processor applies in one store batch at most. */
  applyBatchRecordsMax: 512,
  /** Invocation attempts running at once on a node; more wait in a queue. */
  invokerConcurrencyMax: 1000,
  /**
   * Attempts of one-way invocations in their first `invokerBackgroundStartingMs` at once on a node;
   * more one-way invocations wait (see src/invoker/invoker.ts).
   */
  invokerBackgroundStartingMax: 128,
  invokerBackgroundStartingMs: 1000,
  /**
   * Timers a partition's timer service keeps in memory (the earliest); the rest wait in the store
   * and are loaded as these fire. Every retained completion has a cleanup timer, so most partitions
   * hold more than this.
   */
  timersInMemoryMax: 1024,
  /**
   * Recent records a local loglet keeps in memory for readers at its tail (the partition's apply
   * loop reads each batch right after it is appended); older reads go to the files.
   */
  logTailCacheRecordsMax: 1024,
  /** Outbox messages a shuffle has in flight at once. */
  shuffleInFlightMax: 256,
  inactivityTimeoutMsDefault: 60_000,
  abortTimeoutMsDefault: 600_000,
  retryInitialIntervalMsDefault: 500,
  retryExponentiationFactorDefault: 2,
  retryMaxIntervalMsDefault: 60_000,
  retryMaxAttemptsDefault: 70,
  /**
   * A failing invocation's attempts are logged as warnings at most once per this interval (the
   * others at debug level): Restate warns at every retry, which floods a log when one retries fast.
   */
  invokerFailureWarningIntervalMs: 10_000,
  journalRetentionMsDefault: DAY_MS,
  idempotencyRetentionMsDefault: DAY_MS,
  workflowCompletionRetentionMsDefault: DAY_MS,
  /** Eager state larger than this is not sent in Start; the SDK then reads lazily. */
  eagerStateBytesMax: 32 * MiB,
  /** HTTP/2 streams per connection to a deployment before another connection is opened. */
  endpointStreamsPerConnectionMax: 128,
  endpointConnectTimeoutMs: 10_000,
  discoveryTimeoutMs: 30_000,
  shutdownTimeoutMs: 20_000,
} as const;

assert(
  limits.protocolMessageBytesMax < limits.logRecordBytesMax,
  "a journal entry must fit a record",
);
assert(
  limits.logRecordBytesMax <= limits.groupCommitBytesMax * 4,
  "records fit a few group commits",
);
assert(limits.abortTimeoutMsDefault > limits.inactivityTimeoutMsDefault, "abort after inactivity");
assert(limits.retryMaxIntervalMsDefault >= limits.retryInitialIntervalMsDefault, "retry bounds");
