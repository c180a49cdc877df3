#!/usr/bin/env node
// `npm run bench:sql`: SQL introspection under load. On a fresh keel-server (loopback, free ports):
//   1. fill the partitions with N invocations (default 100,000 one-way sends of Bench/noop, which run
//      and stay retained with their journals), measuring how long that takes;
//   2. run a closed-loop load (Bench/noop calls) alone, then the same load while SQL queries over all
//      N invocations run back to back; alternate the two phases `--rounds` times (noise shows as the
//      spread between rounds);
//   3. report each query's latency (it must stay bounded) and the load's p50/p99 alone and during
//      the queries (p99 during / alone must stay under 2x).
// Results (JSON + Markdown) go to bench/results/sql-<time>/.
//
//   npm run bench:sql -- [--invocations 100000] [--concurrency 16] [--duration 10] [--rounds 2]
//
// Every child process is tracked by PID and stopped by PID on exit.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { rssKB } from "./lib/proc.mjs";
import { freePorts } from "./lib/shared.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");
const SERVER = path.join(ROOT, "dist", "src", "bin", "keel-server.js");

const { values: o } = parseArgs({
  options: {
    invocations: { type: "string", default: "100000" },
    concurrency: { type: "string", default: "16" },
    "fill-concurrency": { type: "string", default: "64" },
    duration: { type: "string", default: "20" },
    rounds: { type: "string", default: "2" },
    "max-p99-ratio": { type: "string", default: "2" },
  },
});
const N = Number(o.invocations);
const ROUNDS = Number(o.rounds);

const QUERIES = {
  // The CLI's `invocations list` count, and a full aggregate over every invocation.
  "count-active (CLI)":
    "SELECT COUNT(1) FROM (SELECT * FROM sys_invocation inv LIMIT 50000) WHERE status != 'completed'",
  "status histogram": "SELECT status, COUNT(*) AS n FROM sys_invocation GROUP BY status ORDER BY status",
  "newest 100 by target":
    "SELECT id, target, status, created_at FROM sys_invocation WHERE target_service_name = 'Bench' ORDER BY created_at DESC LIMIT 100",
};

if (!fs.existsSync(SERVER)) {
  console.error("bench:sql: dist/ is missing; run `npm run build` first");
  process.exit(1);
}

const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const OUT = path.join(HERE, "results", `sql-${stamp}`);
fs.mkdirSync(OUT, { recursive: true });
const log = (...m) => {
  const line = `[${new Date().toISOString().slice(11, 23)}] ${m.join(" ")}`;
  console.log(line);
  fs.appendFileSync(path.join(OUT, "bench.log"), `${line}\n`);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const children = [];
function startChild(name, args, env = {}) {
  const out = fs.openSync(path.join(OUT, `${name}.log`), "a");
  const child = spawn(process.execPath, args, { stdio: ["ignore", out, out], env: { ...process.env, ...env } });
  children.push({ name, child });
  log(`started ${name} pid=${child.pid}`);
  return child;
}
async function stopAll() {
  for (const { name, child } of children.reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(timer);
    log(`stopped ${name} pid=${child.pid}`);
  }
}
process.on("SIGINT", () => void stopAll().then(() => process.exit(130)));

async function waitFor(what, probe, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await probe()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

async function query(admin, sql) {
  const started = performance.now();
  const res = await fetch(`${admin}/query`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ query: sql }),
  });
  const text = await res.text();
  const ms = performance.now() - started;
  if (res.status !== 200) throw new Error(`query failed (${res.status}): ${text.slice(0, 300)}`);
  return { ms, rows: JSON.parse(text).rows };
}

