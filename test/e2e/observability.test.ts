/**
 * Observability, end to end: a real keel-server serves `GET /metrics` on its node port; a mixed
 * workload through the official SDK moves the counters by exactly what it implies, Debian's
 * `promtool check metrics` accepts the exposition, and bad requests to the node port get JSON errors.
 * A second server logs JSON lines whose per-module levels the admin API changes while it runs.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  call,
  eventually,
  DIST,
  freePorts,
  postJson,
  register,
  sqlRows,
  startCluster,
  startKeel,
  startServices,
  tempDir,
  type KeelCluster,
  type KeelServer,
  type ServiceEndpoint,
} from "./harness.js";

/** One sample line of the exposition: its name with labels as written, and its value. */
type Samples = ReadonlyMap<string, number>;

function parseExposition(text: string): Samples {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    assert.ok(space > 0, `a sample line has a value: ${line}`);
    // The format's floats include NaN (any case, as Go parses it) and ±Inf.
    const written = line.slice(space + 1);
    const value = /^nan$/i.test(written) ? NaN : Number(written.replace(/inf$/i, "Infinity"));
    assert.ok(
      !Number.isNaN(value) || /^nan$/i.test(written),
      `a sample's value is a number: ${line}`,
    );
    samples.set(line.slice(0, space), value);
  }
  return samples;
}

/** The value of one sample, 0 when the series does not exist yet (a counter not moved). */
function valueOf(samples: Samples, series: string): number {
  return samples.get(series) ?? 0;
}

function sumOf(samples: Samples, prefix: string): number {
  let sum = 0;
  for (const [series, value] of samples) if (series.startsWith(prefix)) sum += value;
  return sum;
}

async function scrape(metricsUrl: string): Promise<{ text: string; samples: Samples }> {
  const res = await fetch(metricsUrl);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return { text, samples: parseExposition(text) };
}

/**
 * promtool from Debian's `prometheus` package (.ci/run installs it). Outside CI a machine without
 * it skips the check and says so; in CI its absence fails the test.
 */
function promtool(): { found: true } | { found: false; why: string } {
  const probe = spawnSync("promtool", ["--version"], { encoding: "utf8" });
  if (probe.error === undefined && probe.status === 0) return { found: true };
  const why = `promtool not found (${probe.error?.message ?? `exit ${probe.status}`}): install Debian's 'prometheus' package (apt-get install prometheus)`;
  if (process.env["CI"] !== undefined) assert.fail(`${why}; CI must install it (.ci/run)`);
  return { found: false, why };
}

