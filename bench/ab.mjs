#!/usr/bin/env node
// `npm run bench`: Keel side by side with the reference server (restate-server), A B A B.
//
// Each repeat runs bench.mjs once per server with identical options (by default the reference, then Keel), each
// with a fresh data directory, server and SDK endpoint. Per workload x concurrency it then takes the median across
// repeats for each server and the ratio Keel / reference of throughput, p50, p99, server CPU seconds per 1,000
// invocations and peak RSS. Output: results/<label>-<timestamp>/ab.json and ab.md (plus one directory per run
// with bench.mjs's raw results.json and the server / endpoint logs) and a short summary on stdout.
//
//   npm run bench                                   7 workloads x c = 1,16,64,256, 5 s per level, 2 repeats
//   npm run bench -- --workloads noop,steps --concurrency 64,256 --duration 10 --repeats 3
//   npm run bench -- --keel-only                    quick Keel-only check: noop,steps at c = 1,16,64, 1 repeat
//   npm run bench -- --no-fsync                     both servers without fsync (for diagnosis, never the headline)
//   npm run bench -- --workloads send -- --batch-sends 10000    options after a second `--` go to bench.mjs as is
//
// Every child is tracked by PID and stopped by PID; every run is bounded in time. See README.md.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { WORKLOADS } from "./lib/workloads.mjs";
import { KEEL_SERVER, NO_FSYNC_ENV, RESTATE_BIN, median } from "./lib/shared.mjs";
import { startCluster } from "./lib/clusters.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");
const REFERENCE = "restate";
const CANDIDATE = "keel";

const USAGE = `Usage: npm run bench -- [options] [-- <bench.mjs options>]

  --servers LIST       servers to run, in this order per repeat (default restate,keel)
  --keel-only          Keel only; unless given: noop,steps at c = 1,16,64, 1 repeat
  --workloads LIST     ${Object.keys(WORKLOADS).join(",")} (default: all)
  --concurrency LIST   requests in flight per level (default 1,16,64,256)
  --duration S         measured seconds per level (default 5)
  --repeats N          A/B repeats; medians are taken across them (default 2)
  --warmup S           warm-up per workload at c = 16 (default 2)
  --level-warmup S     unrecorded warm-up per level at its own concurrency (default 1)
  --loadgen G          auto (wrk when installed, else node), wrk or node (default auto)
  --no-fsync           both servers without log fsync (KEEL_UNSAFE_NO_FSYNC, RESTATE_BIFROST__LOCAL__ROCKSDB_DISABLE_WAL_FSYNC);
                       for diagnosis, never the headline
  --goal-levels LIST   levels the goal applies to (default 64,256)
  --drain-timeout S    for send: longest wait for accepted sends to run (default 60)
  --no-build           do not compile Keel (tsc) before running it
  --label NAME         results/<label>-<timestamp>/ (default ab, or keel with --keel-only)
  --out DIR            results directory instead of results/<label>-<timestamp>
  --report DIR         no runs: recompute DIR/ab.md and ab.json from DIR's runs (e.g. with other --goal-levels)
  --no-recovery        skip the recovery benchmark that follows (bench/recovery.mjs: start-up after a SIGKILL
                       with 100,000 completed and 10,000 in-flight invocations; skipped with --keel-only)
  --recovery-args S    options for bench/recovery.mjs, e.g. "--completed 20000 --repeats 1"
  --cluster N          each server as a cluster of N = 3 nodes on loopback with every role, replication
                       --replication (default 2) and 24 partitions (the reference through the shared
                       harness's bench/cluster/cluster.mjs); load goes to node 1's ingress, CPU and RSS
                       are summed over the nodes. Skips the recovery benchmark.
  --replication N      copies in cluster mode (default 2)
`;

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      servers: { type: "string", default: `${REFERENCE},${CANDIDATE}` },
      "keel-only": { type: "boolean", default: false },
      workloads: { type: "string" },
      concurrency: { type: "string" },
      duration: { type: "string", default: "5" },
      repeats: { type: "string" },
      warmup: { type: "string", default: "2" },
      "level-warmup": { type: "string", default: "1" },
      loadgen: { type: "string", default: "auto" },
      "no-fsync": { type: "boolean", default: false },
      "goal-levels": { type: "string", default: "64,256" },
      "drain-timeout": { type: "string", default: "60" },
      "no-build": { type: "boolean", default: false },
      label: { type: "string" },
      out: { type: "string", default: "" },
      report: { type: "string", default: "" },
      "no-recovery": { type: "boolean", default: false },
      "recovery-args": { type: "string", default: "" },
      cluster: { type: "string", default: "" },
      replication: { type: "string", default: "2" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
} catch (e) {
  console.error(`bench: ${e.message}\n\n${USAGE}`);
  process.exit(2);
}
const { values: o, positionals: passThrough } = parsed;
if (o.help) { console.log(USAGE); process.exit(0); }

