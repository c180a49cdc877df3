#!/usr/bin/env node
// `npm run bench:large`: memory after a burst of large messages, Keel and the reference side by side.
// For each server in turn (A B A B over `--repeats`), on a fresh data directory with a fresh SDK
// endpoint (the test fixtures' HostileBytes/HostileState services):
//   1. warm up, then take the baseline: the median RSS over 2 s of idle;
//   2. burst: `--count` request bodies of `--size-mib` (a fresh random body each) at `--concurrency`
//      in flight, then `--state-keys` objects each given a `--state-mib` state value and read twice
//      (the value travels as eager state); the peak RSS is sampled every `--sample-ms`;
//   3. settle: `--settle` seconds of idle; the settled RSS is the median of its last 3 seconds.
// RSS is the server process's VmRSS (all threads); RssAnon (its anonymous part, what the allocator
// holds, without file pages of mapped data files) is reported beside it. The noise of the machine is
// the CPU other processes took during the burst (host busy minus server, endpoint and this script).
//
//   npm run bench:large -- [--servers restate,keel] [--repeats 2] [--count 24] [--size-mib 30]
//                          [--concurrency 4] [--state-keys 4] [--state-mib 10] [--settle 30]
//                          [--keel-env NAME=VALUE,...] [--no-build]
//
// `--servers` may also name `keel-env`: Keel with the `--keel-env` environment (e.g. glibc's
// `GLIBC_TUNABLES=glibc.malloc.trim_threshold=33554432`, see the README).
// Results (JSON + Markdown) go to bench/results/large-<time>/. Every child is stopped by its PID.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { cpuSeconds, hostCpu, rssKB } from "./lib/proc.mjs";
import { KEEL_SERVER, RESTATE_BIN, freePorts, median } from "./lib/shared.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");
const SERVICES = path.join(ROOT, "dist", "test", "fixtures", "services.js");
const MiB = 1024 * 1024;

const { values: o } = parseArgs({
  options: {
    servers: { type: "string", default: "restate,keel" },
    repeats: { type: "string", default: "2" },
    count: { type: "string", default: "24" },
    "size-mib": { type: "string", default: "30" },
    concurrency: { type: "string", default: "4" },
    "state-keys": { type: "string", default: "4" },
    "state-mib": { type: "string", default: "10" },
    settle: { type: "string", default: "30" },
    "sample-ms": { type: "string", default: "100" },
    "keel-env": { type: "string", default: "GLIBC_TUNABLES=glibc.malloc.trim_threshold=33554432" },
    "no-build": { type: "boolean", default: false },
  },
});
const SERVERS = o.servers.split(",");
const REPEATS = Number(o.repeats);
const COUNT = Number(o.count);
const SIZE = Number(o["size-mib"]) * MiB;
const CONCURRENCY = Number(o.concurrency);
const STATE_KEYS = Number(o["state-keys"]);
const STATE_SIZE = Number(o["state-mib"]) * MiB;
const SETTLE_S = Number(o.settle);
const SAMPLE_MS = Number(o["sample-ms"]);
const KEEL_ENV = Object.fromEntries(
  o["keel-env"].split(",").filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
);

if (!o["no-build"]) {
  const built = spawnSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: ROOT, stdio: "inherit" });
  if (built.status !== 0) process.exit(1);
}
if (!fs.existsSync(SERVICES) || !fs.existsSync(KEEL_SERVER)) {
  console.error("bench:large: dist/ is missing; run `npm run build` first");
  process.exit(1);
}

const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const OUT = path.join(HERE, "results", `large-${stamp}`);
fs.mkdirSync(OUT, { recursive: true });
const log = (...m) => {
  const line = `[${new Date().toISOString().slice(11, 23)}] ${m.join(" ")}`;
  console.log(line);
  fs.appendFileSync(path.join(OUT, "bench.log"), `${line}\n`);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const children = new Set();
function start(name, cmd, args, env, logName) {
  const out = fs.openSync(path.join(OUT, logName), "a");
  const child = spawn(cmd, args, { stdio: ["ignore", out, out], env: { ...process.env, ...env } });
  children.add(child);
  child.once("exit", () => children.delete(child));
  log(`started ${name} pid=${child.pid}`);
  return child;
}
async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(timer);
}
process.on("SIGINT", () => {
  for (const child of children) child.kill("SIGKILL");
  process.exit(130);
});

async function waitFor(what, probe, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await probe()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function rssAnonKB(pid) {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, "utf8").match(/^RssAnon:\s+(\d+) kB/m);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

async function post(url, body, contentType) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": contentType },
    body,
    signal: AbortSignal.timeout(120_000),
  });
  await res.arrayBuffer();
  return res.status;
}