function loadgen(ingress, { path: target, body, concurrency, duration, count }) {
  return new Promise((resolve, reject) => {
    const args = [
      path.join(HERE, "loadgen.mjs"),
      "--url", ingress, "--path", target, "--body", body,
      "--concurrency", String(concurrency), "--duration", String(duration),
      "--count", String(count ?? 0), "--hard-limit", "1800",
    ];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    children.push({ name: "loadgen", child });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.on("exit", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("BENCHJSON "));
      if (code !== 0 || line === undefined) reject(new Error(`loadgen exited with ${code}: ${out}`));
      else resolve(JSON.parse(line.slice("BENCHJSON ".length)));
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor(s.length / 2)];
};
const ms = (us) => (us / 1000).toFixed(1);

const results = {
  started_at: new Date().toISOString(),
  host: { cpus: os.cpus().length, loadavg_start: os.loadavg() },
  invocations: N,
  concurrency: Number(o.concurrency),
  duration_s: Number(o.duration),
  rounds: [],
};

let dataDir;
let serverPid;

/** Peak RSS (MB) of the node and of its children (the SQL process) while `during` runs. */
async function withRss(during) {
  const peak = { node_mb: 0, children_mb: 0 };
  const childrenOf = (pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(" ").filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  const sample = () => {
    peak.node_mb = Math.max(peak.node_mb, (rssKB(serverPid) ?? 0) / 1024);
    const children = childrenOf(serverPid).reduce((sum, pid) => sum + (rssKB(pid) ?? 0), 0) / 1024;
    peak.children_mb = Math.max(peak.children_mb, children);
  };
  const timer = setInterval(sample, 250);
  try {
    return { result: await during(), peak };
  } finally {
    clearInterval(timer);
    sample();
  }
}
const throughput = (run) => run.ok / (run.duration_us / 1e6);

try {
  const [ingressPort, adminPort, nodePort, servicePort, statsPort] = await freePorts(5);
  const ingress = `http://127.0.0.1:${ingressPort}`;
  const admin = `http://127.0.0.1:${adminPort}`;
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "keel-bench-sql-"));
  serverPid = startChild("keel-server", [
    SERVER, "--base-dir", dataDir, "--node-name", "n1", "--bind-address", "127.0.0.1",
    "--ingress-port", String(ingressPort), "--admin-port", String(adminPort),
    "--node-port", String(nodePort), "--log-level", "warn",
  ]).pid;
  startChild("service", [path.join(HERE, "services.mjs")], {
    SERVICE_PORT: String(servicePort), STATS_PORT: String(statsPort), RESTATE_LOGGING: "WARN",
  });
  await waitFor("keel-server", async () => (await fetch(`${admin}/health`)).ok);
  await waitFor("the SDK endpoint", async () => (await fetch(`http://127.0.0.1:${statsPort}/`)).ok);
  const registered = await fetch(`${admin}/deployments`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ uri: `http://127.0.0.1:${servicePort}` }),
  });
  if (!registered.ok) throw new Error(`registration failed: ${await registered.text()}`);

  log(`filling with ${N} invocations (one-way sends of Bench/noop)`);
  const fillStarted = performance.now();
  const fill = await loadgen(ingress, {
    path: "/Bench/noop/send", body: '"fill"', concurrency: Number(o["fill-concurrency"]),
    duration: 1800, count: N,
  });
  if (fill.ok < N) throw new Error(`only ${fill.ok} of ${N} sends were accepted: ${JSON.stringify(fill.errors)}`);
  await waitFor(
    "the sends to complete",
    async () => {
      const { rows } = await query(admin, "SELECT COUNT(*) AS n FROM sys_invocation WHERE status = 'completed'");
      return rows[0].n >= N;
    },
    1_800_000,
  );
  results.fill = { seconds: (performance.now() - fillStarted) / 1000, accepted_per_s: fill.ok / (fill.duration_us / 1e6) };
  log(`filled in ${results.fill.seconds.toFixed(1)} s`);

  results.queries_alone = {};
  for (const [name, sql] of Object.entries(QUERIES)) {
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push((await query(admin, sql)).ms);
    results.queries_alone[name] = { median_ms: median(runs), max_ms: Math.max(...runs) };
    log(`alone: ${name}: median ${median(runs).toFixed(0)} ms, max ${Math.max(...runs).toFixed(0)} ms`);
  }
  const load = { path: "/Bench/noop", body: '"x"', concurrency: Number(o.concurrency), duration: Number(o.duration) };
  await loadgen(ingress, { ...load, duration: 3 }); // warm-up
  for (let round = 1; round <= ROUNDS; round++) {
    const { result: alone, peak: aloneRss } = await withRss(() => loadgen(ingress, load));
    log(`round ${round}: load alone p50=${ms(alone.lat_us.p50)} ms p99=${ms(alone.lat_us.p99)} ms (${alone.ok} ok)`);
    const timings = Object.fromEntries(Object.keys(QUERIES).map((name) => [name, []]));
    let running = true;
    const querying = (async () => {
      while (running) {
        for (const [name, sql] of Object.entries(QUERIES)) {
          if (!running) break;
          const { ms: took, rows } = await query(admin, sql);
          timings[name].push({ ms: took, rows: rows.length });
        }
      }
    })();
    const { result: during, peak: duringRss } = await withRss(() => loadgen(ingress, load));
    running = false;
    await querying;
    const ratio = during.lat_us.p99 / Math.max(1, alone.lat_us.p99);
    const queryStats = Object.fromEntries(
      Object.entries(timings).map(([name, runs]) => [
        name,
        { runs: runs.length, median_ms: median(runs.map((r) => r.ms)), max_ms: Math.max(0, ...runs.map((r) => r.ms)) },
      ]),
    );
    log(
      `round ${round}: load during queries p50=${ms(during.lat_us.p50)} ms p99=${ms(during.lat_us.p99)} ms (${during.ok} ok), p99 ratio ${ratio.toFixed(2)}`,
    );
    for (const [name, s] of Object.entries(queryStats))
      log(`round ${round}:   ${name}: ${s.runs} runs, median ${s.median_ms.toFixed(0)} ms, max ${s.max_ms.toFixed(0)} ms`);
    const throughputRatio = throughput(during) / Math.max(1e-9, throughput(alone));
    log(
      `round ${round}: throughput during/alone ${throughputRatio.toFixed(2)}; peak RSS node ${aloneRss.node_mb.toFixed(0)} -> ${duringRss.node_mb.toFixed(0)} MB, SQL process ${duringRss.children_mb.toFixed(0)} MB`,
    );
    results.rounds.push({
      alone,
      during,
      p99_ratio: ratio,
      throughput_ratio: throughputRatio,
      rss_alone: aloneRss,
      rss_during: duringRss,
      queries: queryStats,
    });
  }
  results.host.loadavg_end = os.loadavg();
  const ratios = results.rounds.map((r) => r.p99_ratio);
  const worstQuery = Math.max(...results.rounds.flatMap((r) => Object.values(r.queries).map((q) => q.max_ms)));
  results.verdict = {
    p99_ratio_median: median(ratios),
    p99_ratio_max: Math.max(...ratios),
    worst_query_ms: worstQuery,
    p99_within_limit: median(ratios) <= Number(o["max-p99-ratio"]),
  };
  fs.writeFileSync(path.join(OUT, "results.json"), JSON.stringify(results, null, 2));
  const md = [
    `# SQL under load (${N} invocations, c=${load.concurrency}, ${load.duration} s per phase)`,
    "",
    `Fill: ${results.fill.seconds.toFixed(1)} s. Host: ${results.host.cpus} CPUs, load average ${results.host.loadavg_start.map((x) => x.toFixed(2)).join(" ")} → ${results.host.loadavg_end.map((x) => x.toFixed(2)).join(" ")}.`,
    "",
    "Queries without load: " +
      Object.entries(results.queries_alone)
        .map(([name, q]) => `${name} ${q.median_ms.toFixed(0)} ms (max ${q.max_ms.toFixed(0)})`)
        .join(", ") +
      ".",
    "",
    "| round | p50 alone | p99 alone | p50 during | p99 during | p99 ratio | throughput during / alone | peak RSS node alone / during | peak RSS SQL process | " + Object.keys(QUERIES).map((q) => `${q} median / max`).join(" | ") + " |",
    "|---|---|---|---|---|---|---|---|---|" + Object.keys(QUERIES).map(() => "---").join("|") + "|",
    ...results.rounds.map((r, i) =>
      `| ${i + 1} | ${ms(r.alone.lat_us.p50)} ms | ${ms(r.alone.lat_us.p99)} ms | ${ms(r.during.lat_us.p50)} ms | ${ms(r.during.lat_us.p99)} ms | ${r.p99_ratio.toFixed(2)} | ` +
        `${r.throughput_ratio.toFixed(2)} | ${r.rss_alone.node_mb.toFixed(0)} / ${r.rss_during.node_mb.toFixed(0)} MB | ${r.rss_during.children_mb.toFixed(0)} MB | ` +
        Object.values(r.queries).map((q) => `${q.median_ms.toFixed(0)} / ${q.max_ms.toFixed(0)} ms (${q.runs})`).join(" | ") + " |",
    ),
    "",
    `Verdict: p99 ratio median ${results.verdict.p99_ratio_median.toFixed(2)} (max ${results.verdict.p99_ratio_max.toFixed(2)}, limit ${o["max-p99-ratio"]}); slowest query ${worstQuery.toFixed(0)} ms.`,
  ].join("\n");
  fs.writeFileSync(path.join(OUT, "results.md"), `${md}\n`);
  console.log(`\n${md}\n\nresults in ${OUT}`);
} catch (error) {
  log(`ERROR ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await stopAll();
  if (dataDir !== undefined) fs.rmSync(dataDir, { recursive: true, force: true });
}