const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);
const keelOnly = o["keel-only"];
// --report: the run's own settings come from its ab.json
const prior = o.report ? JSON.parse(fs.readFileSync(path.join(o.report, "ab.json"), "utf8")) : null;
const pm = prior?.meta;
const servers = pm?.servers ?? (keelOnly ? [CANDIDATE] : list(o.servers));
const workloads = pm?.workloads ?? list(o.workloads ?? (keelOnly ? "noop,steps" : Object.keys(WORKLOADS).join(",")));
const levels = pm?.concurrency ?? list(o.concurrency ?? (keelOnly ? "1,16,64" : "1,16,64,256")).map(Number);
const repeats = pm?.repeats ?? Number(o.repeats ?? (keelOnly ? 1 : 2));
const goalLevels = list(o["goal-levels"]).map(Number);
const label = pm?.label ?? o.label ?? (keelOnly ? "keel" : "ab");
const [D, W, LW, drainTimeout] = pm ? [pm.duration_s, pm.warmup_s, pm.level_warmup_s, Number(o["drain-timeout"])]
  : [o.duration, o.warmup, o["level-warmup"], o["drain-timeout"]].map(Number);

const problems = [];
for (const s of servers) if (s !== REFERENCE && s !== CANDIDATE) problems.push(`unknown server ${s} (known: ${REFERENCE}, ${CANDIDATE})`);
for (const w of workloads) if (!WORKLOADS[w]) problems.push(`unknown workload ${w}`);
if (!levels.length || levels.some((c) => !Number.isInteger(c) || c < 1)) problems.push(`bad --concurrency ${o.concurrency}`);
if (!(repeats >= 1) || !Number.isInteger(repeats)) problems.push(`bad --repeats ${o.repeats}`);
if (![D, W, LW, drainTimeout].every((x) => x >= 0) || D <= 0) problems.push("durations must be numbers, --duration > 0");
if (!["auto", "wrk", "node"].includes(o.loadgen)) problems.push(`bad --loadgen ${o.loadgen}`);
if (!prior && servers.includes(REFERENCE) && !fs.existsSync(RESTATE_BIN)) problems.push(`reference server not found at ${RESTATE_BIN}; run \`npm ci\``);
const clusterSize = o.cluster === "" ? 0 : Number(o.cluster);
if (o.cluster !== "" && clusterSize !== 3) problems.push(`bad --cluster ${o.cluster}: the reference harness starts 3 nodes`);
if (problems.length) { console.error(problems.map((p) => `bench: ${p}`).join("\n")); process.exit(2); }

// wrk costs far less client CPU than the Node generator, and the client shares the cores with the servers.
const hasWrk = spawnSync("sh", ["-c", "command -v wrk"]).status === 0;
const loadgen = o.loadgen === "auto" ? (hasWrk ? "wrk" : "node") : o.loadgen;
if (loadgen === "wrk" && !hasWrk) { console.error("bench: --loadgen wrk but wrk is not installed (Debian: apt-get install wrk)"); process.exit(2); }

const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const OUT = path.resolve(o.report || o.out || path.join(HERE, "results", `${label}-${stamp}`));
fs.mkdirSync(OUT, { recursive: true });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const say = (s = "") => console.log(s);

// ---------- the servers ----------
function git(...args) {
  const r = spawnSync("git", ["-C", ROOT, ...args]);
  return r.status === 0 ? r.stdout.toString().trim() : null;
}
// Both servers start from bench.mjs's presets (--server NAME, lib/shared.mjs): loopback, their own defaults.
const VERSIONS = {
  [REFERENCE]: () => spawnSync(RESTATE_BIN, ["--version"]).stdout.toString().trim(),
  [CANDIDATE]: () => `git ${git("rev-parse", "--short", "HEAD") ?? "?"}${git("status", "--porcelain", "--", "src") ? " + uncommitted changes in src/" : ""}`,
};