describe("Prometheus metrics on the node port", () => {
  let server: KeelServer;
  let services: ServiceEndpoint;
  let metricsUrl: string;
  let nodePortUrl: string;
  const partitions = 4;

  before(async () => {
    const [nodePort] = await freePorts(1);
    nodePortUrl = `http://127.0.0.1:${nodePort}`;
    metricsUrl = `${nodePortUrl}/metrics`;
    server = await startKeel({ nodePort: nodePort!, extraArgs: ["--partitions", `${partitions}`] });
    services = await startServices();
    const registered = await register(server.admin, services.url);
    assert.equal(registered.status, 201);
  });
  after(async () => {
    await services?.stop();
    await server?.stop();
    server?.cleanup();
  });

  it("counts a mixed workload by exactly what it implies", async () => {
    const { samples: before } = await scrape(metricsUrl);

    // 5 calls that succeed (3 steps each), 2 that fail terminally (418), a chain of 4 invocations
    // (Chain.call -> Counter.add x2 -> Greeter.greet), a step that fails twice and then succeeds
    // (2 failed attempts, 2 retries), a one-way send (202), and a request for an unknown service.
    for (let i = 0; i < 5; i++)
      assert.equal((await postJson(`${server.ingress}/Greeter/greet`, `m${i}`)).status, 200);
    for (let i = 0; i < 2; i++)
      assert.equal((await postJson(`${server.ingress}/Greeter/fail`, `f${i}`)).status, 418);
    assert.equal(
      (await postJson(`${server.ingress}/Chain/call`, ["metrics-a", "metrics-b"])).status,
      200,
    );
    const flaky = await postJson(`${server.ingress}/Flaky/step`, "metrics-flaky");
    assert.equal(flaky.status, 200);
    assert.equal(flaky.json(), "succeeded on attempt 3");
    const sent = await postJson(`${server.ingress}/Greeter/greet/send`, "one-way");
    assert.equal(sent.status, 202);
    assert.equal((await postJson(`${server.ingress}/NoSuchService/x`, "")).status, 404);
    // One SQL query that succeeds and one that fails.
    const sqlOk = await postJson(`${server.admin}/query`, { query: "SELECT 1 AS one" });
    assert.equal(sqlOk.status, 200);
    const sqlBad = await postJson(`${server.admin}/query`, { query: "SELECT FROM nowhere(" });
    assert.ok(sqlBad.status >= 400, `a bad query fails (${sqlBad.status})`);
    // A snapshot of every partition.
    const snapshots = await postJson(`${server.admin}/keel/snapshots`, {});
    assert.equal(snapshots.status, 200);
    assert.equal(snapshots.json<{ snapshots: unknown[] }>().snapshots.length, partitions);

    // The one-way send completes in the background: wait until every invocation is counted.
    const succeeded = 5 + 4 + 1 + 1;
    const failed = 2;
    const after = await eventually(async () => {
      const { samples } = await scrape(metricsUrl);
      const done =
        valueOf(samples, 'keel_invocations_completed_total{outcome="succeeded"}') -
          valueOf(before, 'keel_invocations_completed_total{outcome="succeeded"}') >=
          succeeded && valueOf(samples, "keel_invoker_running_attempts") === 0;
      return done ? samples : undefined;
    }, "every invocation of the workload completed and no attempt runs");
    const delta = (series: string): number => valueOf(after, series) - valueOf(before, series);

    assert.equal(delta('keel_invocations_completed_total{outcome="succeeded"}'), succeeded);
    assert.equal(delta('keel_invocations_completed_total{outcome="failed"}'), failed);

    assert.equal(delta('keel_ingress_requests_total{status_code="200"}'), 5 + 1 + 1);
    assert.equal(delta('keel_ingress_requests_total{status_code="418"}'), 2);
    assert.equal(delta('keel_ingress_requests_total{status_code="202"}'), 1);
    assert.equal(delta('keel_ingress_requests_total{status_code="404"}'), 1);
    assert.equal(delta("keel_ingress_request_duration_seconds_count"), 11);
    assert.ok(delta("keel_ingress_request_duration_seconds_sum") > 0);

    // Every invocation ran one attempt to its end, and the flaky one two more that failed.
    assert.equal(delta('keel_invoker_attempts_finished_total{outcome="failed"}'), 2);
    assert.equal(delta("keel_invoker_retries_total"), 2);
    const finished =
      sumOf(after, "keel_invoker_attempts_finished_total{") -
      sumOf(before, "keel_invoker_attempts_finished_total{");
    assert.equal(delta("keel_invoker_attempts_started_total"), finished);
    assert.ok(
      delta('keel_invoker_attempts_finished_total{outcome="ended"}') >= succeeded + failed,
      "every invocation's last attempt ended",
    );
    assert.equal(valueOf(after, "keel_invoker_queued_invocations"), 0);
    assert.equal(valueOf(after, "keel_invoker_backing_off_invocations"), 0);
    // Every attempt reached its endpoint, which answered.
    assert.equal(
      delta("keel_invoker_endpoint_response_duration_seconds_count"),
      delta("keel_invoker_attempts_started_total"),
    );

    assert.equal(delta("keel_snapshots_taken_total"), partitions);
    assert.equal(delta("keel_snapshot_duration_seconds_count"), partitions);
    for (let p = 0; p < partitions; p++) {
      assert.ok(valueOf(after, `keel_partition_snapshot_bytes{partition="${p}"}`) > 0);
      const age = after.get(`keel_partition_snapshot_age_seconds{partition="${p}"}`);
      assert.ok(age !== undefined && age >= 0 && age < 60, `partition ${p}'s snapshot age ${age}`);
    }

    assert.equal(delta('keel_sql_queries_total{outcome="succeeded"}'), 1);
    assert.equal(delta('keel_sql_queries_total{outcome="failed"}'), 1);
    assert.equal(delta("keel_sql_query_duration_seconds_count"), 2);

    // Every record was appended in a counted batch, and each partition applied what it appended.
    const appends = delta("keel_log_appends_total");
    const records = delta("keel_log_appended_records_total");
    assert.ok(appends > 0 && records >= appends, `${records} records in ${appends} batches`);
    assert.ok(delta("keel_log_appended_bytes_total") > records, "records carry bytes");
    assert.equal(delta("keel_log_append_batch_records_count"), appends);
    assert.equal(delta("keel_log_append_batch_records_sum"), records);
    assert.equal(delta("keel_log_append_commit_duration_seconds_count"), appends);
    assert.equal(valueOf(after, "keel_log_append_failures_total"), 0);
    const applied =
      sumOf(after, "keel_partition_applied_lsn{") - sumOf(before, "keel_partition_applied_lsn{");
    assert.equal(applied, records, "the partitions applied every record appended in between");

    // One node leads every partition since its start: one leadership gained each, none lost.
    for (let p = 0; p < partitions; p++) {
      assert.equal(
        valueOf(after, `keel_partition_applied_lsn{partition="${p}",role="leader"}`) > 0,
        true,
      );
      assert.equal(
        valueOf(after, `keel_partition_leadership_changes_total{partition="${p}",change="gained"}`),
        1,
      );
      assert.equal(
        valueOf(after, `keel_partition_leadership_changes_total{partition="${p}",change="lost"}`),
        0,
      );
    }
    // The process: heap, event-loop delay, resident memory (prom-client's default metrics).
    for (const series of [
      "keel_nodejs_heap_size_used_bytes",
      "keel_nodejs_eventloop_lag_p99_seconds",
      "keel_process_resident_memory_bytes",
    ])
      assert.ok(valueOf(after, series) > 0, `${series} is reported`);
    // GC pauses, by kind of collection: the workload made garbage enough for some.
    assert.ok(sumOf(after, "keel_nodejs_gc_duration_seconds_count{") > 0, "GC pauses are reported");
    // A single node has no metadata member: no Raft metrics rather than zeros.
    assert.ok(![...after.keys()].some((s) => s.startsWith("keel_metadata_raft")));
    // Labels stay bounded: no invocation id or key reached a label.
    const { text } = await scrape(metricsUrl);
    assert.doesNotMatch(text, /inv_1|metrics-a|one-way/);
  });

  it("shows invocations by status as the partitions hold them, moved by what the workload implies", async () => {
    const statuses = ["pending", "scheduled", "invoked", "suspended", "paused", "completed"];
    const gaugeOf = (samples: Samples): Record<string, number> =>
      Object.fromEntries(
        statuses.map((status) => [
          status,
          valueOf(samples, `keel_invocations{status="${status}"}`),
        ]),
      );
    /** What SQL reads from the partition stores, in the gauge's words (invoked: ready, running, backing-off). */
    const sqlCounts = async (): Promise<Record<string, number>> => {
      const rows = await sqlRows(
        server.admin,
        "SELECT status, count(*) AS n FROM sys_invocation GROUP BY status",
      );
      const counts: Record<string, number> = Object.fromEntries(statuses.map((s) => [s, 0]));
      for (const row of rows) {
        const status = String(row["status"]);
        const word = ["ready", "running", "backing-off"].includes(status) ? "invoked" : status;
        counts[word] = (counts[word] ?? 0) + Number(row["n"]);
      }
      return counts;
    };
    const { samples: before } = await scrape(metricsUrl);
    const start = gaugeOf(before);
    // Every status was counted from the first record: the gauge equals what the stores hold.
    assert.deepEqual(start, await sqlCounts());

    // A key held by a running invocation (waiting on an awakeable), a call queued behind it on the
    // same key, and an invocation that sleeps for an hour (it suspends after its 1 s inactivity).
    const held = await postJson(`${server.ingress}/Counter/metrics-held/hold/send`, null);
    assert.equal(held.status, 202);
    const queued = await postJson(`${server.ingress}/Counter/metrics-held/add/send`, 1);
    assert.equal(queued.status, 202);
    const sleeping = await postJson(`${server.ingress}/Sleeper/forever/send`, null);
    assert.equal(sleeping.status, 202);
    const moved = (now: Record<string, number>): Record<string, number> =>
      Object.fromEntries(statuses.map((s) => [s, now[s]! - start[s]!]));
    const during = await eventually(async () => {
      const gauge = gaugeOf((await scrape(metricsUrl)).samples);
      return moved(gauge)["suspended"] === 1 ? gauge : undefined;
    }, "the sleeping invocation suspended");
    assert.deepEqual(moved(during), {
      pending: 1,
      scheduled: 0,
      invoked: 1,
      suspended: 1,
      paused: 0,
      completed: 0,
    });
    assert.deepEqual(during, await sqlCounts());

    // Releasing the key completes the holder, then the queued call.
    // Each read of the awakeable's id is a (shared) invocation of its own, completed at once.
    let reads = 0;
    const awakeable = await eventually(async () => {
      reads++;
      const res = await postJson(`${server.ingress}/Counter/metrics-held/awakeableId`, null);
      return res.json<string | null>() ?? undefined;
    }, "the holder published its awakeable");
    const resolved = await postJson(
      `${server.ingress}/restate/awakeables/${awakeable}/resolve`,
      "go",
    );
    assert.equal(resolved.status, 202);
    const released = await eventually(async () => {
      const gauge = gaugeOf((await scrape(metricsUrl)).samples);
      return moved(gauge)["completed"] === 2 + reads ? gauge : undefined;
    }, "the holder and the queued call completed");
    assert.deepEqual(moved(released), {
      pending: 0,
      scheduled: 0,
      invoked: 0,
      suspended: 1,
      paused: 0,
      completed: 2 + reads,
    });
    assert.deepEqual(released, await sqlCounts());
  });

  it("passes promtool check metrics after the workload", async (t) => {
    const tool = promtool();
    if (!tool.found) {
      t.skip(tool.why);
      return;
    }
    const { text } = await scrape(metricsUrl);
    const checked = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    assert.equal(
      checked.status,
      0,
      `promtool check metrics refused the output:\n${checked.stdout}${checked.stderr}`,
    );
    assert.equal(`${checked.stdout}${checked.stderr}`.trim(), "", "promtool found no problems");
  });

  it("answers other paths and methods on the node port with JSON errors", async () => {
    const post = await call(metricsUrl, { method: "POST" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    assert.deepEqual(post.json<{ code: string }>().code, "method_not_allowed");
    const missing = await call(`${nodePortUrl}/metricz`);
    assert.equal(missing.status, 404);
    assert.match(missing.json<{ code: string; message: string }>().message, /GET \/metrics/);
    const head = await fetch(metricsUrl, { method: "HEAD" });
    assert.equal(head.status, 200);
  });
});

describe("Prometheus metrics on a cluster's node ports", () => {
  let cluster: KeelCluster;
  let services: ServiceEndpoint;
  const partitions = 4;

  before(async () => {
    cluster = await startCluster({ size: 2, replication: "2", partitions });
    services = await startServices();
    assert.equal((await register(cluster.nodes[0]!.admin, services.url)).status, 201);
  });
  after(async () => {
    await services?.stop();
    await cluster?.stop();
    cluster?.cleanup();
  });

  const scrapeAll = (): Promise<Samples[]> =>
    Promise.all(
      cluster.nodeAddresses.map(
        async (address) => (await scrape(`http://${address}/metrics`)).samples,
      ),
    );

  it("serves metrics beside the node-to-node protocol, with each node's roles and Raft state", async () => {
    const before = await scrapeAll();
    const completedOf = (all: Samples[]): number =>
      all.reduce(
        (sum, samples) =>
          sum + valueOf(samples, 'keel_invocations_completed_total{outcome="succeeded"}'),
        0,
      );
    // The node-to-node protocol still works on the same port: a call through node 2 reaches the
    // partition's leader wherever it is.
    for (let i = 0; i < 4; i++) {
      const res = await postJson(`${cluster.nodes[1]!.ingress}/Greeter/greet`, `cluster-${i}`);
      assert.equal(res.status, 200);
    }
    const after = await eventually(async () => {
      const all = await scrapeAll();
      return completedOf(all) - completedOf(before) >= 4 ? all : undefined;
    }, "the cluster's leaders counted the 4 invocations");
    assert.equal(completedOf(after) - completedOf(before), 4);
    // Each partition's leader counts its invocations by status: over the nodes, 4 more completed.
    const heldCompleted = (all: Samples[]): number =>
      all.reduce(
        (sum, samples) => sum + valueOf(samples, 'keel_invocations{status="completed"}'),
        0,
      );
    assert.equal(heldCompleted(after) - heldCompleted(before), 4);

    // Every partition has one leader and one follower replica among the two nodes ({node: 2}).
    for (let p = 0; p < partitions; p++) {
      const roles = after.flatMap((samples) =>
        [...samples.keys()]
          .filter((s) => s.startsWith(`keel_partition_applied_lsn{partition="${p}",`))
          .map((s) => /role="(\w+)"/.exec(s)![1]),
      );
      assert.deepEqual(roles.sort(), ["follower", "leader"], `partition ${p}'s replicas`);
    }
    // A replica's lag: followers learn the tail as they read, and apply up to it.
    const lags = (all: Samples[]): number[] =>
      all.flatMap((samples) =>
        [...samples.entries()]
          .filter(([s]) => s.startsWith("keel_partition_lag_records{"))
          .map(([, v]) => v),
      );
    assert.equal(lags(after).length, partitions * 2, "a lag per replica");
    await eventually(
      async () => (lags(await scrapeAll()).every((lag) => lag === 0) ? true : undefined),
      "every replica caught up",
    );
    // Both nodes are metadata members: one Raft leader, the same term on both.
    const leaders = after.map((samples) => valueOf(samples, "keel_metadata_raft_leader"));
    assert.deepEqual(leaders.sort(), [0, 1]);
    const terms = after.map((samples) => samples.get("keel_metadata_raft_term"));
    assert.ok(terms[0]! >= 1 && terms[0] === terms[1], `terms ${terms.join(", ")}`);
    assert.ok(after.every((samples) => valueOf(samples, "keel_metadata_raft_commit_index") > 0));
    // The leader won an election it started; every election won was one started.
    const leader = after.find((samples) => valueOf(samples, "keel_metadata_raft_leader") === 1)!;
    assert.ok(valueOf(leader, "keel_metadata_raft_elections_won_total") >= 1);
    for (const samples of after)
      assert.ok(
        valueOf(samples, "keel_metadata_raft_elections_total") >=
          valueOf(samples, "keel_metadata_raft_elections_won_total"),
      );
    const won = after.reduce(
      (sum, samples) => sum + valueOf(samples, "keel_metadata_raft_elections_won_total"),
      0,
    );
    assert.ok(won <= terms[0]!, `at most one election won per term (${won} in ${terms[0]})`);
    // The sequencers stored the records on both log servers ({node: 2}), each answer timed.
    const answeredTo = (samples: Samples, server: string): number =>
      valueOf(samples, `keel_loglet_stores_total{log_server="${server}",outcome="answered"}`);
    for (const server of ["1", "2"]) {
      const answered = after.reduce((sum, samples) => sum + answeredTo(samples, server), 0);
      const before_ = before.reduce((sum, samples) => sum + answeredTo(samples, server), 0);
      assert.ok(answered - before_ > 0, `stores to log server ${server} during the calls`);
      for (const samples of after)
        assert.equal(
          valueOf(samples, `keel_loglet_store_duration_seconds_count{log_server="${server}"}`),
          answeredTo(samples, server),
        );
    }
    const servers = new Set(
      after.flatMap((samples) =>
        [...samples.keys()].flatMap(
          (s) => /^keel_loglet_stores_total\{log_server="(\d+)"/.exec(s)?.[1] ?? [],
        ),
      ),
    );
    assert.deepEqual([...servers].sort(), ["1", "2"]);

    const tool = promtool();
    if (tool.found) {
      const { text } = await scrape(`http://${cluster.nodeAddresses[1]!}/metrics`);
      const checked = spawnSync("promtool", ["check", "metrics"], {
        input: text,
        encoding: "utf8",
      });
      assert.equal(checked.status, 0, `${checked.stdout}${checked.stderr}`);
    }
  });

  it("has every metric the Grafana dashboard in docs/ queries, in queries promtool parses", async (t) => {
    const { text } = await scrape(`http://${cluster.nodeAddresses[0]!}/metrics`);
    const families = familiesOf(text);
    const queries = dashboardQueries();
    assert.ok(queries.length >= 10, `${queries.length} queries`);
    for (const query of queries) {
      for (const [name] of query.matchAll(/\bkeel_[a-z0-9_]+/g)) {
        const family = /^(.*)_(bucket|sum|count)$/.exec(name)?.[1];
        const exposed =
          families.has(name) ||
          (family !== undefined && ["histogram", "summary"].includes(families.get(family) ?? ""));
        assert.ok(exposed, `the dashboard's ${name} (in ${query}) is exposed by a cluster node`);
      }
    }
    const tool = promtool();
    if (!tool.found) {
      t.skip(tool.why);
      return;
    }
    // Grafana's variables replaced by what Grafana would put there, each query as a recording rule.
    const rules = {
      groups: [
        {
          name: "keel-dashboard",
          rules: queries.map((query, i) => ({
            record: `keel_dashboard_query_${i}`,
            expr: query
              .replaceAll("$__rate_interval", "1m")
              .replaceAll("$__range", "1h")
              .replaceAll("$instance", ".*"),
          })),
        },
      ],
    };
    const file = join(tempDir("dashboard"), "rules.json");
    writeFileSync(file, JSON.stringify(rules));
    const checked = spawnSync("promtool", ["check", "rules", file], { encoding: "utf8" });
    assert.equal(checked.status, 0, `${checked.stdout}${checked.stderr}`);
  });
});

/** The metric families of an exposition, by name, with their types. */
function familiesOf(text: string): Map<string, string> {
  const families = new Map<string, string>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) families.set(match[1]!, match[2]!);
  return families;
}

/** The PromQL queries of the Grafana dashboard in docs/. */
function dashboardQueries(): string[] {
  const file = join(DIST, "..", "docs", "grafana", "keel-dashboard.json");
  const dashboard = JSON.parse(readFileSync(file, "utf8")) as {
    panels: { title: string; targets: { expr: string }[] }[];
  };
  return dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr));
}

