#!/usr/bin/env node
// Recovery benchmark: how long keel-server takes to come back after a SIGKILL with a large store.
//
//   node bench/recovery.mjs [--completed 100000] [--inflight 10000] [--repeats 3]
//   node bench/recovery.mjs --lost-stores [...]   the partition stores are lost: from the log alone
//                                                 against from snapshots and the log after them
//
// Once: register the benchmark's SDK endpoint (bench/services.mjs) with a fresh node, fill its data
// directory with `completed` finished invocations and `inflight` running ones (recovery_populate.mjs,
// killed with SIGKILL mid-flight). Then, per repeat, on a fresh copy of that directory: start
// keel-server and measure from the spawn to
//   - ingress: GET /restate/health answers (the ingress listens before partitions recover),
//   - ready:   keel-server prints "Keel is ready" (every partition replayed its log and leads),
//   - call:    a new call to Bench/noop is answered,
//   - resumed: the SDK endpoint has run every in-flight invocation to its end,
//   - completed: the outputs of a random sample of 200 in-flight invocations are readable (then,
//     untimed, every in-flight invocation's output is checked),
// and print medians with min..max. Caches are warm (the copy was just written); every process is
// stopped by PID; everything listens on loopback.
//
// With --lost-stores, each repeat deletes the copy's partition stores before the start, twice: once
// as it is (every partition replays its whole log), once after a start that took a snapshot of every
// partition once the in-flight invocations ran (`POST /keel/snapshots`, which trims the logs) and
// stopped (the stores come back from the snapshots, and only the log after them is replayed). The prepared start resumes the in-flight
// invocations, so this mode times the start (ingress, ready, first call) only.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { freePorts } from "./lib/shared.mjs";
import { killChildren, startChild, stopChild, until } from "./lib/children.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");
const SERVER = path.join(ROOT, "dist", "src", "bin", "keel-server.js");

const { values: o } = parseArgs({
  options: {
    completed: { type: "string", default: "100000" },
    inflight: { type: "string", default: "10000" },
    repeats: { type: "string", default: "3" },
    "timeout-s": { type: "string", default: "600" },
    "lost-stores": { type: "boolean", default: false },
  },
});
const LOST_STORES = o["lost-stores"];
const COMPLETED = Number(o.completed);
const INFLIGHT = Number(o.inflight);
const REPEATS = Number(o.repeats);
const TIMEOUT_MS = Number(o["timeout-s"]) * 1000;

const log = (line) => console.log(`[recovery] ${line}`);
const start = startChild;
const stop = stopChild;

async function ok(url, init) {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
  await res.arrayBuffer();
  return res.ok;
}

function serverArgs(baseDir, ports) {
  return [SERVER, "--base-dir", baseDir, "--node-name", "n1", "--bind-address", "127.0.0.1",
    "--ingress-port", String(ports.ingress), "--admin-port", String(ports.admin), "--node-port", String(ports.node), "--log-level", "warn"];
}

async function stats(statsPort) {
  const res = await fetch(`http://127.0.0.1:${statsPort}/`, { signal: AbortSignal.timeout(5000) });
  return res.json();
}

const COMPLETION_SAMPLE = 200;
const outputUrl = (ports, id) => `http://127.0.0.1:${ports.ingress}/restate/invocation/${id}/output`;

async function unreadableOutputs(ports, ids) {
  let next = 0;
  const missing = [];
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next < ids.length) {
      const id = ids[next++];
      if (!(await ok(outputUrl(ports, id)).catch(() => false))) missing.push(id);
    }
  }));
  return missing;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const fmt = (xs) => `${median(xs)} ms (${Math.min(...xs)}..${Math.max(...xs)})`;

