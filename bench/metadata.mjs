#!/usr/bin/env node
// Metadata store benchmark: a real 3-process cluster on loopback (dist/src/bin/keel-metadata-node.js),
// a compare-and-swap workload from this process, and KILLS rounds of `kill -9` of the leader (each
// time restarted from its disk). Reports election time (kill → a survivor leads a higher term),
// write unavailability (kill → first CAS acknowledged after it), CAS throughput in steady state
// (several windows, with their spread as the machine's noise) and during the kills.
//
//   npm run bench:metadata                     defaults: TICK_MS=100 KILLS=20 WORKERS=16
//   TICK_MS=20 KILLS=5 npm run bench:metadata
//
// Every process started here is stopped by its PID; a watchdog ends the run after RUN_MS_MAX.
// Results: printed, and written to bench/results/metadata-<time>.json (not committed).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";

const TICK_MS = Number(process.env.TICK_MS ?? 100);
const KILLS = Number(process.env.KILLS ?? 20);
const WORKERS = Number(process.env.WORKERS ?? 16);
const STEADY_WINDOWS = Number(process.env.STEADY_WINDOWS ?? 3);
const STEADY_WINDOW_MS = Number(process.env.STEADY_WINDOW_MS ?? 5000);
const BASE_PORT = Number(process.env.BASE_PORT ?? 35122);
const RUN_MS_MAX = Number(process.env.RUN_MS_MAX ?? 10 * 60_000);
const CLIENT_TICK_MS = 10;
const STATUS_POLL_MS = 5;

const NODE_BIN = "dist/src/bin/keel-metadata-node.js";
if (!existsSync(NODE_BIN)) {
  console.error("bench/metadata: build first (npx tsc -p tsconfig.json)");
  process.exit(2);
}
const { connectMetadataStore } = await import("../dist/src/metadata-server/io/metadata_node.js");
const { PreconditionFailed, MUST_NOT_EXIST, matchesVersion } =
  await import("../dist/src/metadata/store.js");

const dataRoot = join(".tmp", `bench-metadata-${process.pid}`);
const address = (k) => `127.0.0.1:${BASE_PORT + k}`;
const children = new Map();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();

function stopAll() {
  for (const child of children.values()) if (child.exitCode === null) child.kill("SIGKILL");
}
const watchdog = setTimeout(() => {
  console.error(`bench/metadata: watchdog after ${RUN_MS_MAX} ms`);
  stopAll();
  process.exit(3);
}, RUN_MS_MAX);
process.on("SIGINT", () => {
  stopAll();
  process.exit(130);
});

function startNode(k, flags) {
  const child = spawn(
    process.execPath,
    [
      NODE_BIN,
      ...["--name", `node${k}`, "--listen", address(k), "--tick-ms", String(TICK_MS)],
      ...["--data-dir", join(dataRoot, `node${k}`)],
      ...flags,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  children.set(k, child);
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`node${k} not ready:\n${output}`)), 60_000);
    child.stderr.on("data", (chunk) => {
      output += chunk.toString();
      if (output.includes("ready")) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (!output.includes("ready"))
        reject(new Error(`node${k} exited (${code ?? signal}):\n${output}`));
    });
  });
}

function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;
const stddev = (values) => Math.sqrt(mean(values.map((v) => (v - mean(values)) ** 2)));
const round = (value) => Math.round(value * 10) / 10;

// ---- the workload: each worker increments its own counter by compare-and-swap ----

const store = connectMetadataStore("bench", [0, 1, 2].map(address), CLIENT_TICK_MS);
const probe = connectMetadataStore("bench-probe", [0, 1, 2].map(address), CLIENT_TICK_MS);
const completions = []; // [time, latencyMs]
let running = true;
let failures = 0;

async function worker(w) {
  const key = `bench/cas/${w}`;
  await store.put(key, new TextEncoder().encode("0"), MUST_NOT_EXIST).catch(() => undefined);
  while (running) {
    const started = now();
    try {
      const current = await store.get(key);
      const next = Number(new TextDecoder().decode(current.value)) + 1;
      await store.put(key, new TextEncoder().encode(String(next)), matchesVersion(current.version));
      completions.push([now(), now() - started]);
    } catch (error) {
      if (!(error instanceof PreconditionFailed)) failures++;
      await sleep(5);
    }
  }
}

async function statusOf(k) {
  return probe.status(address(k)).catch(() => undefined);
}

async function findLeader(alive) {
  for (;;) {
    const statuses = await Promise.all(alive.map(async (k) => [k, await statusOf(k)]));
    const leader = statuses.find(([, s]) => s?.role === "leader");
    if (leader !== undefined) return { k: leader[0], status: leader[1] };
    await sleep(STATUS_POLL_MS);
  }
}

function throughput(fromMs, toMs) {
  const count = completions.filter(([t]) => t >= fromMs && t < toMs).length;
  return count / ((toMs - fromMs) / 1000);
}