async function runOne(kind, repeat) {
  const [ingressPort, adminPort, nodePort, servicePort] = await freePorts(4);
  const data = fs.mkdtempSync(path.join(os.tmpdir(), `keel-bench-large-${kind}-`));
  const label = `${kind}-r${repeat}`;
  const server =
    kind === "restate"
      ? start(kind, RESTATE_BIN, ["--no-logo", "--node-name", "n1", "--base-dir", data], {
          TMPDIR: data,
          RESTATE_BIND_ADDRESS: `127.0.0.1:${nodePort}`,
          RESTATE_INGRESS__BIND_ADDRESS: `127.0.0.1:${ingressPort}`,
          RESTATE_ADMIN__BIND_ADDRESS: `127.0.0.1:${adminPort}`,
          RESTATE_LOG_FILTER: "warn",
        }, `${label}.server.log`)
      : start(kind, process.execPath, [
          KEEL_SERVER, "--base-dir", data, "--node-name", "n1", "--bind-address", "127.0.0.1",
          "--ingress-port", String(ingressPort), "--admin-port", String(adminPort),
          "--node-port", String(nodePort), "--log-level", "warn",
        ], kind === "keel-env" ? KEEL_ENV : {}, `${label}.server.log`);
  const services = start("endpoint", process.execPath, [SERVICES, String(servicePort)], { RESTATE_LOGGING: "WARN" }, `${label}.service.log`);
  const ingress = `http://127.0.0.1:${ingressPort}`;
  const admin = `http://127.0.0.1:${adminPort}`;
  try {
    await waitFor("the server", async () => (await fetch(`${admin}/health`)).ok && (await fetch(`${ingress}/restate/health`)).ok);
    await waitFor("the endpoint", async () => {
      const res = await fetch(`${admin}/deployments`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ uri: `http://127.0.0.1:${servicePort}` }),
      });
      return res.status === 201 || res.status === 200;
    });
    // Warm-up: every code path once, with a small body and a small state.
    await post(`${ingress}/HostileBytes/digest`, randomBytes(MiB), "application/octet-stream");
    await post(`${ingress}/HostileState/warm/fill`, JSON.stringify(1024), "application/json");
    await post(`${ingress}/HostileState/warm/digest`, "null", "application/json");
    await sleep(3000);
    const baseSamples = [];
    for (let i = 0; i < 10; i++) {
      baseSamples.push(rssKB(server.pid));
      await sleep(200);
    }
    const baselineKB = median(baseSamples);
    const baselineAnonKB = rssAnonKB(server.pid);

    let peakKB = 0;
    let peakAnonKB = 0;
    const sampler = setInterval(() => {
      peakKB = Math.max(peakKB, rssKB(server.pid) ?? 0);
      peakAnonKB = Math.max(peakAnonKB, rssAnonKB(server.pid) ?? 0);
    }, SAMPLE_MS);
    const cpu0 = { server: cpuSeconds(server.pid), endpoint: cpuSeconds(services.pid), self: process.cpuUsage(), host: hostCpu() };
    const started = performance.now();
    let next = 0;
    let failures = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < COUNT) {
          next++;
          const status = await post(`${ingress}/HostileBytes/digest`, randomBytes(SIZE), "application/octet-stream").catch(() => 0);
          if (status !== 200) failures++;
        }
      }),
    );
    const bodiesS = (performance.now() - started) / 1000;
    await Promise.all(
      Array.from({ length: STATE_KEYS }, async (_, k) => {
        const key = `burst-${k}`;
        for (const [handler, body] of [["fill", JSON.stringify(STATE_SIZE)], ["digest", "null"], ["digest", "null"]]) {
          const status = await post(`${ingress}/HostileState/${key}/${handler}`, body, "application/json").catch(() => 0);
          if (status !== 200) failures++;
        }
      }),
    );
    const burstS = (performance.now() - started) / 1000;
    const cpu1 = { server: cpuSeconds(server.pid), endpoint: cpuSeconds(services.pid), self: process.cpuUsage(), host: hostCpu() };
    const afterBurstKB = rssKB(server.pid);
    const settle = [];
    for (let s = 1; s <= SETTLE_S; s++) {
      await sleep(1000);
      settle.push({ s, rssKB: rssKB(server.pid), anonKB: rssAnonKB(server.pid) });
    }
    clearInterval(sampler);
    const last = settle.slice(-3);
    const settledKB = median(last.map((x) => x.rssKB));
    const settledAnonKB = median(last.map((x) => x.anonKB));
    const hostTicks = cpu1.host.total - cpu0.host.total;
    const hostBusyCores = ((cpu1.host.busy - cpu0.host.busy) / hostTicks) * os.cpus().length;
    const selfS = (cpu1.self.user - cpu0.self.user + cpu1.self.system - cpu0.self.system) / 1e6;
    const ownCores = (cpu1.server - cpu0.server + (cpu1.endpoint - cpu0.endpoint) + selfS) / burstS;
    const result = {
      server: kind,
      repeat,
      baseline_mb: baselineKB / 1024,
      baseline_anon_mb: baselineAnonKB / 1024,
      peak_mb: peakKB / 1024,
      peak_anon_mb: peakAnonKB / 1024,
      after_burst_mb: afterBurstKB / 1024,
      settled_mb: settledKB / 1024,
      settled_anon_mb: settledAnonKB / 1024,
      bodies_s: bodiesS,
      burst_s: burstS,
      failures,
      server_cpu_s: cpu1.server - cpu0.server,
      other_tenants_cores: Math.max(0, hostBusyCores - ownCores),
      settle: settle.map((x) => ({ s: x.s, mb: x.rssKB / 1024 })),
    };
    log(
      `${label}: baseline ${result.baseline_mb.toFixed(0)} MB, peak ${result.peak_mb.toFixed(0)} MB, settled ${result.settled_mb.toFixed(0)} MB ` +
        `(anon ${result.baseline_anon_mb.toFixed(0)} -> ${result.settled_anon_mb.toFixed(0)}), bodies ${bodiesS.toFixed(1)} s, failures ${failures}, ` +
        `other tenants ${result.other_tenants_cores.toFixed(2)} cores`,
    );
    return result;
  } finally {
    await stop(services);
    await stop(server);
    fs.rmSync(data, { recursive: true, force: true });
  }
}