describe("metrics turned off", () => {
  it("serves no metrics with --disable-metrics (the node port is only reserved)", async () => {
    const [nodePort] = await freePorts(1);
    const server = await startKeel({ nodePort: nodePort!, extraArgs: ["--disable-metrics"] });
    try {
      await assert.rejects(fetch(`http://127.0.0.1:${nodePort}/metrics`));
    } finally {
      await server.stop();
      server.cleanup();
    }
  });
});

describe("JSON logs with levels per module, changed at run time", () => {
  let server: KeelServer;
  let services: ServiceEndpoint;

  before(async () => {
    server = await startKeel({
      extraArgs: ["--log-format", "json", "--log-level", "warn", "--partitions", "2"],
    });
    services = await startServices();
    assert.equal((await register(server.admin, services.url)).status, 201);
  });
  after(async () => {
    await services?.stop();
    await server?.stop();
    server?.cleanup();
  });

  /** Every JSON log line the server wrote so far (stdout's "Keel is ready" line is not one). */
  const jsonLines = (): Record<string, unknown>[] =>
    server.output
      .join("")
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const linesOf = (invocationId: string): Record<string, unknown>[] =>
    jsonLines().filter((line) => line["invocation_id"] === invocationId);
  /**
   * Waits until the server wrote every line it wrote so far: its stderr reaches the test later than
   * its HTTP answers. The admin module (at info) logs each level change; once that line is here,
   * every earlier line is too.
   */
  const flushed = async (): Promise<void> => {
    const changes = (): number =>
      jsonLines().filter((l) => l["message"] === "log level changed").length;
    const seen = changes();
    const set = await call(`${server.admin}/keel/log-levels/admin`, {
      method: "PUT",
      body: JSON.stringify({ level: "info" }),
    });
    assert.equal(set.status, 200);
    await eventually(() => (changes() > seen ? true : undefined), "the admin's log line");
  };
  const greet = async (name: string): Promise<string> => {
    const res = await postJson(`${server.ingress}/Greeter/greet`, name);
    assert.equal(res.status, 200);
    return res.headers.get("x-restate-id")!;
  };

  it("logs an invocation's attempts at debug only while the invoker's level says so", async () => {
    const quiet = await greet("quiet");
    await flushed();
    assert.deepEqual(linesOf(quiet), [], "at warn, the invoker says nothing of a good call");

    const set = await call(`${server.admin}/keel/log-levels/invoker`, {
      method: "PUT",
      body: JSON.stringify({ level: "debug" }),
    });
    assert.equal(set.status, 200);
    const levels = set.json<{ default: string; modules: Record<string, string>; own: string[] }>();
    assert.equal(levels.default, "warn");
    assert.equal(levels.modules["invoker"], "debug");
    assert.equal(levels.modules["partition"], "warn");
    assert.deepEqual(levels.own, ["admin", "invoker"]);

    const loud = await greet("loud");
    const lines = await eventually(() => {
      const found = linesOf(loud);
      return found.some((l) => l["message"] === "attempt finished") ? found : undefined;
    }, "the invoker's debug lines of the call");
    for (const line of lines) {
      assert.equal(line["node"], "n1");
      assert.equal(line["module"], "invoker");
      assert.equal(typeof line["partition"], "number", "an invocation's lines name its partition");
      assert.equal(line["level"], "debug");
      assert.match(String(line["time"]), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
    assert.ok(lines.some((l) => l["message"] === "attempt started"));

    const reset = await call(`${server.admin}/keel/log-levels/invoker`, { method: "DELETE" });
    assert.equal(reset.status, 200);
    assert.deepEqual(reset.json<{ own: string[] }>().own, ["admin"]);
    const quietAgain = await greet("quiet again");
    await flushed();
    assert.deepEqual(linesOf(quietAgain), [], "the invoker follows the default (warn) again");
  });

  it("names the partition in a partition's lines", async () => {
    const set = await call(`${server.admin}/keel/log-levels/snapshots`, {
      method: "PUT",
      body: JSON.stringify({ level: "info" }),
    });
    assert.equal(set.status, 200);
    assert.equal((await postJson(`${server.admin}/keel/snapshots`, {})).status, 200);
    const snapshotLines = await eventually(() => {
      const found = jsonLines().filter((l) => l["message"] === "partition snapshot");
      return found.length === 2 ? found : undefined;
    }, "a snapshot line per partition");
    assert.deepEqual(snapshotLines.map((l) => l["partition"]).sort(), [0, 1]);
    assert.ok(snapshotLines.every((l) => l["module"] === "snapshots" && l["level"] === "info"));
  });

  it("refuses unknown modules and levels with a JSON error naming what is allowed", async () => {
    const module = await call(`${server.admin}/keel/log-levels/invokr`, {
      method: "PUT",
      body: JSON.stringify({ level: "debug" }),
    });
    assert.equal(module.status, 404);
    assert.equal(module.json<{ code: string }>().code, "not_found");
    assert.match(module.json<{ message: string }>().message, /'invokr'.*invoker/);
    const level = await call(`${server.admin}/keel/log-levels/invoker`, {
      method: "PUT",
      body: JSON.stringify({ level: "verbose" }),
    });
    assert.equal(level.status, 400);
    assert.deepEqual(level.json(), {
      code: "bad_request",
      message: 'level: expected one of debug, info, warn, error, found "verbose"',
    });
    const notJson = await call(`${server.admin}/keel/log-levels/invoker`, {
      method: "PUT",
      body: "{",
    });
    assert.equal(notJson.status, 400);
    const removeDefault = await call(`${server.admin}/keel/log-levels/default`, {
      method: "DELETE",
    });
    assert.equal(removeDefault.status, 400);
    // Nothing changed by the refused requests.
    const levels = (await call(`${server.admin}/keel/log-levels`)).json<{ own: string[] }>();
    assert.deepEqual(levels.own, ["admin", "snapshots"]);
  });
});
