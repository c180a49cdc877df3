#!/usr/bin/env node
// Loglet benchmark: append throughput and commit latency of the replicated loglet (3 log-server
// processes on loopback, copies r = 2, a sequencer in this process) against the single-node `local`
// loglet, with the same closed-loop workload. Runs after `tsc` (npm run bench:loglet).
//
//   node bench/loglet.mjs [--concurrency 1,32] [--duration 5] [--warmup 1] [--repeats 3]
//                         [--records 1] [--bytes 256]
//
// Every configuration runs `repeats` times, replicated and local interleaved; the report gives the
// median and the spread (max − min, as % of the median) over the repeats: the machine's noise.
// The log servers are child processes, stopped by PID at the end (SIGTERM, then SIGKILL), and the
// whole run is bounded in time. Everything listens on 127.0.0.1 only.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, openSync, writeSync, fdatasyncSync, closeSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createInterface } from "node:readline";

const dist = new URL("../dist/src/", import.meta.url);
const { TcpTransport } = await import(new URL("net/io/tcp_transport.js", dist).href);
const { LocalLoglet } = await import(new URL("bifrost/local/io/local_loglet.js", dist).href);
const { systemClock } = await import(new URL("platform/io/system.js", dist).href);
const { LogletNode } = await import(new URL("bifrost/replicated/loglet_node.js", dist).href);
const { ReplicatedLoglet } = await import(new URL("bifrost/replicated/provider.js", dist).href);
const { generationalNodeId, NodeId } = await import(new URL("core/node_id.js", dist).href);
const { seededPrng } = await import(new URL("core/prng.js", dist).href);
const { DEFAULT_LOGLET_LIMITS } = await import(new URL("bifrost/replicated/limits.js", dist).href);
const { parseReplication } = await import(new URL("bifrost/replicated/replication.js", dist).href);
const { logletIdOf } = await import(new URL("bifrost/replicated/types.js", dist).href);

const { values } = parseArgs({
  options: {
    concurrency: { type: "string", default: "1,32" },
    duration: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    repeats: { type: "string", default: "3" },
    records: { type: "string", default: "1" },
    bytes: { type: "string", default: "256" },
  },
});
const concurrencies = values.concurrency.split(",").map(Number);
const durationMs = Number(values.duration) * 1000;
const warmupMs = Number(values.warmup) * 1000;
const repeats = Number(values.repeats);
const recordsPerAppend = Number(values.records);
const payloadBytes = Number(values.bytes);

const runs = concurrencies.length * repeats * 2;
const deadlineMs = runs * (durationMs + warmupMs) * 2 + 60_000;
const root = mkdtempSync(join(tmpdir(), "keel-bench-loglet-"));
const children = [];

function stopChildren() {
  for (const child of children) if (child.exitCode === null) process.kill(child.pid, "SIGTERM");
  const force = setTimeout(() => {
    for (const child of children) if (child.exitCode === null) process.kill(child.pid, "SIGKILL");
  }, 3_000);
  force.unref();
}
const deadline = setTimeout(() => {
  console.error(`bench: over the ${deadlineMs} ms bound, stopping`);
  stopChildren();
  process.exit(2);
}, deadlineMs);
deadline.unref();
process.once("SIGINT", () => {
  stopChildren();
  process.exit(130);
});