// Benchmark what is in src/ now: tsc is incremental, so this costs a few seconds when dist/ is current.
function buildKeel() {
  const needsGen = !fs.existsSync(path.join(ROOT, "src", "gen"));
  const [cmd, args] = needsGen ? ["npm", ["run", "build"]] : [process.execPath, [path.join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"]];
  say(`bench: building Keel (${needsGen ? "npm run build" : "tsc -p tsconfig.json"})`);
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: "inherit" });
  if (r.status !== 0) { console.error("bench: the Keel build failed"); process.exit(1); }
}

// ---------- ports ----------
// bench.mjs's standard loopback ports. Other engineers run servers on this machine too; when the standard block
// is busy, the run moves to the first free block further up (bench.mjs itself refuses busy ports).
const STANDARD_PORTS = { ingress: 28080, admin: 29070, fabric: 25122, service: 29080, stats: 29081 };
const PORT_STEP = 200;
function portFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}
async function freePortBlock() {
  for (let k = 0; k < 10; k++) {
    const ports = Object.fromEntries(Object.entries(STANDARD_PORTS).map(([n, p]) => [n, p + k * PORT_STEP]));
    if ((await Promise.all(Object.values(ports).map(portFree))).every(Boolean)) return ports;
  }
  throw new Error("no free block of loopback ports (tried 10)");
}
const portArgs = (p) => ["--ingress", `http://127.0.0.1:${p.ingress}`, "--admin", `http://127.0.0.1:${p.admin}`,
  "--fabric-port", String(p.fabric), "--service-port", String(p.service), "--stats-port", String(p.stats)];

// ---------- time budget ----------
const hasSend = workloads.includes("send");
// start + register ~8 s, per workload its warm-up, per level warm-up + window + ~2 s of bookkeeping and waiting
// for the previous step's abandoned invocations (bench.mjs quiesce), stop ~3 s;
// a send level also waits for its backlog to drain (a few seconds when the server keeps up).
const expectedRunS = 8 + workloads.length * W + workloads.length * levels.length * (LW + D + 2) + (hasSend ? levels.length * 4 : 0) + 3;
// Hard bound per bench.mjs run: well above the estimate, plus the worst-case drains.
const runLimitS = Math.ceil(3 * expectedRunS + 180 + (hasSend ? (2 * levels.length + 1) * drainTimeout : 0));

// ---------- one bench.mjs run ----------
let current = null; // { proc } of the running bench.mjs
let interrupted = false;