async function main() {
  if (!fs.existsSync(SERVER)) throw new Error("dist/ is missing; run `npm run build` first");
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "keel-recovery-bench-"));
  const cleanup = async () => {
    killChildren();
    fs.rmSync(work, { recursive: true, force: true });
  };
  process.on("SIGINT", () => void cleanup().then(() => process.exit(130)));
  try {
    const [ingress, admin, node, service, statsPort] = await freePorts(5);
    const ports = { ingress, admin, node, service, stats: statsPort };
    const services = start("services", [path.join(HERE, "services.mjs")], {
      SERVICE_PORT: String(ports.service), STATS_PORT: String(ports.stats), RESTATE_LOGGING: "WARN",
    });
    await until("the SDK endpoint", () => stats(ports.stats).then(() => true), Date.now() + 30_000, 50);

    // A fresh node with the endpoint registered, stopped cleanly.
    const populated = path.join(work, "populated");
    const first = start("keel-server", serverArgs(populated, ports));
    await until("keel-server", async () => first.output.join("").includes("Keel is ready"), Date.now() + 60_000, 50);
    const registered = await fetch(`http://127.0.0.1:${ports.admin}/deployments`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ uri: `http://127.0.0.1:${ports.service}`, force: true }),
    });
    if (registered.status !== 201 && registered.status !== 200) throw new Error(`registration failed: ${registered.status} ${await registered.text()}`);
    await stop(first);

    // Fill it, then kill the populating process mid-flight.
    const idsFile = path.join(work, "inflight-ids.txt");
    const t0 = Date.now();
    const filler = start("populate", [path.join(HERE, "recovery_populate.mjs"), path.join(populated, "n1"), String(COMPLETED), String(INFLIGHT), idsFile]);
    await until("the populated store", async () => {
      if (filler.child.exitCode !== null) throw new Error(`populate exited: ${filler.output.join("")}`);
      return filler.output.join("").includes("populated ");
    }, Date.now() + TIMEOUT_MS, 200);
    await stop(filler, "SIGKILL");
    const size = execFileSync("du", ["-sh", populated]).toString().split("\t")[0];
    log(`populated ${COMPLETED} completed + ${INFLIGHT} in-flight invocations in ${Date.now() - t0} ms (${size} on disk), killed with SIGKILL`);
    const inflightIds = fs.readFileSync(idsFile, "utf8").split("\n").filter((l) => l !== "");

    if (LOST_STORES) {
      await lostStores(populated, ports, work);
      await stop(services);
      return;
    }
    const results = { ingress: [], ready: [], call: [], resumed: [], completed: [] };
    for (let repeat = 1; repeat <= REPEATS; repeat++) {
      const copy = path.join(work, `run-${repeat}`);
      fs.cpSync(populated, copy, { recursive: true });
      fs.rmSync(path.join(copy, "n1", "LOCK"), { force: true });
      const stepsBefore = (await stats(ports.stats)).steps;
      const { server, spawnedAt, ingressAt, readyAt, callAt, alive, deadline } = await timedStart(copy, ports);
      const resumedAt = await until("every in-flight invocation", async () => (alive(), (await stats(ports.stats)).steps - stepsBefore >= INFLIGHT), deadline, 50);
      // Timed: a random sample of the in-flight invocations has readable outputs.
      const sample = [...inflightIds].sort(() => Math.random() - 0.5).slice(0, COMPLETION_SAMPLE);
      for (const id of sample) await until(`the output of ${id}`, () => ok(outputUrl(ports, id)), deadline, 20);
      const completedAt = Date.now();
      // Not timed: every one of them has.
      const missing = await unreadableOutputs(ports, inflightIds);
      if (missing.length > 0) throw new Error(`${missing.length} in-flight invocations have no output, e.g. ${missing[0]}`);
      await stop(server);
      fs.rmSync(copy, { recursive: true, force: true });
      const row = { ingress: ingressAt - spawnedAt, ready: readyAt - spawnedAt, call: callAt - spawnedAt, resumed: resumedAt - spawnedAt, completed: completedAt - spawnedAt };
      for (const [k, v] of Object.entries(row)) results[k].push(v);
      log(`repeat ${repeat}: ingress ${row.ingress} ms, ready ${row.ready} ms, first call ${row.call} ms, all in-flight resumed ${row.resumed} ms, completed ${row.completed} ms (all ${inflightIds.length} outputs verified)`);
    }
    await stop(services);
    const load = os.loadavg()[0].toFixed(2);
    console.log("");
    console.log(`Recovery after SIGKILL: ${COMPLETED} completed + ${INFLIGHT} in-flight invocations, 24 partitions; median (min..max) of ${REPEATS}, load ${load} on ${os.cpus().length} cores`);
    console.log(`  ingress answers          ${fmt(results.ingress)}`);
    console.log(`  partitions ready         ${fmt(results.ready)}`);
    console.log(`  first new call answered  ${fmt(results.call)}`);
    console.log(`  all in-flight resumed    ${fmt(results.resumed)}`);
    console.log(`  all in-flight completed  ${fmt(results.completed)}  (outputs of a sample of ${COMPLETION_SAMPLE} readable; all verified after)`);
    fs.mkdirSync(path.join(HERE, "results"), { recursive: true });
    const out = path.join(HERE, "results", `recovery-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
    fs.writeFileSync(out, JSON.stringify({ completed: COMPLETED, inflight: INFLIGHT, repeats: REPEATS, results }, null, 2));
    console.log(`  results in ${out}`);
  } finally {
    await cleanup();
  }
}

/** Starts keel-server on `copy` and times its ingress, its readiness and a first new call. */
async function timedStart(copy, ports) {
  const spawnedAt = Date.now();
  const deadline = spawnedAt + TIMEOUT_MS;
  const server = start("keel-server", serverArgs(copy, ports));
  const alive = () => {
    if (server.child.exitCode !== null) throw new Error(`keel-server exited: ${server.output.join("")}`);
  };
  const ingressAt = await until("the ingress", async () => (alive(), ok(`http://127.0.0.1:${ports.ingress}/restate/health`)), deadline);
  const readyAt = await until("Keel is ready", async () => (alive(), server.output.join("").includes("Keel is ready")), deadline);
  const callAt = await until("a new call", async () => ok(`http://127.0.0.1:${ports.ingress}/Bench/noop`, {
    method: "POST", headers: { "content-type": "application/json" }, body: '"probe"',
  }), deadline);
  return { server, spawnedAt, ingressAt, readyAt, callAt, alive, deadline };
}

