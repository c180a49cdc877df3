/**
 * The metrics port in Prometheus terms, through prom-client: one registry per node (several nodes may
 * share a process: the test kit, tests), every name prefixed `keel_`, units in the names
 * (`_seconds`, `_bytes`, `_total`), labels bounded (see src/observability/index.ts).
 *
 * Cost: events on the hot path bump plain numbers held here (a field, or a slot in a small map by
 * status code); prom-client sees them only when Prometheus scrapes, through each metric's `collect`.
 * Latencies and batch sizes go to `BucketHistogram`s (a bucket search and three additions, no
 * allocation; `bench/metrics_cost.mjs` measures the total: 1.3 µs per `steps` invocation).
 * State that the node keeps anyway (applied LSNs, roles, running attempts, Raft terms) is read at
 * scrape time and costs nothing in between.
 */

import { performance } from "node:perf_hooks";
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import { assert } from "../../core/index.js";
import { BucketHistogram } from "./bucket_histogram.js";
import type { AttemptOutcomeKind, InvocationOutcome, KeelMetrics, TimerStamp } from "../index.js";

/** A partition as a scrape sees it. */
export interface PartitionGaugeSource {
  readonly partitionId: number;
  readonly role: string;
  readonly epoch: number;
  readonly appliedLsn: number;
  /** Records past the applied LSN, up to the log's tail as this node last learned it. */
  readonly lagRecords: number;
  /** Invocation statuses in each phase, indexed by `InvocationPhase` (`INVOCATION_STATUSES`). */
  readonly invocationsByPhase: readonly number[];
}

/** This node's metadata member's Raft state (cluster mode, metadata-server role). */
export interface RaftGaugeSource {
  readonly role: string;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  /** Elections this member started, and won, since the node started. */
  readonly electionsStarted: number;
  readonly electionsWon: number;
}

/** A partition's newest snapshot as a scrape sees it. */
export interface SnapshotGaugeSource {
  readonly partitionId: number;
  readonly createdAtMs: number;
  readonly bytes: number;
}

/** What a scrape reads from the running node, once it exists (`observe`). */
export interface ScrapeSources {
  runningAttempts(): number;
  queuedInvocations(): number;
  backingOffInvocations(): number;
  partitions(): readonly PartitionGaugeSource[];
  /** Each partition's newest snapshot (partitions without one are left out). */
  snapshots(): readonly SnapshotGaugeSource[];
  /** Wall-clock milliseconds, for the age of snapshots (the node's clock). */
  nowMs(): number;
  /** Absent on a node without a metadata member (a single node). */
  readonly metadataMember?: () => RaftGaugeSource | undefined;
}

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** Seconds: from a local fsync (sub-millisecond) to a request that waits for a long invocation. */
const LATENCY_BUCKETS_SECONDS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];
/** Bytes of a snapshot: an empty partition's to a few GiB. */
const SNAPSHOT_BYTES_BUCKETS = [
  1024, 16_384, 262_144, 4_194_304, 67_108_864, 1_073_741_824, 8_589_934_592,
];
/** Records per log append: single proposals up to the largest batches the processors propose. */
const BATCH_RECORD_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

const GAUGES_NAMED_LIKE_COUNTERS = [
  "keel_nodejs_active_handles_total",
  "keel_nodejs_active_requests_total",
  "keel_nodejs_active_resources_total",
];

/** The `status` label of each `InvocationPhase`, by its number (Restate's words where they exist). */
const INVOCATION_STATUSES = ["pending", "scheduled", "invoked", "suspended", "paused", "completed"];

const ATTEMPT_OUTCOMES: readonly AttemptOutcomeKind[] = ["ended", "suspended", "aborted", "failed"];
const INVOCATION_OUTCOMES: readonly InvocationOutcome[] = ["succeeded", "failed"];

export class PrometheusMetrics implements KeelMetrics {
  readonly registry = new Registry();
  private sources: ScrapeSources | undefined;

  private readonly ingressAnswers = new Map<number, number>();
  private readonly ingressLatency: BucketHistogram;
  private readonly sqlAnswers: Record<"succeeded" | "failed", number> = { succeeded: 0, failed: 0 };
  private readonly sqlLatency: BucketHistogram;
  private attemptsStarted = 0;
  private readonly attemptsFinished: Record<AttemptOutcomeKind, number> = {
    ended: 0,
    suspended: 0,
    aborted: 0,
    failed: 0,
  };
  private retries = 0;
  private readonly completions: Record<InvocationOutcome, number> = { succeeded: 0, failed: 0 };
  /** By partition id: [gained, lost]. */
  private readonly leadership = new Map<number, [number, number]>();
  private appends = 0;
  private appendFailures = 0;
  private appendedRecords = 0;
  private appendedBytes = 0;
  private readonly appendBatchRecords: BucketHistogram;
  private readonly appendCommitLatency: BucketHistogram;
  private readonly endpointLatency: BucketHistogram;
  private snapshotsTaken = 0;
  /** By log server: [answered, failed]. */
  private readonly stores = new Map<number, [number, number]>();
  private readonly storeLatency: BucketHistogram;
  private readonly snapshotDuration: BucketHistogram;
  private readonly snapshotSize: BucketHistogram;