// A bench.mjs that was killed cannot stop its own children; stop the ones its log shows as started, not stopped.
async function reapOrphans(dir) {
  let text = "";
  try { text = fs.readFileSync(path.join(dir, "bench.log"), "utf8"); } catch { return; }
  const stopped = new Set([...text.matchAll(/stopped \S+ pid=(\d+)/g)].map((m) => m[1]));
  for (const [, name, pid] of text.matchAll(/started (\S+) pid=(\d+)/g)) {
    if (stopped.has(pid)) continue;
    let cmdline = "";
    try { cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8"); } catch { continue; }
    if (!/restate-server|keel-server|services\.mjs/.test(cmdline)) continue; // the PID was reused by something else
    say(`bench: stopping leftover ${name} pid=${pid}`);
    await stopPid(Number(pid), 15000);
  }
}
async function stopPid(pid, graceMs) {
  const alive = () => { try { process.kill(pid, 0); return true; } catch { return false; } };
  try { process.kill(pid, "SIGTERM"); } catch { return; }
  for (let t = 0; t < graceMs && alive(); t += 100) await sleep(100);
  if (alive()) { try { process.kill(pid, "SIGKILL"); } catch {} }
}

async function runBench(run) {
  const ports = await freePortBlock();
  if (ports.ingress !== STANDARD_PORTS.ingress) say(`bench: standard ports busy (another server on this machine; its CPU shows as "other tenants"); using ingress ${ports.ingress}`);
  run.server_env = o["no-fsync"] ? NO_FSYNC_ENV[run.server] : {}; // the server inherits bench.mjs's environment
  // A cluster is started here and handed to bench.mjs as external servers (its PIDs, node 1's edges).
  let cluster = null;
  if (clusterSize > 0) {
    fs.mkdirSync(run.dir, { recursive: true });
    cluster = await startCluster(run.server, { size: clusterSize, replication: Number(o.replication), logDir: run.dir, env: run.server_env });
  }
  const serverArgs = cluster === null ? [...portArgs(ports), "--server", run.server]
    : ["--ingress", cluster.ingress, "--admin", cluster.admin, "--service-port", String(ports.service), "--stats-port", String(ports.stats),
      "--external", "--server-pids", cluster.pids.join(",")];
  const args = [path.join(HERE, "bench.mjs"), "--label", `${label}-${run.name}`, "--out", run.dir,
    "--workloads", workloads.join(","), "--concurrency", levels.join(","), "--duration", String(D), "--repeats", "1",
    "--warmup", String(W), "--level-warmup", String(LW), "--loadgen", loadgen, "--batch-sends", "0",
    "--drain-timeout", String(drainTimeout), ...serverArgs, ...passThrough];
  const env = { ...process.env, ...run.server_env };
  delete env.BENCH_SERVER_CMD; // would replace the preset
  const t0 = Date.now();
  const proc = spawn(process.execPath, args, { cwd: HERE, env, stdio: ["ignore", "pipe", "pipe"] });
  current = { proc };
  const stderr = fs.createWriteStream(path.join(run.dir, "bench.stderr.log"));
  proc.stderr.pipe(stderr);
  let buf = "", stopping = false;
  proc.stdout.on("data", (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i); buf = buf.slice(i + 1);
      stopping ||= /stopped \S+ pid=/.test(line);
      // progress: measured levels, warm-ups, errors, and a server that exits before the run stops it
      if (/ c=\d+ rep=| warmup |ERROR|SIGKILL/.test(line) || (!stopping && /server exited/.test(line))) say(`  ${run.name.padEnd(10)} ${line.replace(/^\[[^\]]+\] /, "")}`);
    }
  });
  const exited = new Promise((r) => proc.once("exit", (code, sig) => r({ code, sig })));
  const limit = setTimeout(async () => {
    run.timed_out = true;
    say(`bench: ${run.name} exceeded its ${runLimitS} s limit; stopping bench.mjs pid=${proc.pid}`);
    await stopPid(proc.pid, 45000); // bench.mjs stops its server and endpoint on SIGTERM (15 s grace each)
  }, runLimitS * 1000);
  const { code, sig } = await exited;
  clearTimeout(limit);
  current = null;
  await cluster?.stop();
  stderr.end();
  await reapOrphans(run.dir);
  run.elapsed_s = (Date.now() - t0) / 1000;
  run.exit = sig ? `signal ${sig}` : code;
  run.ports = ports;
  try {
    const r = JSON.parse(fs.readFileSync(path.join(run.dir, "results.json"), "utf8"));
    run.records = r.runs;
    run.error = r.error ?? null;
    run.server_cmd = r.meta?.server_cmd;
    run.server_ready_ms = r.meta?.server_ready_ms;
  } catch (e) {
    run.records = [];
    run.error = `no results.json: ${e.message}`;
  }
  if (run.error || code !== 0) run.server_log_tail = tail(path.join(run.dir, "server.log"), 15);
}
function tail(file, n) {
  try { return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-n); } catch { return []; }
}

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    say(`bench: ${sig}: stopping the current run, then writing what was measured`);
    if (current) stopPid(current.proc.pid, 45000);
  });
}

// ---------- summary ----------
// One measured run of one workload x level, reduced to the compared quantities.
function metrics(r) {
  // For send the accepted invocations still run after the window; bench.mjs measures that drain's CPU separately.
  const cpuS = r.server_cpu_s + (r.drain_server_cpu_s ?? 0);
  // Nothing completed: the latencies describe failures (wrk times non-2xx responses too), not invocations.
  const lat = r.completed ? r.lat_ms : {};
  return {
    thr: r.throughput, p50: lat?.p50 ?? null, p99: lat?.p99 ?? null,
    cpu1k: r.completed ? (cpuS / r.completed) * 1000 : null,
    rss: r.server_peak_rss_mb,
    errors: r.error_count,
    other: r.other_cores, host: r.host_busy_pct, client: r.client_cores, endpoint: r.service_cores,
    drain: r.drain_after_s ?? null,
    // closed loop: completions per connection in the window; a handful means the window is too short for the latency
    per_conn: r.completed / r.concurrency,
    // send: accepted invocations per second of window + drain, i.e. what the server actually executed
    e2e: r.drain_after_s !== undefined && r.completed ? r.completed / (r.duration_s + r.drain_after_s) : null,
  };
}
// Fewer completions per connection than this and the window mostly measures its own edges (requests carried in
// from the warm-up, requests cut off at the end): the cell is flagged "short window".
const MIN_PER_CONN = 5;
const COMPARED = ["thr", "p50", "p99", "cpu1k", "rss", "e2e"];
// The goal, at the goal levels: direction in which Keel must be at least as good as the reference.
const GOAL = { thr: "higher", p99: "lower", cpu1k: "lower", rss: "lower" };

