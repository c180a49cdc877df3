import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PrometheusMetrics } from "./prometheus.js";

/** The samples of one exposition, by series as written. */
function samplesOf(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

describe("Prometheus metrics", () => {
  it("publishes the events counted since the start at every scrape", async () => {
    const metrics = new PrometheusMetrics({ processMetrics: false });
    const started = metrics.startTimer();
    metrics.ingress.requestAnswered(200, started);
    metrics.ingress.requestAnswered(200, started);
    metrics.ingress.requestAnswered(503, started);
    metrics.invoker.attemptStarted();
    metrics.invoker.attemptFinished("failed");
    metrics.invoker.retryScheduled();
    metrics.partitions.invocationCompleted("succeeded");
    metrics.partitions.leadershipGained(2);
    metrics.log.appendCommitted(3, 120, started);
    metrics.log.appendCommitted(1, 40, started);
    metrics.invoker.endpointResponded(started);
    metrics.snapshots.snapshotTaken(5000, started);
    metrics.loglet.storeAnswered(2, true, started);
    metrics.loglet.storeAnswered(2, false, started);
    metrics.loglet.storeAnswered(3, true, started);
    let samples = samplesOf(await metrics.scrape());
    assert.equal(samples.get('keel_ingress_requests_total{status_code="200"}'), 2);
    assert.equal(samples.get('keel_ingress_requests_total{status_code="503"}'), 1);
    assert.equal(samples.get("keel_ingress_request_duration_seconds_count"), 3);
    assert.equal(samples.get("keel_invoker_attempts_started_total"), 1);
    assert.equal(samples.get('keel_invoker_attempts_finished_total{outcome="failed"}'), 1);
    assert.equal(samples.get('keel_invoker_attempts_finished_total{outcome="ended"}'), 0);
    assert.equal(samples.get("keel_invoker_retries_total"), 1);
    assert.equal(samples.get('keel_invocations_completed_total{outcome="succeeded"}'), 1);
    assert.equal(
      samples.get('keel_partition_leadership_changes_total{partition="2",change="gained"}'),
      1,
    );
    assert.equal(samples.get("keel_log_appends_total"), 2);
    assert.equal(samples.get("keel_log_appended_records_total"), 4);
    assert.equal(samples.get("keel_log_appended_bytes_total"), 160);
    assert.equal(samples.get('keel_log_append_batch_records_bucket{le="2"}'), 1);
    assert.equal(samples.get('keel_log_append_batch_records_bucket{le="4"}'), 2);
    assert.equal(samples.get("keel_invoker_endpoint_response_duration_seconds_count"), 1);
    assert.equal(samples.get("keel_snapshots_taken_total"), 1);
    assert.equal(samples.get('keel_snapshot_size_bytes_bucket{le="1024"}'), 0);
    assert.equal(samples.get('keel_snapshot_size_bytes_bucket{le="16384"}'), 1);
    assert.equal(samples.get('keel_loglet_stores_total{log_server="2",outcome="answered"}'), 1);
    assert.equal(samples.get('keel_loglet_stores_total{log_server="2",outcome="failed"}'), 1);
    assert.equal(samples.get('keel_loglet_store_duration_seconds_count{log_server="2"}'), 1);
    assert.equal(samples.get('keel_loglet_store_duration_seconds_count{log_server="3"}'), 1);

    // A second scrape shows the totals, not what changed since the first.
    metrics.ingress.requestAnswered(200, started);
    samples = samplesOf(await metrics.scrape());
    assert.equal(samples.get('keel_ingress_requests_total{status_code="200"}'), 3);
    assert.equal(samples.get("keel_log_appends_total"), 2);
  });

  it("reads the node's state at scrape time, and Raft state only where a member runs", async () => {
    const metrics = new PrometheusMetrics({ processMetrics: false });
    let role = "leader";
    metrics.observe({
      runningAttempts: () => 7,
      queuedInvocations: () => 2,
      backingOffInvocations: () => 3,
      partitions: () => [
        {
          partitionId: 0,
          role,
          epoch: 4,
          appliedLsn: 99,
          lagRecords: 0,
          invocationsByPhase: [1, 0, 2, 3, 0, 5],
        },
        // Led elsewhere: its invocations are counted by its leader.
        {
          partitionId: 1,
          role: "follower",
          epoch: 2,
          appliedLsn: 7,
          lagRecords: 12,
          invocationsByPhase: [9, 9],
        },
      ],
      snapshots: () => [{ partitionId: 0, createdAtMs: 1_000, bytes: 4096 }],
      nowMs: () => 31_000,
    });
    let samples = samplesOf(await metrics.scrape());
    assert.equal(samples.get("keel_invoker_running_attempts"), 7);
    assert.equal(samples.get("keel_invoker_queued_invocations"), 2);
    assert.equal(samples.get("keel_invoker_backing_off_invocations"), 3);
    assert.equal(samples.get('keel_partition_applied_lsn{partition="0",role="leader"}'), 99);
    assert.equal(samples.get('keel_partition_leader_epoch{partition="0",role="leader"}'), 4);
    assert.equal(samples.get('keel_partition_lag_records{partition="1",role="follower"}'), 12);
    assert.equal(samples.get('keel_invocations{status="pending"}'), 1);
    assert.equal(samples.get('keel_invocations{status="invoked"}'), 2);
    assert.equal(samples.get('keel_invocations{status="suspended"}'), 3);
    assert.equal(samples.get('keel_invocations{status="paused"}'), 0);
    assert.equal(samples.get('keel_invocations{status="completed"}'), 5);
    assert.equal(samples.get('keel_partition_snapshot_age_seconds{partition="0"}'), 30);
    assert.equal(samples.get('keel_partition_snapshot_bytes{partition="0"}'), 4096);
    assert.ok(![...samples.keys()].some((s) => s.startsWith("keel_metadata_raft")));

    // A partition that changed role shows under its new role only.
    role = "follower";
    samples = samplesOf(await metrics.scrape());
    assert.equal(samples.get('keel_partition_applied_lsn{partition="0",role="leader"}'), undefined);
    assert.equal(samples.get('keel_partition_applied_lsn{partition="0",role="follower"}'), 99);

    const member = new PrometheusMetrics({ processMetrics: false });
    member.observe({
      runningAttempts: () => 0,
      queuedInvocations: () => 0,
      backingOffInvocations: () => 0,
      partitions: () => [],
      snapshots: () => [],
      nowMs: () => 0,
      metadataMember: () => ({
        role: "leader",
        term: 5,
        commit: 40,
        applied: 38,
        electionsStarted: 2,
        electionsWon: 1,
      }),
    });
    samples = samplesOf(await member.scrape());
    assert.equal(samples.get("keel_metadata_raft_term"), 5);
    assert.equal(samples.get("keel_metadata_raft_commit_index"), 40);
    assert.equal(samples.get("keel_metadata_raft_applied_index"), 38);
    assert.equal(samples.get("keel_metadata_raft_leader"), 1);
    assert.equal(samples.get("keel_metadata_raft_elections_total"), 2);
    assert.equal(samples.get("keel_metadata_raft_elections_won_total"), 1);
  });

  it("observes one node only", () => {
    const metrics = new PrometheusMetrics({ processMetrics: false });
    const sources = {
      runningAttempts: () => 0,
      queuedInvocations: () => 0,
      backingOffInvocations: () => 0,
      partitions: () => [],
      snapshots: () => [],
      nowMs: () => 0,
    };
    metrics.observe(sources);
    assert.throws(() => metrics.observe(sources), /observe one node/);
  });
});
