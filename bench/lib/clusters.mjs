// Clusters for `npm run bench -- --cluster 3`: three nodes of the reference (the shared harness's
// bench/cluster/cluster.mjs, replicated metadata and loglet) or of Keel (keel-server with
// --metadata-servers), on loopback, each with every role and the same replication and partitions.
// Every process is tracked by PID and stopped by PID.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { KEEL_SERVER, RESTATE_BIN, freePorts } from "./shared.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function healthy(url) {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

async function waitHealthy(nodes, timeoutMs) {
  const t0 = Date.now();
  for (const n of nodes) {
    while (!(await healthy(`${n.admin}/health`)) || !(await healthy(`${n.ingress}/restate/health`))) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`cluster node ${n.name} not healthy after ${timeoutMs} ms`);
      await sleep(250);
    }
  }
  return Date.now() - t0;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopPids(pids, graceMs = 20000) {
  for (const pid of pids) {
    try { process.kill(pid, "SIGTERM"); } catch {}
  }
  const t0 = Date.now();
  while (pids.some(alive) && Date.now() - t0 < graceMs) await sleep(200);
  for (const pid of pids.filter(alive)) {
    try { process.kill(pid, "SIGKILL"); } catch {}
  }
}

/** Starts a cluster; resolves with its nodes (name, PID), node 1's ingress and admin URLs, and stop(). */
export async function startCluster(kind, { size = 3, replication = 2, partitions = 24, logDir, env = {} }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-${kind}-cluster-`));
  if (kind === "restate") {
    if (size !== 3) throw new Error("the reference cluster harness starts 3 nodes");
    const state = path.join(dir, "cluster-state.json");
    const script = path.join(HERE, "..", "cluster", "cluster.mjs");
    const run = spawnSync(process.execPath, [script, "start", "--state", state, "--replication", String(replication), "--partitions", String(partitions)], {
      env: { ...process.env, ...env, BENCH_RESTATE_BIN: RESTATE_BIN },
      encoding: "utf8",
      timeout: 180000,
    });
    fs.writeFileSync(path.join(logDir, "cluster-start.log"), `${run.stdout}\n${run.stderr}`);
    if (run.status !== 0) throw new Error(`the reference cluster did not start: ${run.stderr || run.stdout}`);
    const { nodes } = JSON.parse(fs.readFileSync(state, "utf8"));
    const stop = async () => {
      spawnSync(process.execPath, [script, "stop", "--state", state], { encoding: "utf8", timeout: 60000 });
      for (const n of nodes) {
        try { fs.copyFileSync(path.join(path.dirname(n.dir), `${n.name}.log`), path.join(logDir, `${n.name}.log`)); } catch {}
      }
      fs.rmSync(dir, { recursive: true, force: true });
      const stateDir = path.dirname(nodes[0].dir);
      fs.rmSync(stateDir, { recursive: true, force: true });
    };
    return {
      pids: nodes.map((n) => n.pid),
      nodes: nodes.map((n) => ({ name: n.name, pid: n.pid })),
      ingress: `http://127.0.0.1:${nodes[0].ingress}`,
      admin: `http://127.0.0.1:${nodes[0].admin}`,
      stop,
    };
  }
  const ports = await freePorts(size * 3);
  const nodes = Array.from({ length: size }, (_, i) => ({
    name: `n${i + 1}`,
    nodePort: ports[3 * i],
    ingress: `http://127.0.0.1:${ports[3 * i + 1]}`,
    admin: `http://127.0.0.1:${ports[3 * i + 2]}`,
  }));
  const metadataServers = `127.0.0.1:${nodes[0].nodePort}`;
  for (const [i, n] of nodes.entries()) {
    const log = fs.openSync(path.join(logDir, `${n.name}.log`), "a");
    const args = [KEEL_SERVER, "--base-dir", dir, "--node-name", n.name, "--bind-address", "127.0.0.1",
      "--node-port", String(n.nodePort), "--ingress-port", n.ingress.split(":")[2], "--admin-port", n.admin.split(":")[2],
      "--metadata-servers", metadataServers, "--replication", String(replication), "--partitions", String(partitions),
      "--log-level", process.env.BENCH_KEEL_LOG_LEVEL ?? "warn", ...(i === 0 ? ["--auto-provision"] : [])];
    // BENCH_KEEL_NODE_ARGS: options for Node itself, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" (diagnosis).
    const nodeArgs = (process.env.BENCH_KEEL_NODE_ARGS ?? "").split(" ").filter(Boolean);
    const p = spawn(process.execPath, [...nodeArgs, ...args], { stdio: ["ignore", log, log], env: { ...process.env, ...env } });
    n.pid = p.pid;
  }
  const stop = async () => {
    await stopPids(nodes.map((n) => n.pid));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitHealthy(nodes, 120000);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    pids: nodes.map((n) => n.pid),
    nodes: nodes.map((n) => ({ name: n.name, pid: n.pid, admin: n.admin })),
    ingress: nodes[0].ingress,
    admin: nodes[0].admin,
    stop,
  };
}