function aggregate(runs) {
  const cells = [];
  for (const wl of workloads) for (const c of levels) {
    const cell = { workload: wl, concurrency: c, goal_level: goalLevels.includes(c), servers: {}, ratio: {}, misses: [] };
    for (const s of servers) {
      const ms = runs.filter((r) => r.server === s).flatMap((r) => r.records.filter((x) => x.workload === wl && x.concurrency === c)).map(metrics);
      if (!ms.length) continue;
      const agg = { n: ms.length, errors: ms.reduce((a, m) => a + (m.errors ?? 0), 0), spread: {} };
      for (const k of [...COMPARED, "other", "host", "client", "endpoint", "drain", "per_conn"]) agg[k] = median(ms.map((m) => m[k]));
      agg.other_max = Math.max(...ms.map((m) => m.other ?? 0));
      // spread between repeats: (max - min) / median, per compared quantity
      for (const k of COMPARED) {
        const v = ms.map((m) => m[k]).filter((x) => x !== null && x !== undefined);
        agg.spread[k] = v.length > 1 && agg[k] ? (Math.max(...v) - Math.min(...v)) / agg[k] : null; // one repeat: unknown
      }
      cell.servers[s] = agg;
    }
    cell.short_window = Object.entries(cell.servers).filter(([, x]) => x.per_conn < MIN_PER_CONN).map(([sv]) => sv);
    const a = cell.servers[REFERENCE], b = cell.servers[CANDIDATE];
    if (a && b) {
      for (const k of COMPARED) cell.ratio[k] = a[k] && b[k] !== null ? b[k] / a[k] : null;
      if (cell.goal_level) {
        for (const [k, better] of Object.entries(GOAL)) {
          const x = cell.ratio[k];
          if (x === null || (better === "higher" ? x < 1 : x > 1)) {
            // a miss smaller than the two servers' combined repeat spread is not distinguishable from noise
            const noise = (a.spread[k] ?? 0) + (b.spread[k] ?? 0);
            cell.misses.push({ metric: k, ratio: x, within_spread: x !== null && Math.abs(x - 1) <= noise });
          }
        }
        // failed requests are never within the goal, whatever the other numbers say
        if (b.errors > 0) cell.misses.push({ metric: "errors", ratio: null, within_spread: false });
      }
    }
    if (Object.keys(cell.servers).length) cells.push(cell);
  }
  return cells;
}

const num = (x, d = 0) => (x === null || x === undefined || Number.isNaN(x) ? "-" : Number(x).toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d }));
const times = (x) => (x === null || x === undefined ? "-" : `${x.toFixed(2)}×`);
const pct = (x) => (x === null || x === undefined ? "-" : `${Math.round(x * 100)}%`);
const LABELS = { thr: "thr", p50: "p50", p99: "p99", cpu1k: "cpu", rss: "rss", e2e: "e2e", errors: "err" };
const missList = (cell) => cell.misses.map((m) => LABELS[m.metric] + (m.within_spread ? "~" : "")).join(",");

function noiseOf(cells, runs) {
  const all = runs.flatMap((r) => r.records.map(metrics));
  const spreads = cells.flatMap((c) => Object.values(c.servers).map((s) => ({ cell: c, v: s.spread.thr }))).filter((x) => x.v !== null);
  const worst = spreads.reduce((w, x) => (w && w.v >= x.v ? w : x), null);
  return {
    other_cores_median: median(all.map((m) => m.other)), other_cores_max: all.length ? Math.max(...all.map((m) => m.other ?? 0)) : null,
    host_busy_pct_median: median(all.map((m) => m.host)), client_cores_median: median(all.map((m) => m.client)),
    thr_spread_median: median(spreads.map((x) => x.v)), thr_spread_max: worst?.v ?? null,
    thr_spread_max_at: worst ? `${worst.cell.workload} c=${worst.cell.concurrency}` : null,
  };
}