  constructor(options: { readonly processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.processMetrics !== false) {
      collectDefaultMetrics({ register: this.registry, prefix: "keel_" });
      // prom-client names three gauges `_total`, which Prometheus keeps for counters (promtool
      // refuses them); their values are the sums of the same gauges by type, which stay.
      for (const name of GAUGES_NAMED_LIKE_COUNTERS) this.registry.removeSingleMetric(name);
    }
    const histogram = (name: string, help: string, buckets: number[]): BucketHistogram =>
      new BucketHistogram(name, help, buckets, this.registry);
    const total = (name: string, help: string, value: () => number): void => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(value());
        },
      });
    };
    const totalsBy = (
      name: string,
      help: string,
      labelNames: readonly string[],
      values: () => Iterable<readonly [Record<string, string>, number]>,
    ): void => {
      new Counter({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          for (const [labels, value] of values()) this.inc(labels, value);
        },
      });
    };
    const gauge = (name: string, help: string, value: () => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(value());
        },
      });
    };

    this.ingressLatency = histogram(
      "keel_ingress_request_duration_seconds",
      "Time from an ingress request's arrival to its answer",
      LATENCY_BUCKETS_SECONDS,
    );
    totalsBy(
      "keel_ingress_requests_total",
      "Ingress requests answered, by HTTP status code",
      ["status_code"],
      () =>
        [...this.ingressAnswers].map(([code, n]) => [{ status_code: String(code) }, n] as const),
    );
    totalsBy(
      "keel_sql_queries_total",
      "SQL queries answered by the admin API, by outcome",
      ["outcome"],
      () => [
        [{ outcome: "succeeded" }, this.sqlAnswers.succeeded],
        [{ outcome: "failed" }, this.sqlAnswers.failed],
      ],
    );
    this.sqlLatency = histogram(
      "keel_sql_query_duration_seconds",
      "Time to answer a SQL query",
      LATENCY_BUCKETS_SECONDS,
    );

    total(
      "keel_invoker_attempts_started_total",
      "Attempts started against service endpoints",
      () => this.attemptsStarted,
    );
    totalsBy(
      "keel_invoker_attempts_finished_total",
      "Attempts that ended, by outcome (ended, suspended, aborted, failed)",
      ["outcome"],
      () =>
        ATTEMPT_OUTCOMES.map((outcome) => [{ outcome }, this.attemptsFinished[outcome]] as const),
    );
    this.endpointLatency = histogram(
      "keel_invoker_endpoint_response_duration_seconds",
      "Time from an attempt's request to the endpoint's response headers",
      LATENCY_BUCKETS_SECONDS,
    );
    total(
      "keel_invoker_retries_total",
      "Failed attempts scheduled to be tried again",
      () => this.retries,
    );
    gauge(
      "keel_invoker_running_attempts",
      "Attempts running now",
      () => this.sources?.runningAttempts() ?? 0,
    );
    gauge(
      "keel_invoker_queued_invocations",
      "Invocations waiting for a free attempt slot",
      () => this.sources?.queuedInvocations() ?? 0,
    );
    gauge(
      "keel_invoker_backing_off_invocations",
      "Invocations waiting out a retry delay after a failed attempt",
      () => this.sources?.backingOffInvocations() ?? 0,
    );

    totalsBy(
      "keel_invocations_completed_total",
      "Invocations completed on the partitions this node leads, by outcome",
      ["outcome"],
      () => INVOCATION_OUTCOMES.map((outcome) => [{ outcome }, this.completions[outcome]] as const),
    );
    totalsBy(
      "keel_partition_leadership_changes_total",
      "Partition leaderships this node gained or lost, by partition",
      ["partition", "change"],
      () =>
        [...this.leadership].flatMap(([partition, [gained, lost]]) => [
          [{ partition: String(partition), change: "gained" }, gained] as const,
          [{ partition: String(partition), change: "lost" }, lost] as const,
        ]),
    );
    const partitionGauge = (
      name: string,
      help: string,
      value: (p: PartitionGaugeSource) => number,
    ): void => {
      const partitions = (): readonly PartitionGaugeSource[] => this.sources?.partitions() ?? [];
      new Gauge({
        name,
        help,
        labelNames: ["partition", "role"],
        registers,
        collect() {
          this.reset();
          for (const p of partitions())
            this.set({ partition: String(p.partitionId), role: p.role }, value(p));
        },
      });
    };
    const partitionsNow = (): readonly PartitionGaugeSource[] => this.sources?.partitions() ?? [];
    new Gauge({
      name: "keel_invocations",
      help:
        "Invocations on the partitions this node leads, by status (pending: in an inbox; invoked: " +
        "running, ready or backing off; completed: kept for their retention)",
      labelNames: ["status"],
      registers,
      collect() {
        const sums = INVOCATION_STATUSES.map(() => 0);
        for (const p of partitionsNow()) {
          if (p.role !== "leader") continue;
          p.invocationsByPhase.forEach((n, phase) => (sums[phase]! += n));
        }
        INVOCATION_STATUSES.forEach((status, phase) => this.set({ status }, sums[phase]!));
      },
    });
    partitionGauge(
      "keel_partition_applied_lsn",
      "The LSN of the last record the partition applied on this node, by partition and role",
      (p) => p.appliedLsn,
    );
    partitionGauge(
      "keel_partition_lag_records",
      "Records of the partition's log this node has not applied yet, up to the log's tail as this " +
        "node last learned it, by partition and role",
      (p) => p.lagRecords,
    );
    partitionGauge(
      "keel_partition_leader_epoch",
      "The partition's leader epoch as this node knows it, by partition and role",
      (p) => p.epoch,
    );

    total(
      "keel_log_appends_total",
      "Batches appended to partition logs and durable",
      () => this.appends,
    );
    total(
      "keel_log_append_failures_total",
      "Batches the log refused (not leader, sealed, disk full)",
      () => this.appendFailures,
    );
    total(
      "keel_log_appended_records_total",
      "Records appended to partition logs and durable",
      () => this.appendedRecords,
    );
    total(
      "keel_log_appended_bytes_total",
      "Payload bytes appended to partition logs and durable",
      () => this.appendedBytes,
    );
    this.appendBatchRecords = histogram(
      "keel_log_append_batch_records",
      "Records per appended batch",
      BATCH_RECORD_BUCKETS,
    );
    this.appendCommitLatency = histogram(
      "keel_log_append_commit_duration_seconds",
      "Time from a batch's append to its being durable",
      LATENCY_BUCKETS_SECONDS,
    );

    total("keel_snapshots_taken_total", "Partition snapshots written", () => this.snapshotsTaken);
    totalsBy(
      "keel_loglet_stores_total",
      "Store requests of this node's sequencers to each log server, answered or failed",
      ["log_server", "outcome"],
      () =>
        [...this.stores].flatMap(([server, [answered, failed]]) => [
          [{ log_server: String(server), outcome: "answered" }, answered] as const,
          [{ log_server: String(server), outcome: "failed" }, failed] as const,
        ]),
    );
    this.storeLatency = new BucketHistogram(
      "keel_loglet_store_duration_seconds",
      "Time from a store request to a log server to its answer, by log server (node id)",
      LATENCY_BUCKETS_SECONDS,
      this.registry,
      "log_server",
    );
    this.snapshotDuration = histogram(
      "keel_snapshot_duration_seconds",
      "Time to take a partition snapshot and write it to its destination",
      LATENCY_BUCKETS_SECONDS,
    );
    this.snapshotSize = histogram(
      "keel_snapshot_size_bytes",
      "Bytes of each partition snapshot written",
      SNAPSHOT_BYTES_BUCKETS,
    );
    const snapshotGauge = (
      name: string,
      help: string,
      value: (s: SnapshotGaugeSource, nowMs: number) => number,
    ): void => {
      const sources = (): ScrapeSources | undefined => this.sources;
      new Gauge({
        name,
        help,
        labelNames: ["partition"],
        registers,
        collect() {
          this.reset();
          const node = sources();
          if (node === undefined) return;
          const now = node.nowMs();
          for (const s of node.snapshots())
            this.set({ partition: String(s.partitionId) }, value(s, now));
        },
      });
    };
    snapshotGauge(
      "keel_partition_snapshot_age_seconds",
      "Age of each partition's newest snapshot",
      (s, now) => Math.max(0, now - s.createdAtMs) / 1000,
    );
    snapshotGauge(
      "keel_partition_snapshot_bytes",
      "Size of each partition's newest snapshot",
      (s) => s.bytes,
    );
  }

  /**
   * Each Kafka subscription's lag per topic partition (Restate's `consumer.lag`): records in the
   * topic not yet invoked (high watermark minus committed offset).
   */
  observeSubscriptions(
    partitions: () => readonly {
      readonly subscription: string;
      readonly topic: string;
      readonly partition: number;
      readonly lag: number;
    }[],
  ): void {
    new Gauge({
      name: "keel_kafka_subscription_lag",
      help: "Records of a Kafka topic partition a subscription has not invoked yet",
      labelNames: ["subscription", "topic", "partition"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const p of partitions())
          this.set(
            { subscription: p.subscription, topic: p.topic, partition: String(p.partition) },
            p.lag,
          );
      },
    });
  }

  /**
   * Where scrapes read the node's state from (the node is built after this adapter). A node with a
   * metadata member also shows its Raft state; a single node has none, and shows no such metric.
   */
  observe(sources: ScrapeSources): void {
    assert(this.sources === undefined, "a node's metrics observe one node");
    this.sources = sources;
    const member = sources.metadataMember;
    if (member === undefined) return;
    const raftGauge = (name: string, help: string, value: (m: RaftGaugeSource) => number): void => {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          const status = member();
          // A member not started yet (or stopped) has no Raft state to show.
          this.reset();
          if (status !== undefined) this.set(value(status));
        },
      });
    };
    raftGauge(
      "keel_metadata_raft_term",
      "This node's metadata member's Raft term (each increase is an election)",
      (m) => m.term,
    );
    raftGauge(
      "keel_metadata_raft_commit_index",
      "This node's metadata member's Raft commit index",
      (m) => m.commit,
    );
    raftGauge(
      "keel_metadata_raft_applied_index",
      "This node's metadata member's applied Raft index",
      (m) => m.applied,
    );
    raftGauge(
      "keel_metadata_raft_leader",
      "1 while this node's metadata member is the Raft leader, else 0",
      (m) => (m.role === "leader" ? 1 : 0),
    );
    const raftTotal = (name: string, help: string, value: (m: RaftGaugeSource) => number): void => {
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          const status = member();
          this.reset();
          if (status !== undefined) this.inc(value(status));
        },
      });
    };
    raftTotal(
      "keel_metadata_raft_elections_total",
      "Elections this node's metadata member started as a candidate",
      (m) => m.electionsStarted,
    );
    raftTotal(
      "keel_metadata_raft_elections_won_total",
      "Elections this node's metadata member won (it became the Raft leader)",
      (m) => m.electionsWon,
    );
  }

  /** The Prometheus text exposition of every metric. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  startTimer(): TimerStamp {
    return performance.now() as TimerStamp;
  }

  private secondsSince(started: TimerStamp): number {
    return (performance.now() - started) / 1000;
  }

  readonly ingress = {
    requestAnswered: (statusCode: number, started: TimerStamp): void => {
      this.ingressAnswers.set(statusCode, (this.ingressAnswers.get(statusCode) ?? 0) + 1);
      this.ingressLatency.observe(this.secondsSince(started));
    },
  };

  readonly sql = {
    queryAnswered: (succeeded: boolean, started: TimerStamp): void => {
      if (succeeded) this.sqlAnswers.succeeded++;
      else this.sqlAnswers.failed++;
      this.sqlLatency.observe(this.secondsSince(started));
    },
  };

  readonly invoker = {
    attemptStarted: (): void => {
      this.attemptsStarted++;
    },
    attemptFinished: (outcome: AttemptOutcomeKind): void => {
      this.attemptsFinished[outcome]++;
    },
    retryScheduled: (): void => {
      this.retries++;
    },
    endpointResponded: (started: TimerStamp): void => {
      this.endpointLatency.observe(this.secondsSince(started));
    },
  };

  readonly loglet = {
    storeAnswered: (logServer: number, answered: boolean, started: TimerStamp): void => {
      let counts = this.stores.get(logServer);
      if (counts === undefined) {
        counts = [0, 0];
        this.stores.set(logServer, counts);
      }
      if (!answered) {
        counts[1]++;
        return;
      }
      counts[0]++;
      this.storeLatency.observeLabeled(String(logServer), this.secondsSince(started));
    },
  };

  readonly snapshots = {
    snapshotTaken: (bytes: number, started: TimerStamp): void => {
      this.snapshotsTaken++;
      this.snapshotSize.observe(bytes);
      this.snapshotDuration.observe(this.secondsSince(started));
    },
  };

  readonly partitions = {
    invocationCompleted: (outcome: InvocationOutcome): void => {
      this.completions[outcome]++;
    },
    leadershipGained: (partition: number): void => {
      this.leadershipOf(partition)[0]++;
    },
    leadershipLost: (partition: number): void => {
      this.leadershipOf(partition)[1]++;
    },
  };

  readonly log = {
    appendCommitted: (records: number, bytes: number, started: TimerStamp): void => {
      this.appends++;
      this.appendedRecords += records;
      this.appendedBytes += bytes;
      this.appendBatchRecords.observe(records);
      this.appendCommitLatency.observe(this.secondsSince(started));
    },
    appendFailed: (): void => {
      this.appendFailures++;
    },
  };

  private leadershipOf(partition: number): [number, number] {
    let counts = this.leadership.get(partition);
    if (counts === undefined) {
      counts = [0, 0];
      this.leadership.set(partition, counts);
    }
    return counts;
  }
}