try {
  await rm(dataRoot, { recursive: true, force: true });
  await mkdir(dataRoot, { recursive: true });
  const load = { before: loadavg() };
  await startNode(0, ["--auto-provision"]);
  await startNode(1, ["--join", address(0)]);
  await startNode(2, ["--join", address(0)]);
  const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
  await sleep(1000); // warm-up

  // Steady state: several windows; their spread is the machine's noise.
  const windows = [];
  const steadyLatencies = [];
  for (let n = 0; n < STEADY_WINDOWS; n++) {
    const from = now();
    await sleep(STEADY_WINDOW_MS);
    windows.push(throughput(from, now()));
    steadyLatencies.push(...completions.filter(([t]) => t >= from).map(([, l]) => l));
  }

  // Kill -9 of the leader, KILLS times.
  const rounds = [];
  const killPhaseFrom = now();
  for (let n = 0; n < KILLS; n++) {
    const { k: leader, status } = await findLeader([0, 1, 2]);
    const survivors = [0, 1, 2].filter((k) => k !== leader);
    const killedAt = now();
    children.get(leader).kill("SIGKILL");
    let electedAt;
    let newLeader;
    while (electedAt === undefined) {
      for (const k of survivors) {
        const s = await statusOf(k);
        if (s?.role === "leader" && s.term > status.term) {
          electedAt = now();
          newLeader = k;
          break;
        }
      }
      if (electedAt === undefined) await sleep(STATUS_POLL_MS);
    }
    while (!completions.some(([t]) => t > killedAt)) await sleep(STATUS_POLL_MS);
    const firstWrite = completions.find(([t]) => t > killedAt)[0];
    rounds.push({
      killed: `node${leader}`,
      newLeader: `node${newLeader}`,
      termBefore: status.term,
      electionMs: round(electedAt - killedAt),
      writeGapMs: round(firstWrite - killedAt),
    });
    console.log(
      `kill ${n + 1}/${KILLS}: node${leader} (term ${status.term}) → node${newLeader} leads after ${round(electedAt - killedAt)} ms; first CAS after ${round(firstWrite - killedAt)} ms`,
    );
    const restartAt = now();
    await startNode(leader, []);
    const readyAt = now();
    // Let it catch up before the next round, so that every kill hits a full group.
    for (;;) {
      const [restarted, current] = [await statusOf(leader), (await findLeader([0, 1, 2])).status];
      if (restarted !== undefined && restarted.applied + 5 >= current.commit) break;
      await sleep(50);
    }
    await sleep(300);
    Object.assign(rounds.at(-1), {
      casPerSecondWhileRestarting: round(throughput(restartAt, readyAt)),
      casPerSecondAfterRestart: round(throughput(readyAt, now())),
      restartMs: round(readyAt - restartAt),
    });
    console.log(`  ${JSON.stringify(rounds.at(-1))}`);
  }
  const killPhaseTo = now();
  running = false;
  await Promise.race([Promise.all(workers), sleep(5000)]);
  load.after = loadavg();

  const elections = rounds.map((r) => r.electionMs);
  const gaps = rounds.map((r) => r.writeGapMs);
  const result = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavg: load },
    config: {
      tickMs: TICK_MS,
      electionTimeoutTicks: 10,
      heartbeatTicks: 2,
      workers: WORKERS,
      kills: KILLS,
    },
    steady: {
      casPerSecondWindows: windows.map(round),
      casPerSecondMean: round(mean(windows)),
      casPerSecondStddev: round(stddev(windows)),
      casLatencyMsP50: round(percentile(steadyLatencies, 50)),
      casLatencyMsP99: round(percentile(steadyLatencies, 99)),
    },
    kills: {
      electionMsP50: round(percentile(elections, 50)),
      electionMsP99: round(percentile(elections, 99)),
      electionMsMin: round(Math.min(...elections)),
      electionMsMax: round(Math.max(...elections)),
      writeGapMsP50: round(percentile(gaps, 50)),
      writeGapMsP99: round(percentile(gaps, 99)),
      casPerSecondDuringKills: round(throughput(killPhaseFrom, killPhaseTo)),
      failedOperations: failures,
      rounds,
    },
  };
  await mkdir(join("bench", "results"), { recursive: true });
  const file = join("bench", "results", `metadata-${result.date.replace(/[:.]/g, "-")}.json`);
  await writeFile(file, JSON.stringify(result, null, 2));
  console.log(
    [
      `metadata bench (tick ${TICK_MS} ms, election timeout 10-20 ticks, ${WORKERS} CAS workers, ${cpus().length} cpus, load ${load.before.map(round).join("/")})`,
      `  steady CAS/s: ${result.steady.casPerSecondMean} ± ${result.steady.casPerSecondStddev} (windows ${result.steady.casPerSecondWindows.join(", ")}); CAS latency p50 ${result.steady.casLatencyMsP50} ms, p99 ${result.steady.casLatencyMsP99} ms`,
      `  election after kill -9 of the leader (${KILLS} kills): p50 ${result.kills.electionMsP50} ms, p99 ${result.kills.electionMsP99} ms (min ${result.kills.electionMsMin}, max ${result.kills.electionMsMax})`,
      `  first CAS after the kill: p50 ${result.kills.writeGapMsP50} ms, p99 ${result.kills.writeGapMsP99} ms; CAS/s during the kill phase ${result.kills.casPerSecondDuringKills}; failed operations ${failures}`,
      `  written ${file}`,
    ].join("\n"),
  );
} finally {
  running = false;
  clearTimeout(watchdog);
  await store.close();
  await probe.close();
  stopAll();
  await sleep(100);
  await rm(dataRoot, { recursive: true, force: true });
}