function summaryLine(cell) {
  const a = cell.servers[REFERENCE], b = cell.servers[CANDIDATE];
  const head = `${cell.workload.padEnd(11)} c=${String(cell.concurrency).padEnd(4)}`;
  const one = b ?? a;
  const short = cell.short_window.length ? `  SHORT WINDOW (${cell.short_window.join(", ")})` : "";
  if (!(a && b)) {
    const who = b ? CANDIDATE : REFERENCE;
    return `${head} ${who}: ${num(one.thr)}/s p50 ${num(one.p50, 1)} ms p99 ${num(one.p99, 1)} ms  cpu ${num(one.cpu1k, 2)} s/1k  rss ${num(one.rss)} MB  err ${one.errors}  other ${num(one.other, 2)}c${short}`;
  }
  const r = cell.ratio;
  const miss = missList(cell);
  return `${head} thr ${times(r.thr)} (ref ${num(a.thr)}, keel ${num(b.thr)}/s)${r.e2e ? `  e2e ${times(r.e2e)}` : ""}  p99 ${times(r.p99)}  cpu ${times(r.cpu1k)}  rss ${times(r.rss)}` +
    `  err ${a.errors}/${b.errors}  spread ${pct(a.spread.thr)}/${pct(b.spread.thr)}  other ${num(a.other, 2)}/${num(b.other, 2)}c` +
    (cell.goal_level ? (miss ? `  MISS ${miss}` : "  ok") : "") + short;
}

function notes(cell, both) {
  const out = [];
  if (both && cell.goal_level) out.push(cell.misses.length ? `goal: miss ${missList(cell)}` : "goal: ok");
  if (cell.short_window.length) out.push(`short window (${cell.short_window.join(", ")}: < ${MIN_PER_CONN} completions per connection)`);
  return out;
}

