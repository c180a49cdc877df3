#!/usr/bin/env node
// `npm run bench:failover`: the reference and Keel as 3-node clusters (replication 2, lib/clusters.mjs), each
// under closed-loop load through node 1's ingress while node 3 is killed with SIGKILL (cluster/failover.mjs, the
// shared harness's experiment). Per server, over the kills: the longest stretch with no completion after the kill
// (median and max), the time until throughput is back at 80 % of the pre-kill median, and the failed requests.
//
//   npm run bench:failover -- [--servers restate,keel] [--kills 3] [--workload steps] [--concurrency 16]
//                             [--duration 30] [--kill-at 10]
//
// Every process is tracked by PID and stopped by PID; every run is bounded in time.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { startCluster } from "./lib/clusters.mjs";
import { freePorts, median } from "./lib/shared.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { values: o } = parseArgs({
  options: {
    servers: { type: "string", default: "restate,keel" },
    kills: { type: "string", default: "3" },
    workload: { type: "string", default: "steps" },
    concurrency: { type: "string", default: "16" },
    duration: { type: "string", default: "30" },
    "kill-at": { type: "string", default: "10" },
    help: { type: "boolean", default: false },
  },
});
if (o.help) {
  const head = fs.readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n").slice(1);
  console.log(head.slice(0, head.findIndex((l) => !l.startsWith("//"))).map((l) => l.replace(/^\/\/ ?/, "")).join("\n"));
  process.exit(0);
}
const servers = o.servers.split(",").filter(Boolean);
const kills = Number(o.kills);
const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const OUT = path.join(HERE, "results", `failover-${stamp}`);
fs.mkdirSync(OUT, { recursive: true });

/** Runs a process to its end without blocking this one (the status watch below keeps running). */
function runAsync(command, args, { timeout }) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeout);
    child.on("exit", () => { clearTimeout(timer); resolve({ stdout, stderr }); });
  });
}

// BENCH_FAILOVER_DIAGNOSIS=1: every second, each node's /keel/status (Keel only) with how long it took to answer,
// appended to status.jsonl in the kill's directory: what the survivors think while throughput is down.
function watchStatus(nodes, dir) {
  const file = path.join(dir, "status.jsonl");
  let stopped = false;
  (async () => {
    while (!stopped) {
      await Promise.all(nodes.filter((n) => n.admin).map(async (n) => {
        const t0 = Date.now();
        let entry;
        try {
          const r = await fetch(`${n.admin}/keel/status`, { signal: AbortSignal.timeout(4000) });
          entry = { status: r.status, body: await r.json() };
        } catch (e) {
          entry = { error: String(e) };
        }
        fs.appendFileSync(file, JSON.stringify({ at: new Date(t0).toISOString(), node: n.name, ms: Date.now() - t0, ...entry }) + "\n");
      }));
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  return { stop: () => (stopped = true) };
}

const results = Object.fromEntries(servers.map((s) => [s, []]));
for (let k = 1; k <= kills; k++) {
  for (const server of servers) {
    const dir = path.join(OUT, `${server}-${k}`);
    fs.mkdirSync(dir, { recursive: true });
    const cluster = await startCluster(server, { size: 3, replication: 2, logDir: dir });
    try {
      const state = path.join(dir, "state.json");
      fs.writeFileSync(state, JSON.stringify({ nodes: cluster.nodes }));
      const [servicePort, statsPort] = await freePorts(2);
      const diagnosis = process.env.BENCH_FAILOVER_DIAGNOSIS ? watchStatus(cluster.nodes, dir) : undefined;
      const run = await runAsync(process.execPath, [path.join(HERE, "cluster", "failover.mjs"), "--state", state,
        "--ingress", cluster.ingress, "--admin", cluster.admin, "--workload", o.workload, "--concurrency", o.concurrency,
        "--duration", o.duration, "--kill-at", o["kill-at"], "--kill-node", "n3", "--out", dir,
        "--service-port", String(servicePort), "--stats-port", String(statsPort)],
      { timeout: (Number(o.duration) + 240) * 1000 });
      diagnosis?.stop();
      fs.writeFileSync(path.join(dir, "run.log"), `${run.stdout}\n${run.stderr}`);
      const result = JSON.parse(fs.readFileSync(path.join(dir, "failover.json"), "utf8"));
      results[server].push(result);
      console.log(`${server} kill ${k}: zero-throughput ${result.longest_zero_gap_s} s, back at 80 % after ${result.recovered_to_80pct_after_s} s, errors after the kill ${result.errors_after_kill}, pre-kill ${Math.round(result.pre_kill_thr_per_s)}/s`);
    } finally {
      await cluster.stop();
    }
  }
}
const fmt = (x) => (x === null || x === undefined ? "-" : Number(x).toFixed(1));
let md = `# Failover: ${o.workload} at c=${o.concurrency}, node 3 killed at ${o["kill-at"]} s of ${o.duration} s, ${kills} kill(s) per server\n\n`;
md += "| server | zero-throughput s (median / max) | back at 80 % after s (median / max) | errors after the kill (median / max) | pre-kill thr/s (median) |\n|---|---|---|---|---|\n";
for (const server of servers) {
  const rs = results[server];
  const col = (f) => { const v = rs.map(f).filter((x) => x !== null && x !== undefined); return `${fmt(median(v))} / ${fmt(v.length ? Math.max(...v) : null)}`; };
  md += `| ${server} | ${col((r) => r.longest_zero_gap_s)} | ${col((r) => r.recovered_to_80pct_after_s)} | ${col((r) => r.errors_after_kill)} | ${fmt(median(rs.map((r) => r.pre_kill_thr_per_s)))} |\n`;
}
fs.writeFileSync(path.join(OUT, "failover.md"), md);
fs.writeFileSync(path.join(OUT, "failover.json"), JSON.stringify(results, null, 2));
console.log(`\n${md}\n${OUT}/failover.md`);
