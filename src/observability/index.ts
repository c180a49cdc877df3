/**
 * Observability: the port through which the node's pure parts report what they do, so that an
 * adapter (io/: Prometheus through prom-client) can count it. The pure parts never see a metrics
 * library, a clock or a label: each event has its own method, and the adapter owns names, labels and
 * units. `NO_METRICS` is the port's twin for the simulator and for tests, and for a node started
 * with metrics off.
 *
 * Tracing has a port of its own (`InvocationTracing`): the invoker and the partitions report an
 * invocation's attempts, journal entries and completion by invocation id, and the adapter (io/:
 * OpenTelemetry) keeps the spans. `NO_TRACING` is its twin.
 *
 * Invariants:
 * - Reporting is cheap and never fails: a method bumps a number or observes a value the adapter
 *   holds; the caller builds no labels or strings per event, and nothing throws into it.
 * - Latencies are measured by the adapter: `startTimer()` hands the caller an opaque stamp from the
 *   adapter's own monotonic clock, and the caller gives it back when the work ends. Pure code stays
 *   free of clocks (its Clock port is wall time, with millisecond steps, and virtual in simulation).
 * - Labels stay bounded: partitions (a fixed count), log servers (the cluster's nodes), outcomes
 *   (small enums) and HTTP status codes. No invocation id, no object key, no service name reaches a
 *   label.
 */

/** How an invocation ended, as the leader applied it. */
export type InvocationOutcome = "succeeded" | "failed";

/** How one attempt against a service endpoint ended (the invoker's `AttemptOutcome` kinds). */
export type AttemptOutcomeKind = "ended" | "suspended" | "aborted" | "failed";

/** An opaque stamp from `startTimer`; give it back to the method that ends the measured work. */
export type TimerStamp = number & { readonly __timerStamp: never };

export interface InvokerMetrics {
  attemptStarted(): void;
  attemptFinished(outcome: AttemptOutcomeKind): void;
  /** A failed attempt will be tried again after a delay (not counted when the invoker gives up). */
  retryScheduled(): void;
  /** The endpoint answered an attempt's request (status and headers) this long after it was sent. */
  endpointResponded(started: TimerStamp): void;
}

export interface SnapshotMetrics {
  /** A partition snapshot was written to its destination. */
  snapshotTaken(bytes: number, started: TimerStamp): void;
}

export interface PartitionMetrics {
  /** The leader applied an invocation's completion (every invocation completes once). */
  invocationCompleted(outcome: InvocationOutcome): void;
  leadershipGained(partition: number): void;
  leadershipLost(partition: number): void;
}

export interface LogMetrics {
  /** A batch of `records` records, `bytes` bytes in all, was appended and is durable. */
  appendCommitted(records: number, bytes: number, started: TimerStamp): void;
  appendFailed(): void;
}

export interface IngressMetrics {
  /** The ingress answered a request with this HTTP status (2xx to 5xx). */
  requestAnswered(statusCode: number, started: TimerStamp): void;
}

export interface SqlMetrics {
  queryAnswered(succeeded: boolean, started: TimerStamp): void;
}

export interface LogletMetrics {
  /**
   * A store request of this node's sequencer to a log server ended: answered (whatever the answer),
   * or not (timeout, connection lost).
   */
  storeAnswered(logServer: number, answered: boolean, started: TimerStamp): void;
}

export interface KeelMetrics {
  readonly ingress: IngressMetrics;
  readonly sql: SqlMetrics;
  readonly invoker: InvokerMetrics;
  readonly partitions: PartitionMetrics;
  readonly log: LogMetrics;
  readonly snapshots: SnapshotMetrics;
  readonly loglet: LogletMetrics;
  startTimer(): TimerStamp;
}

const nothing = (): void => undefined;

/** Counts nothing: the simulator, unit tests, and a node with metrics off. */
export const NO_METRICS: KeelMetrics = {
  ingress: { requestAnswered: nothing },
  sql: { queryAnswered: nothing },
  invoker: {
    attemptStarted: nothing,
    attemptFinished: nothing,
    retryScheduled: nothing,
    endpointResponded: nothing,
  },
  snapshots: { snapshotTaken: nothing },
  loglet: { storeAnswered: nothing },
  partitions: {
    invocationCompleted: nothing,
    leadershipGained: nothing,
    leadershipLost: nothing,
  },
  log: { appendCommitted: nothing, appendFailed: nothing },
  startTimer: () => 0 as TimerStamp,
};

/** An attempt about to start, as a trace names it. */
export interface AttemptTrace {
  /** `inv_1…` */
  readonly invocationId: string;
  /** `Service/handler` or `Object/key/handler`. */
  readonly target: string;
  readonly partition: number;
  /**
   * The W3C `traceparent` stored with the invocation (its ingress request's span, or the calling
   * attempt's), "" for none: the invocation's spans go under it on whichever node runs the attempt.
   */
  readonly parent: string;
}

export interface InvocationTracing {
  /** An attempt starts; returns the headers that carry its trace context to the endpoint, if any. */
  attemptStarted(attempt: AttemptTrace): Readonly<Record<string, string>> | undefined;
  /**
   * The attempt's service wrote a journal command (`Run`, `Call`, `Sleep`, `GetLazyState`, ...);
   * `completionId`: the completion that brings its result, for a command that waits for one.
   */
  journalEntry(invocationId: string, command: string, completionId: number | undefined): void;
  /** The leader applied a completion of the invocation (a sleep's end, a call's result, ...). */
  entryCompleted(invocationId: string, completionId: number): void;
  attemptFinished(invocationId: string, outcome: AttemptOutcomeKind): void;
  /** The leader applied the invocation's completion. */
  invocationCompleted(invocationId: string, outcome: InvocationOutcome): void;
}

/** Traces nothing (tracing off, the simulator, unit tests). */
export const NO_TRACING: InvocationTracing = {
  attemptStarted: () => undefined,
  journalEntry: nothing,
  entryCompleted: nothing,
  attemptFinished: nothing,
  invocationCompleted: nothing,
};