function startLogServer(node) {
  const child = spawn(
    process.execPath,
    [
      new URL("bin/log-server.js", dist).pathname,
      "--node",
      String(node),
      "--data",
      join(root, `n${node}`),
      "--port",
      "0",
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  children.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`log server ${node} did not start`)), 20_000);
    createInterface({ input: child.stdout }).once("line", (line) => {
      clearTimeout(timer);
      resolve(JSON.parse(line));
    });
    child.once("exit", (code) => reject(new Error(`log server ${node} exited with ${code}`)));
  });
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function workload(loglet, concurrency) {
  const payloads = Array.from({ length: recordsPerAppend }, () =>
    new Uint8Array(payloadBytes).fill(7),
  );
  let measuring = false;
  let stop = false;
  const latencies = [];
  let appends = 0;
  const worker = async () => {
    while (!stop) {
      const start = performance.now();
      await loglet.append(payloads);
      if (measuring) {
        latencies.push(performance.now() - start);
        appends++;
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  await new Promise((r) => setTimeout(r, warmupMs));
  measuring = true;
  const began = performance.now();
  await new Promise((r) => setTimeout(r, durationMs));
  measuring = false;
  const elapsed = performance.now() - began;
  stop = true;
  await Promise.all(workers);
  latencies.sort((a, b) => a - b);
  return {
    recordsPerSecond: (appends * recordsPerAppend) / (elapsed / 1000),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

function fsyncBaseline() {
  const path = join(root, "fsync-probe");
  const fd = openSync(path, "w");
  const times = [];
  for (let i = 0; i < 200; i++) {
    const t = performance.now();
    writeSync(fd, Buffer.alloc(256, 1));
    fdatasyncSync(fd);
    times.push(performance.now() - t);
  }
  closeSync(fd);
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

function summarize(samples, key) {
  const values = samples.map((s) => s[key]).sort((a, b) => a - b);
  const median = values[Math.floor(values.length / 2)];
  const spread = median === 0 ? 0 : ((values[values.length - 1] - values[0]) / median) * 100;
  return { median, spread };
}

const fmt = (value, digits = 2) => value.toFixed(digits);

try {
  console.log(
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}, node ${process.version}`,
  );
  const fsync = fsyncBaseline();
  console.log(
    `fdatasync of 256 B on this disk: p50 ${fmt(fsync.p50, 3)} ms, p99 ${fmt(fsync.p99, 3)} ms`,
  );
  const servers = await Promise.all([1, 2, 3].map(startLogServer));
  const peers = new Map(servers.map((s) => [NodeId(s.node), { host: "127.0.0.1", port: s.port }]));
  const self = generationalNodeId(4, 1);
  const transport = await TcpTransport.start({
    self: NodeId(4),
    generation: 1,
    listen: { host: "127.0.0.1", port: 0 },
    peers: () => peers,
  });
  const sequencerNode = new LogletNode({
    self,
    transport,
    clock: systemClock,
    prng: seededPrng(4),
    topology: new Map(),
    limits: DEFAULT_LOGLET_LIMITS,
  });
  console.log(
    `workload: closed loop, ${recordsPerAppend} record(s) of ${payloadBytes} B per append, ` +
      `${warmupMs / 1000} s warm-up + ${durationMs / 1000} s measured, ${repeats} repeats; ` +
      `replicated = 3 log-server processes, {node: 2}, sequencer in the bench process`,
  );
  let segment = 0;
  for (const concurrency of concurrencies) {
    const replicated = [];
    const local = [];
    for (let r = 0; r < repeats; r++) {
      const params = {
        logletId: logletIdOf(1, segment++),
        sequencer: self,
        nodeset: [1, 2, 3].map(NodeId),
        replication: parseReplication({ node: 2 }),
      };
      sequencerNode.open(params);
      replicated.push(await workload(new ReplicatedLoglet(sequencerNode, params), concurrency));
      const localLoglet = await LocalLoglet.open(join(root, `local-${concurrency}-${r}`));
      local.push(await workload(localLoglet, concurrency));
      await localLoglet.close();
    }
    console.log(`\nconcurrency ${concurrency}:`);
    console.log("loglet      records/s (spread)      p50 ms (spread)     p99 ms (spread)");
    const rows = { replicated, local };
    const medians = {};
    for (const [name, samples] of Object.entries(rows)) {
      const t = summarize(samples, "recordsPerSecond");
      const p50 = summarize(samples, "p50");
      const p99 = summarize(samples, "p99");
      medians[name] = { t: t.median, p50: p50.median, p99: p99.median };
      console.log(
        `${name.padEnd(11)} ${fmt(t.median, 0).padStart(9)} (±${fmt(t.spread, 0)}%)` +
          `       ${fmt(p50.median, 3).padStart(7)} (±${fmt(p50.spread, 0)}%)` +
          `     ${fmt(p99.median, 3).padStart(7)} (±${fmt(p99.spread, 0)}%)`,
      );
    }
    console.log(
      `replicated / local: throughput ×${fmt(medians.replicated.t / medians.local.t)}, ` +
        `p50 ×${fmt(medians.replicated.p50 / medians.local.p50)}, p99 ×${fmt(medians.replicated.p99 / medians.local.p99)}`,
    );
  }
  sequencerNode.shutdown();
  await transport.close();
} finally {
  stopChildren();
  await new Promise((r) => setTimeout(r, 200));
  rmSync(root, { recursive: true, force: true });
}
process.exit(0);