function toMarkdown(report) {
  const { meta, cells, noise, runs } = report;
  const both = servers.includes(REFERENCE) && servers.includes(CANDIDATE);
  let s = `# ${both ? "Keel vs reference" : `${servers.join(", ")} only`}: ${meta.label}\n\n`;
  s += `- started ${meta.started}, finished ${meta.finished ?? "(interrupted)"}; host ${meta.host}: ${meta.cpus} CPUs (${meta.cpu_model}), ${meta.mem_gb} GiB, load average at start ${meta.loadavg_start.map((x) => x.toFixed(2)).join(" ")}\n`;
  for (const sv of servers) s += `- ${sv}: ${meta.versions[sv]}\n`;
  s += `- order per repeat: ${servers.join(" → ")}, ${repeats} repeat(s); each run: fresh data dir, server and SDK endpoint\n`;
  s += `- fsync: ${meta.fsync ? "on (the servers' defaults)" : `**OFF (--no-fsync: ${servers.map((sv) => Object.entries(NO_FSYNC_ENV[sv]).map(([k, v]) => `${k}=${v}`).join(" ")).join(", ")}): not a headline result**`}\n`;
  s += `- load generator: ${meta.loadgen}${meta.loadgen === "node" ? " (wrk not installed; the Node generator costs more client CPU, taken from the same cores)" : ""}; ${W} s warm-up per workload at c=16, ${LW} s per level, ${D} s measured per level\n`;
  s += `- values are medians across repeats${both ? "; × = Keel / reference" : ""}. CPU = server CPU seconds per 1,000 requests (a fanout request is 11 invocations; for send, CPU includes running the accepted sends after the window). RSS = server peak RSS during the window\n`;
  if (both) s += `- goal at c ∈ {${goalLevels.join(", ")}}: thr ≥ 1.0×, p99 ≤ 1.0×, CPU ≤ 1.0×, RSS ≤ 1.0×. ✗ = miss, ✗~ = miss within the repeats' spread (noise)\n`;
  s += "\n";
  const cols = [["thr", "thr/s", 0], ["p50", "p50 ms", 1], ["p99", "p99 ms", 1], ["cpu1k", "CPU s/1k", 2], ["rss", "RSS MB", 0]];
  const mark = (cell, k) => { const m = cell.misses.find((x) => x.metric === k); return m ? (m.within_spread ? " ✗~" : " ✗") : ""; };
  s += "| workload | c | " + cols.map(([, t]) => servers.map((sv) => `${t} ${sv}`).join(" | ") + (both ? " | ×" : "")).join(" | ") +
    " | errors " + servers.join("/") + " | thr spread " + servers.join("/") + " | other tenants cores " + servers.join("/") + " | notes |\n";
  s += "|---|---:|" + cols.map(() => servers.map(() => "---:").join("|") + (both ? "|---:" : "")).join("|") + "|---:|---:|---:|---|\n";
  for (const cell of cells) {
    const v = (sv, k, d) => num(cell.servers[sv]?.[k], d);
    s += `| ${cell.workload} | ${cell.concurrency} | ` + cols.map(([k, , d]) => servers.map((sv) => v(sv, k, d)).join(" | ") + (both ? ` | ${times(cell.ratio[k])}${mark(cell, k)}` : "")).join(" | ") +
      ` | ${servers.map((sv) => cell.servers[sv]?.errors ?? "-").join("/")} | ${servers.map((sv) => pct(cell.servers[sv]?.spread.thr)).join("/")} | ${servers.map((sv) => num(cell.servers[sv]?.other, 2)).join("/")} |` +
      ` ${notes(cell, both).join("; ")} |\n`;
  }
  const sends = cells.filter((c) => c.workload === "send");
  if (sends.length) {
    s += `\nsend: thr/s = accepted/s. After each window the harness waits until the accepted sends have run. ` +
      `Drain s / executed per s of window+drain: ` + sends.map((c) => `c=${c.concurrency}: ` + servers.map((sv) => `${sv} ${num(c.servers[sv]?.drain, 2)} s / ${num(c.servers[sv]?.e2e)}`).join(", ") + (both ? ` (${times(c.ratio.e2e)})` : "")).join("; ") + "\n";
  }
  s += `\n## Noise\n\n- other tenants (host busy minus server, SDK endpoint and load generator): median ${num(noise.other_cores_median, 2)} cores, max ${num(noise.other_cores_max, 2)} of ${meta.cpus}\n`;
  s += `- host busy: median ${num(noise.host_busy_pct_median)}% of ${meta.cpus * 100}%; load generator: median ${num(noise.client_cores_median, 2)} cores\n`;
  s += `- throughput spread between repeats ((max − min) / median): median ${pct(noise.thr_spread_median)}, max ${pct(noise.thr_spread_max)}${noise.thr_spread_max_at ? ` (${noise.thr_spread_max_at})` : ""}${repeats < 2 ? " (one repeat: no spread)" : ""}\n`;
  s += `\n## Runs\n\n| run | server | ports (ingress) | ready ms | elapsed s | exit | error |\n|---|---|---:|---:|---:|---|---|\n`;
  for (const r of runs) s += `| ${r.name} | ${r.server} | ${r.ports?.ingress ?? "-"} | ${num(r.server_ready_ms)} | ${num(r.elapsed_s)} | ${r.exit ?? "-"}${r.timed_out ? " (time limit)" : ""} | ${r.error ? "`" + r.error.split("\n")[0] + "`" : ""} |\n`;
  for (const r of runs.filter((x) => x.server_log_tail?.length)) s += `\n### ${r.name}: last lines of server.log\n\n\`\`\`\n${r.server_log_tail.join("\n")}\n\`\`\`\n`;
  return s;
}

function printSummary(report) {
  const { meta, runs } = report;
  say("");
  for (const cell of report.cells) say(summaryLine(cell));
  const n = report.noise;
  say("");
  if (servers.length > 1) {
    const goalCells = report.cells.filter((c) => c.goal_level && Object.keys(c.ratio).length);
    if (goalCells.length) say(`goal (c=${goalLevels.join(",")}: thr ≥1, p99/cpu/rss ≤1 ×): ${goalCells.filter((c) => !c.misses.length).length} of ${goalCells.length} cells met; "~" = miss within the repeats' spread`);
    else say(`goal: no level of ${goalLevels.join(",")} measured by both servers`);
  }
  say(`noise: other tenants median ${num(n.other_cores_median, 2)} cores (max ${num(n.other_cores_max, 2)}) of ${meta.cpus}; host busy median ${num(n.host_busy_pct_median)}%; ` +
    `thr spread between repeats median ${pct(n.thr_spread_median)}, max ${pct(n.thr_spread_max)}${n.thr_spread_max_at ? ` (${n.thr_spread_max_at})` : ""}`);
  const failed = runs.filter((r) => r.records && (r.error || r.exit !== 0));
  for (const r of failed) say(`run ${r.name}: exit ${r.exit}${r.error ? `: ${r.error.split("\n")[0]}` : ""} (logs in ${r.dir})`);
  if (!meta.fsync) say("NOTE: fsync was OFF (--no-fsync): not a headline result");
  return failed.length;
}
function write(report) {
  const measured = report.runs.filter((r) => r.records);
  report.cells = aggregate(measured);
  report.noise = noiseOf(report.cells, measured);
  report.meta.goal_levels = goalLevels;
  fs.writeFileSync(path.join(OUT, "ab.json"), JSON.stringify(report, null, 2));
  fs.writeFileSync(path.join(OUT, "ab.md"), toMarkdown(report));
}