const results = [];
const host = { cpus: os.cpus().length, loadavg_start: os.loadavg(), memory_gb: os.totalmem() / 2 ** 30 };
log(`servers ${SERVERS.join(",")} x ${REPEATS}: ${COUNT} x ${o["size-mib"]} MiB at ${CONCURRENCY} in flight, ${STATE_KEYS} x ${o["state-mib"]} MiB state, settle ${SETTLE_S} s; load ${host.loadavg_start.map((x) => x.toFixed(2)).join(" ")}`);
try {
  for (let repeat = 1; repeat <= REPEATS; repeat++)
    for (const kind of SERVERS) results.push(await runOne(kind, repeat));
} finally {
  for (const child of children) child.kill("SIGKILL");
}

const fields = ["baseline_mb", "peak_mb", "settled_mb", "settled_anon_mb", "bodies_s", "other_tenants_cores"];
const summary = Object.fromEntries(
  SERVERS.map((kind) => {
    const runs = results.filter((r) => r.server === kind);
    const med = Object.fromEntries(fields.map((f) => [f, median(runs.map((r) => r[f]))]));
    med.settled_over_baseline = median(runs.map((r) => r.settled_mb / r.baseline_mb));
    med.peak_over_baseline = median(runs.map((r) => r.peak_mb / r.baseline_mb));
    med.settled_spread = runs.length > 1 ? (Math.max(...runs.map((r) => r.settled_mb)) - Math.min(...runs.map((r) => r.settled_mb))) / med.settled_mb : 0;
    med.failures = runs.reduce((n, r) => n + r.failures, 0);
    return [kind, med];
  }),
);
const lines = [
  `# Memory after a burst of large messages (${new Date().toISOString()})`,
  "",
  `${COUNT} bodies of ${o["size-mib"]} MiB at ${CONCURRENCY} in flight, then ${STATE_KEYS} objects with a ${o["state-mib"]} MiB state read twice; ` +
    `settled = median RSS of the last 3 s of ${SETTLE_S} s idle. Medians of ${REPEATS} run(s) per server; ${host.cpus} cores, load at start ${host.loadavg_start.map((x) => x.toFixed(2)).join(" ")}.`,
  "",
  "| server | baseline MB | peak MB | settled MB | settled anon MB | settled / baseline | peak / baseline | settled spread | bodies s | failures | other tenants (cores) |",
  "|---|---|---|---|---|---|---|---|---|---|---|",
  ...SERVERS.map((kind) => {
    const m = summary[kind];
    return `| ${kind} | ${m.baseline_mb.toFixed(0)} | ${m.peak_mb.toFixed(0)} | ${m.settled_mb.toFixed(0)} | ${m.settled_anon_mb.toFixed(0)} | ${m.settled_over_baseline.toFixed(2)} | ${m.peak_over_baseline.toFixed(2)} | ${(m.settled_spread * 100).toFixed(0)}% | ${m.bodies_s.toFixed(1)} | ${m.failures} | ${m.other_tenants_cores.toFixed(2)} |`;
  }),
];
if (summary.restate !== undefined) {
  lines.push("", "Ratios to the reference (medians):", "");
  for (const kind of SERVERS.filter((k) => k !== "restate")) {
    const m = summary[kind];
    const r = summary.restate;
    lines.push(
      `- ${kind}: peak ${(m.peak_mb / r.peak_mb).toFixed(2)}x, settled ${(m.settled_mb / r.settled_mb).toFixed(2)}x, settled above baseline ${((m.settled_mb - m.baseline_mb) / (r.settled_mb - r.baseline_mb)).toFixed(2)}x, bodies time ${(m.bodies_s / r.bodies_s).toFixed(2)}x`,
    );
  }
}
const markdown = `${lines.join("\n")}\n`;
fs.writeFileSync(path.join(OUT, "results.md"), markdown);
fs.writeFileSync(path.join(OUT, "results.json"), JSON.stringify({ options: o, host, results, summary }, null, 2));
console.log(`\n${markdown}\nresults in ${path.relative(ROOT, OUT)}`);
