#!/usr/bin/env node
// Start-up of a test environment until its first call is answered: the test kit (keel/testing, a
// Keel node inside the test's process) against the reference server started as a process (the
// closest thing to @restatedev/restate-sdk-testcontainers that runs here: the same server without
// Docker's own cost), A B A B, several repeats, medians.
//
//   node bench/testkit_startup.mjs [--repeats N] [--json FILE]
//
// Variants, each measured from the parent's spawn of a fresh process to the first call's answer:
//   kit            a fresh Node process imports keel/testing and the SDK, starts an environment with
//                  one service (Keel: 4 partitions, its test default), calls it; also measured inside
//                  that process: import, start(), first call, stop(), and a second start() (warm)
//   kit-24         the same with 24 partitions (the servers' default)
//   restate        restate-server spawned on a temporary directory (24 partitions, its default), the
//                  SDK endpoint already listening in this process; polled until healthy, deployment
//                  registered, first call retried until answered (what testcontainers' start does)
//   restate-4      the same with RESTATE_DEFAULT_NUM_PARTITIONS=4
// Needs `npm run build` (dist/) and `npm ci` (the reference binary, the SDK).

import "./polyfill.mjs";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttp2Server } from "node:http2";
import { createServer } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = join(here, "..");
const KIT = pathToFileURL(join(ROOT, "dist", "src", "testing", "index.js")).href;
const RESTATE_BIN = join(
  ROOT,
  "node_modules",
  "@restatedev",
  "restate-server-linux-x64",
  "bin",
  "restate-server",
);
const READY_TIMEOUT_MS = 60_000;

const greeterSource = async () => {
  const restate = await import("@restatedev/restate-sdk");
  return restate.service({
    name: "Greeter",
    handlers: { greet: async (_ctx, name) => `hello ${name}` },
  });
};

async function firstCall(ingressUrl, timeoutMs) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(`${ingressUrl}/Greeter/greet`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify("bench"),
      });
      if (res.ok && (await res.json()) === "hello bench") return;
      await res.body?.cancel();
    } catch {
      // not up yet
    }
    if (performance.now() > deadline) throw new Error("no answer to the first call");
    await new Promise((r) => setTimeout(r, 5));
  }
}

// ---- the child: one test-kit environment in a fresh process ----

async function child(partitions) {
  const importStart = performance.now();
  const { RestateTestEnvironment } = await import(KIT);
  const greeter = await greeterSource();
  const imported = performance.now();
  const env = await RestateTestEnvironment.start({
    services: [greeter],
    partitions,
    logLevel: "error",
  });
  const started = performance.now();
  await firstCall(env.baseUrl(), READY_TIMEOUT_MS);
  const answered = performance.now();
  // The parent's clock stops here.
  process.stdout.write(`FIRST-CALL\n`);
  await env.stop();
  const stopped = performance.now();
  const warm = await RestateTestEnvironment.start({
    services: [greeter],
    partitions,
    logLevel: "error",
  });
  const warmStarted = performance.now();
  await firstCall(warm.baseUrl(), READY_TIMEOUT_MS);
  const warmAnswered = performance.now();
  await warm.stop();
  process.stdout.write(
    `${JSON.stringify({
      processToImportMs: importStart,
      importMs: imported - importStart,
      startMs: started - imported,
      firstCallMs: answered - started,
      stopMs: stopped - answered,
      warmStartMs: warmStarted - stopped,
      warmFirstCallMs: warmAnswered - warmStarted,
    })}\n`,
  );
}

// ---- the parent ----

function freePorts(count) {
  const servers = Array.from({ length: count }, () => createServer());
  return Promise.all(
    servers.map(
      (s) =>
        new Promise((resolve, reject) => {
          s.once("error", reject);
          s.listen(0, "127.0.0.1", () => resolve(s.address().port));
        }),
    ),
  ).finally(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));
}

function waitExit(proc) {
  return proc.exitCode !== null || proc.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => proc.once("exit", resolve));
}