// ---------- main ----------
if (prior) {
  write(prior);
  printSummary(prior);
  say(`\n${path.join(OUT, "ab.md")}`);
  process.exit(0);
}
const plan = [];
for (let i = 1; i <= repeats; i++) for (const s of servers) plan.push({ name: `${s}-r${i}`, server: s, repeat: i, dir: path.join(OUT, `${s}-r${i}`) });
const versions = {};
if (servers.includes(CANDIDATE) && !o["no-build"]) buildKeel();
if (servers.includes(CANDIDATE) && !fs.existsSync(KEEL_SERVER)) { console.error(`bench: ${KEEL_SERVER} is missing; run \`npm run build\``); process.exit(1); }
for (const s of servers) versions[s] = VERSIONS[s]();

const meta = {
  label, started: new Date().toISOString(), host: os.hostname(), cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model,
  mem_gb: Math.round(os.totalmem() / 2 ** 30), node: process.version, loadavg_start: os.loadavg(), loadgen, fsync: !o["no-fsync"],
  versions, servers, workloads, concurrency: levels, duration_s: D, warmup_s: W, level_warmup_s: LW, repeats, goal_levels: goalLevels,
  pass_through: passThrough, expected_s: Math.round(plan.length * expectedRunS), run_limit_s: runLimitS,
};
const report = { meta, runs: plan, cells: [], noise: {} };

say(`bench: ${servers.join(" vs ")}; ${workloads.join(",")} at c=${levels.join(",")}; ${D} s per level, ${repeats} repeat(s); fsync ${meta.fsync ? "on" : "OFF (not a headline result)"}`);
say(`bench: load generator: ${loadgen}${loadgen === "node" ? (hasWrk ? " (--loadgen node)" : " (wrk not installed: apt-get install wrk for less client CPU)") : ""}`);
say(`bench: ${plan.length} runs, expected ≈ ${Math.ceil(meta.expected_s / 60)} min (≈ ${Math.round(expectedRunS)} s each, limit ${runLimitS} s each); results in ${OUT}`);
const t0 = Date.now();
for (const [i, run] of plan.entries()) {
  if (interrupted) break;
  fs.mkdirSync(run.dir, { recursive: true });
  say(`bench: run ${i + 1}/${plan.length}: ${run.name}`);
  await runBench(run);
  const left = ((Date.now() - t0) / 1000 / (i + 1)) * (plan.length - i - 1); // seconds
  say(`bench: ${run.name} done in ${num(run.elapsed_s)} s (exit ${run.exit})${run.error ? `, ERROR: ${run.error.split("\n")[0]}` : ""}${left ? `; ≈ ${Math.ceil(left / 60)} min left` : ""}`);
  write(report);
}
meta.finished = interrupted ? null : new Date().toISOString();
write(report);
const failures = printSummary(report);
say(`elapsed ${num((Date.now() - t0) / 1000)} s; ${path.join(OUT, "ab.md")}`);
process.exitCode = interrupted ? 130 : failures ? 1 : 0;

if (!interrupted && !keelOnly && !o["no-recovery"] && clusterSize === 0 && servers.includes(CANDIDATE)) {
  say("");
  const recoveryArgs = o["recovery-args"].split(/\s+/).filter((a) => a !== "");
  const recovery = spawnSync(process.execPath, [path.join(HERE, "recovery.mjs"), ...recoveryArgs], { stdio: "inherit" });
  if (process.exitCode === 0 && recovery.status !== 0) process.exitCode = 1;
}
