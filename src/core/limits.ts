/**
 * Every static bound in one place, named with its unit last. Relationships between limits are asserted
 * once, when this module loads.
 */

import { assert } from "./assert.js";

const MiB = 1024 * 1024;
const DAY_MS = 86_400_000;

export const limits = {
  partitionsDefault: 24,
  /**
   * Keel's message limit (Restate's `networking.message-size-limit`): the largest request body the
   * ingress accepts, and the base of the protocol limits below. The docs' table of limits
   * (docs/ARCHITECTURE.md, "Limits") says what happens beyond each.
   */
  messageBytesMax: 32 * MiB,
  /** Largest request body the ingress accepts by default (configurable, up to `messageBytesMax`). */
  ingressBodyBytesMax: 32 * MiB,
  /**
   * Largest service-protocol message accepted from an SDK: a command, a run result, the output
   * (Restate's `worker.invoker.message-size-limit`: the message limit plus a quarter MiB of room).
   * A larger one fails the attempt, which is retried by the service's policy.
   */
  protocolMessageBytesMax: 32 * MiB + 256 * 1024,
  /**
   * Largest message Keel sends to an SDK in one attempt: Start with its eager state, a journal entry,
   * a notification. Whatever the edges admit fits (a body with its headers, a state value, a result
   * the SDK sent); anything larger pauses the invocation at once, as Restate does when a message
   * exceeds its per-invocation memory bound: retrying could not help.
   */
  attemptMessageBytesMax: 33 * MiB,
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
  /**
   * Bytes of those records at most (the newest record stays however large): a burst of large
   * messages must not stay in memory (24 partitions held 24 records of 30 MiB each).
   */
  logTailCacheBytesMax: 4 * MiB,
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
  /**
   * State sent eagerly with Start, in bytes of keys and values (Restate's default
   * `eager-state-size-limit`): entries are sent in key order while they fit; with any left out, the
   * state is marked partial and the SDK reads the rest lazily.
   */
  eagerStateBytesMax: 32 * MiB,
  /** HTTP/2 streams per connection to a deployment before another connection is opened. */
  endpointStreamsPerConnectionMax: 128,
  /**
   * Request bytes one stream to an endpoint may have queued in its HTTP/2 session; the rest waits
   * on the endpoint worker until the endpoint reads. Node counts queued bytes against the session's
   * memory, and a session over it fails every stream on it (NGHTTP2_ENHANCE_YOUR_CALM).
   */
  endpointWriteAheadBytes: 256 * 1024,
  /** Largest piece of a request body handed to a stream at once. */
  endpointWriteChunkBytes: 64 * 1024,
  /**
   * Memory Node lets one HTTP/2 session to an endpoint use (its default is 10 MB): every stream's
   * write-ahead plus header tables and frames in flight, with room to spare.
   */
  endpointSessionMemoryBytesMax: 64 * MiB,
  /**
   * Flow-control windows Keel grants an endpoint for its responses (Restate's service client uses
   * the same): the SDK's server queues what it cannot send yet, and its session refuses new streams
   * while more than 10 MB wait, so a large message must reach Keel quickly.
   */
  endpointStreamWindowBytes: 2 * MiB,
  endpointConnectionWindowBytes: 5 * MiB,
  endpointConnectTimeoutMs: 10_000,
  discoveryTimeoutMs: 30_000,
  /**
   * Validity of a request-identity token either side of its issuing time (`nbf` and `exp`), as
   * Restate's default `request-identity-expiration`: bounds both a token's life and the clock skew
   * an endpoint tolerates.
   */
  requestIdentityLeewaySeconds: 60,
  /**
   * Identity tokens kept for reuse within their issuing second (one per path and object key): a
   * token depends only on those and the second, and Ed25519 signatures are deterministic, so a
   * reused token is the very bytes a new signature would give.
   */
  requestIdentityTokensCachedMax: 4_096,
  /** Longer object keys are signed each time: 4,096 cached tokens stay within a few megabytes. */
  requestIdentityCachedSubjectCharsMax: 256,
  shutdownTimeoutMs: 20_000,
  /** The longest ingress request target Restate's HTTP stack parses (`http::Uri`'s limit). */
  ingressTargetBytesMax: 65_534,
  /** The largest ingress request head (request line and headers) Restate's HTTP stack reads. */
  ingressHeadBytesMax: 8192 + 4096 * 100,
  /** Admin API bodies: deployment registrations and schema changes. */
  adminBodyBytesMax: 8 * MiB,
  /** Admin API bodies: SQL queries. */
  adminQueryBodyBytesMax: 1 * MiB,
  /** Admin API bodies: a virtual object's new state. */
  adminStateBodyBytesMax: 32 * MiB,
  /** Admin API bodies: subscriptions. */
  adminSubscriptionBodyBytesMax: 1 * MiB,
  /** Kafka records a subscription takes at once; they are appended before the next are taken. */
  kafkaBatchRecordsMax: 500,
  /**
   * Invocations waiting for an invoker slot above which Kafka subscriptions pause their partitions
   * (they resume below half of it): records wait in Kafka, not in the node's memory.
   */
  kafkaPauseQueuedInvocations: 10_000,
  /** Largest frame the node transport accepts from a peer (a batch of log records fits). */
  nodeFrameBytesMax: 80 * MiB,
  /** Bytes waiting for one peer of the node transport before new frames to it are refused. */
  nodePeerQueueBytesMax: 64 * MiB,
  /** Metadata clients' requests a member holds open at once; beyond, they go unanswered and retry. */
  metadataRequestsOpenMax: 10_000,
} as const;

assert(
  limits.protocolMessageBytesMax < limits.logRecordBytesMax,
  "a journal entry must fit a record",
);
assert(limits.ingressBodyBytesMax <= limits.messageBytesMax, "the ingress admits messages");
assert(
  limits.messageBytesMax < limits.protocolMessageBytesMax &&
    limits.protocolMessageBytesMax < limits.attemptMessageBytesMax,
  "what an SDK may send, Keel may send back: a state value, a result, an output",
);
assert(limits.eagerStateBytesMax <= limits.messageBytesMax, "eager state fits Start");
assert(limits.logRecordBytesMax < limits.nodeFrameBytesMax, "a log record fits a node frame");
assert(limits.nodeFrameBytesMax <= limits.nodePeerQueueBytesMax * 2, "frames fit a peer's queue");
assert(
  limits.adminStateBodyBytesMax <= limits.messageBytesMax,
  "a state set by an operator fits a message",
);
assert(limits.attemptMessageBytesMax < limits.logRecordBytesMax, "an entry fits a record");
assert(
  limits.logRecordBytesMax <= limits.groupCommitBytesMax * 4,
  "records fit a few group commits",
);
assert(
  limits.endpointWriteAheadBytes * limits.endpointStreamsPerConnectionMax <
    limits.endpointSessionMemoryBytesMax,
  "the write-ahead of every stream fits an HTTP/2 session's memory",
);
assert(
  limits.endpointWriteChunkBytes <= limits.endpointWriteAheadBytes,
  "a chunk fits the write-ahead",
);
assert(limits.abortTimeoutMsDefault > limits.inactivityTimeoutMsDefault, "abort after inactivity");
assert(limits.retryMaxIntervalMsDefault >= limits.retryInitialIntervalMsDefault, "retry bounds");