/** The start of a node whose partition stores are gone, from the log alone and from snapshots. */
async function lostStores(populated, ports, work) {
  const results = { log: { ingress: [], ready: [], call: [] }, snapshots: { ingress: [], ready: [], call: [] } };
  const copyOf = (name) => {
    const copy = path.join(work, name);
    fs.cpSync(populated, copy, { recursive: true });
    fs.rmSync(path.join(copy, "n1", "LOCK"), { force: true });
    return copy;
  };
  const startWithoutStores = async (copy) => {
    fs.rmSync(path.join(copy, "n1", "db"), { recursive: true, force: true });
    const { server, spawnedAt, ingressAt, readyAt, callAt } = await timedStart(copy, ports);
    await stop(server);
    fs.rmSync(copy, { recursive: true, force: true });
    return { ingress: ingressAt - spawnedAt, ready: readyAt - spawnedAt, call: callAt - spawnedAt };
  };
  for (let repeat = 1; repeat <= REPEATS; repeat++) {
    const fromLog = await startWithoutStores(copyOf(`log-${repeat}`));
    const prepared = copyOf(`snapshots-${repeat}`);
    const stepsBefore = (await stats(ports.stats)).steps;
    const preparing = start("keel-server", serverArgs(prepared, ports));
    await until("keel-server", async () => preparing.output.join("").includes("Keel is ready"), Date.now() + TIMEOUT_MS, 50);
    // As periodic snapshots would: the snapshot covers nearly all of the log (the in-flight ones ran).
    await until("every in-flight invocation", async () => (await stats(ports.stats)).steps - stepsBefore >= INFLIGHT, Date.now() + TIMEOUT_MS, 50);
    const taken = await fetch(`http://127.0.0.1:${ports.admin}/keel/snapshots`, { method: "POST" });
    if (!taken.ok) throw new Error(`snapshots failed: ${taken.status} ${await taken.text()}`);
    const logBytes = execFileSync("du", ["-sb", path.join(prepared, "n1")]).toString().split("\t")[0];
    await stop(preparing);
    const fromSnapshots = await startWithoutStores(prepared);
    for (const k of ["ingress", "ready", "call"]) {
      results.log[k].push(fromLog[k]);
      results.snapshots[k].push(fromSnapshots[k]);
    }
    log(`repeat ${repeat}: from the log: ready ${fromLog.ready} ms, first call ${fromLog.call} ms; from snapshots: ready ${fromSnapshots.ready} ms, first call ${fromSnapshots.call} ms (data dir after snapshots ${logBytes} bytes)`);
  }
  const load = os.loadavg()[0].toFixed(2);
  console.log("");
  console.log(`Start with lost partition stores: ${COMPLETED} completed + ${INFLIGHT} in-flight invocations, 24 partitions; median (min..max) of ${REPEATS}, load ${load} on ${os.cpus().length} cores`);
  for (const k of ["ingress", "ready", "call"]) {
    const ratio = (median(results.snapshots[k]) / median(results.log[k])).toFixed(2);
    console.log(`  ${k.padEnd(8)} from the log ${fmt(results.log[k])}; from snapshots ${fmt(results.snapshots[k])} (${ratio}x)`);
  }
  fs.mkdirSync(path.join(HERE, "results"), { recursive: true });
  const out = path.join(HERE, "results", `recovery-lost-stores-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  fs.writeFileSync(out, JSON.stringify({ completed: COMPLETED, inflight: INFLIGHT, repeats: REPEATS, results }, null, 2));
  console.log(`  results in ${out}`);
}

main().catch((error) => {
  console.error(`recovery bench: ${error.message}`);
  killChildren();
  process.exit(1);
});