async function runKit(partitions) {
  const t0 = performance.now();
  const proc = spawn(
    process.execPath,
    [fileURLToPath(import.meta.url), "--child", "--partitions", String(partitions)],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  let readyMs;
  proc.stderr.on("data", (c) => (err += c));
  await new Promise((resolve, reject) => {
    proc.stdout.on("data", (c) => {
      out += c;
      if (readyMs === undefined && out.includes("FIRST-CALL\n")) readyMs = performance.now() - t0;
    });
    proc.once("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`kit child exited ${code}:\n${out}\n${err}`)),
    );
  });
  const inner = JSON.parse(out.trim().split("\n").pop());
  return { readyMs, ...inner };
}

async function runRestate(endpointUrl, partitions) {
  const baseDir = mkdtempSync(join(tmpdir(), "keel-bench-restate-"));
  const [ingressPort, adminPort, nodePort] = await freePorts(3);
  const t0 = performance.now();
  const proc = spawn(RESTATE_BIN, ["--no-logo", "--node-name", "n1", "--base-dir", baseDir], {
    stdio: ["ignore", "ignore", "pipe"],
    cwd: baseDir,
    env: {
      ...process.env,
      RESTATE_BIND_ADDRESS: `127.0.0.1:${nodePort}`,
      RESTATE_INGRESS__BIND_ADDRESS: `127.0.0.1:${ingressPort}`,
      RESTATE_ADMIN__BIND_ADDRESS: `127.0.0.1:${adminPort}`,
      RESTATE_LOG_FILTER: "error",
      ...(partitions === undefined ? {} : { RESTATE_DEFAULT_NUM_PARTITIONS: String(partitions) }),
      TMPDIR: baseDir,
    },
  });
  let err = "";
  proc.stderr.on("data", (c) => (err += c));
  try {
    const admin = `http://127.0.0.1:${adminPort}`;
    const deadline = performance.now() + READY_TIMEOUT_MS;
    for (;;) {
      const ok = await fetch(`${admin}/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (proc.exitCode !== null) throw new Error(`restate-server exited:\n${err}`);
      if (performance.now() > deadline) throw new Error(`restate-server not healthy:\n${err}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    const healthyMs = performance.now() - t0;
    const res = await fetch(`${admin}/deployments`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ uri: endpointUrl }),
    });
    if (!res.ok) throw new Error(`registration failed: ${await res.text()}`);
    const registeredMs = performance.now() - t0;
    await firstCall(`http://127.0.0.1:${ingressPort}`, READY_TIMEOUT_MS);
    const readyMs = performance.now() - t0;
    return { readyMs, healthyMs, registeredMs };
  } finally {
    proc.kill("SIGTERM");
    await waitExit(proc);
    rmSync(baseDir, { recursive: true, force: true });
  }
}

async function serveEndpoint() {
  const restate = await import("@restatedev/restate-sdk");
  const server = createHttp2Server(
    restate.createEndpointHandler({ services: [await greeterSource()] }),
  );
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${server.address().port}` };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function parent(repeats, jsonFile) {
  const endpoint = await serveEndpoint();
  const variants = [
    ["kit", () => runKit(4)],
    ["restate", () => runRestate(endpoint.url, undefined)],
    ["kit-24", () => runKit(24)],
    ["restate-4", () => runRestate(endpoint.url, 4)],
  ];
  const results = Object.fromEntries(variants.map(([name]) => [name, []]));
  const loadBefore = loadavg();
  console.log(`testkit start-up: ${repeats} repeats, A B A B; load average ${loadBefore.map((l) => l.toFixed(2)).join(" ")}`);
  for (let r = 1; r <= repeats; r++) {
    for (const [name, measure] of variants) {
      const result = await measure();
      results[name].push(result);
      console.log(`  repeat ${r} ${name.padEnd(10)} first call after ${result.readyMs.toFixed(0)} ms`);
    }
  }
  endpoint.server.close();
  const loadAfter = loadavg();
  const summary = {};
  for (const [name, runs] of Object.entries(results)) {
    summary[name] = {};
    for (const field of Object.keys(runs[0])) {
      const values = runs.map((x) => x[field]);
      summary[name][field] = {
        median: median(values),
        min: Math.min(...values),
        max: Math.max(...values),
      };
    }
  }
  console.log(`\nmedian (min–max) over ${repeats} repeats, ms; load average after ${loadAfter.map((l) => l.toFixed(2)).join(" ")}`);
  const fmt = (s) => `${s.median.toFixed(0)} (${s.min.toFixed(0)}–${s.max.toFixed(0)})`;
  for (const [name, fields] of Object.entries(summary)) {
    console.log(`  ${name.padEnd(10)} ${Object.entries(fields).map(([f, s]) => `${f} ${fmt(s)}`).join(", ")}`);
  }
  console.log(
    `\nratio restate / kit (first call, from spawn): ${(summary.restate.readyMs.median / summary.kit.readyMs.median).toFixed(1)}x`,
  );
  if (jsonFile !== undefined)
    writeFileSync(jsonFile, JSON.stringify({ repeats, loadBefore, loadAfter, results, summary }, null, 2));
}

const { values } = parseArgs({
  options: {
    child: { type: "boolean" },
    partitions: { type: "string" },
    repeats: { type: "string", default: "5" },
    json: { type: "string" },
  },
});
if (values.child) await child(Number(values.partitions ?? "4"));
else await parent(Number(values.repeats), values.json);
