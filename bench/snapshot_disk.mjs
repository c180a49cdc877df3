#!/usr/bin/env node
// Log disk use under a steady load, with snapshots (the logs trimmed below them) and without.
//
//   node bench/snapshot_disk.mjs [--duration-s 600] [--interval-records 20000] [--concurrency 32]
//
// Per mode, a fresh keel-server (24 partitions) and the benchmark's SDK endpoint (bench/services.mjs);
// `concurrency` callers run Bench/steps (three journal entries each) for `duration-s` seconds, and every
// 10 s the size of the node's log directory (`local-loglet`) and of its snapshots is sampled. Mode
// "snapshots" takes one every `interval-records` applied records of a partition (keeping 2, the logs
// trimmed through the older); mode "none" takes none (interval 0), so its logs are never trimmed.
// Prints both series and the final and peak figures; results/snapshot-disk-<time>.json. Every process
// is stopped by PID; everything listens on loopback.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { freePorts } from "./lib/shared.mjs";
import { killChildren, startChild, stopChild, until } from "./lib/children.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SERVER = path.join(HERE, "..", "dist", "src", "bin", "keel-server.js");
const { values: o } = parseArgs({
  options: {
    "duration-s": { type: "string", default: "600" },
    "interval-records": { type: "string", default: "20000" },
    concurrency: { type: "string", default: "32" },
  },
});
const DURATION_MS = Number(o["duration-s"]) * 1000;
const INTERVAL = Number(o["interval-records"]);
const CONCURRENCY = Number(o.concurrency);
const SAMPLE_MS = 10_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const start = (args, env) => startChild("child", args, env);
const stop = stopChild;

const bytesOf = (dir) =>
  fs.existsSync(dir) ? Number(execFileSync("du", ["-sb", dir]).toString().split("\t")[0]) : 0;
const mb = (bytes) => (bytes / 1024 / 1024).toFixed(1);

async function run(mode, work) {
  const [ingress, admin, node, service, stats] = await freePorts(5);
  const services = start([path.join(HERE, "services.mjs")], {
    SERVICE_PORT: String(service), STATS_PORT: String(stats), RESTATE_LOGGING: "WARN",
  });
  const baseDir = path.join(work, mode);
  const server = start([SERVER, "--base-dir", baseDir, "--node-name", "n1", "--bind-address", "127.0.0.1",
    "--ingress-port", String(ingress), "--admin-port", String(admin), "--node-port", String(node), "--log-level", "warn",
    "--snapshot-interval-records", mode === "snapshots" ? String(INTERVAL) : "0"]);
  try {
    const deadline = Date.now() + 60_000;
    await until("keel-server", async () => server.output.join("").includes("Keel is ready"), deadline, 50);
    await until("the SDK endpoint", async () => (await fetch(`http://127.0.0.1:${stats}/`)).ok, deadline, 50);
    const registered = await fetch(`http://127.0.0.1:${admin}/deployments`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ uri: `http://127.0.0.1:${service}` }),
    });
    if (!registered.ok) throw new Error(`registration: ${registered.status} ${await registered.text()}`);
    const logDir = path.join(baseDir, "n1", "local-loglet");
    const snapshotDir = path.join(baseDir, "n1", "snapshots");
    const samples = [];
    let calls = 0;
    let failures = 0;
    const endAt = Date.now() + DURATION_MS;
    const callers = Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < endAt) {
        const res = await fetch(`http://127.0.0.1:${ingress}/Bench/steps`, {
          method: "POST", headers: { "content-type": "application/json" }, body: '"x"',
        }).catch(() => undefined);
        if (res?.ok) calls++;
        else failures++;
        await res?.arrayBuffer();
      }
    });
    const startedAt = Date.now();
    const sampler = (async () => {
      while (Date.now() < endAt) {
        await sleep(SAMPLE_MS);
        const sample = { s: Math.round((Date.now() - startedAt) / 1000), calls, log: bytesOf(logDir), snapshots: bytesOf(snapshotDir) };
        samples.push(sample);
        console.log(`[${mode}] ${sample.s}s: ${calls} calls, log ${mb(sample.log)} MB, snapshots ${mb(sample.snapshots)} MB`);
      }
    })();
    await Promise.all([...callers, sampler]);
    if (server.child.exitCode !== null) throw new Error(`keel-server exited: ${server.output.join("")}`);
    return { mode, calls, failures, samples };
  } finally {
    await stop(server);
    await stop(services);
  }
}

async function main() {
  if (!fs.existsSync(SERVER)) throw new Error("dist/ is missing; run `npm run build` first");
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "keel-snapshot-disk-"));
  try {
    const results = [];
    for (const mode of ["snapshots", "none"]) results.push(await run(mode, work));
    console.log("");
    console.log(`Log disk use under a steady load (Bench/steps at ${CONCURRENCY} in flight for ${DURATION_MS / 1000} s, 24 partitions; snapshots every ${INTERVAL} records of a partition, 2 kept), load ${os.loadavg()[0].toFixed(2)} on ${os.cpus().length} cores`);
    for (const r of results) {
      const last = r.samples.at(-1) ?? { log: 0, snapshots: 0 };
      const peak = Math.max(...r.samples.map((s) => s.log));
      console.log(`  ${r.mode.padEnd(9)} ${r.calls} calls (${r.failures} failed): log at the end ${mb(last.log)} MB, peak ${mb(peak)} MB; snapshots ${mb(last.snapshots)} MB`);
    }
    fs.mkdirSync(path.join(HERE, "results"), { recursive: true });
    const out = path.join(HERE, "results", `snapshot-disk-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
    fs.writeFileSync(out, JSON.stringify({ durationS: DURATION_MS / 1000, intervalRecords: INTERVAL, concurrency: CONCURRENCY, results }, null, 2));
    console.log(`  results in ${out}`);
  } finally {
    killChildren();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(`snapshot disk bench: ${error.message}`);
  killChildren();
  process.exit(1);
});
