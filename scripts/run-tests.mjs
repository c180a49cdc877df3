#!/usr/bin/env node
// Runs the compiled test files with Node's built-in runner.
//   node scripts/run-tests.mjs [unit|contract|e2e|sim|fuzz|hostile|reference|cluster|browser|all ...] [--only <substring>]
// Unit tests sit next to their sources (src/**/*.test.ts); suites shared by implementations live in
// test/contract; end-to-end tests that start real processes live in test/e2e; bounded, seeded fuzzing
// (KEEL_FUZZ_SECONDS per fuzz test) lives in test/fuzz.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const args = process.argv.slice(2);
const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : undefined;
const kinds = args.filter((a, i) => !a.startsWith("--") && args[i - 1] !== "--only");

function walk(dir) {
  let out = [];
  let names = [];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out = out.concat(walk(path));
    else if (name.endsWith(".test.js")) out.push(path);
  }
  return out;
}

const groups = {
  unit: [...walk("dist/src"), ...walk("dist/examples")],
  contract: walk("dist/test/contract"),
  sim: walk("dist/test/sim"),
  e2e: walk("dist/test/e2e"),
  fuzz: walk("dist/test/fuzz"),
  // Hostile and heavy input against real processes (large messages, killer queries, a second owner of
  // a data directory, damaged logs, a full disk), each case bounded in time.
  hostile: walk("dist/test/hostile"),
  // The semantic stories again, against the reference Restate server: they encode Restate's behaviour.
  // compat_<area>.test.ts files hold the differences found by running Restate's examples and conformance
  // scenarios; they run in both groups too.
  reference: walk("dist/test/e2e").filter((f) =>
    /(semantics|restart|request_response|ingress_client|cli|sql|admin|compat_\w+)\.test\.js$/.test(
      f,
    ),
  ),
  // The semantic stories, the admin API, SQL and the official CLI against three Keel nodes at
  // {node: 2} (requests through nodes 1 and 2, the admin API of node 3).
  cluster: walk("dist/test/e2e").filter((f) =>
    /\/(semantics|request_response|ingress_client|core|cli|sql|admin)\.test\.js$/.test(f),
  ),
  // The web UI in real Chromium (Debian's `chromium`, driven by playwright-core) against one node and
  // three; screenshots land in ui-screenshots/.
  browser: walk("dist/test/browser"),
};

/**
 * Groups of files that start processes, each file a job of its own. Every file takes free ports and
 * temporary directories of its own (test/e2e/harness.ts), so two files can run at once: their time
 * is mostly spent waiting on processes and timers, and two at a time nearly halves it on two cores.
 */
const PROCESS_GROUPS = new Set(["e2e", "hostile", "reference", "cluster", "browser"]);
/** Files that run alone, with no other file beside them. */
const ALONE = {
  // They kill nodes under load and require progress within fixed windows after the kill (failover,
  // the multi-region demo), or run Kafka on the JVM with waits of their own: another file's load on
  // the same two cores would eat into their windows.
  e2e: /\/(cluster_failover|orders_demo|kafka_\w+)\.test\.js$/,
  // Each case is bounded in time (a large message, a killer query) and measures what it bounds.
  hostile: /./,
};
/**
 * Files that start clusters of three nodes or more (the whole cluster group) run beside a file that
 * does not, never beside one another: two clusters at once on two cores slowed calls enough for 40
 * concurrent exclusive calls of the semantic suite to fail.
 */
const CLUSTER_FILES =
  /\/(e2e\/(cluster|cluster_changes|cluster_tls|testkit_cluster|tracing_cluster)|browser\/ui_cluster)\.test\.js$/;
const startsCluster = (job) => job.group === "cluster" || CLUSTER_FILES.test(job.file);
/**
 * The longest files beside others (tens of seconds each): started first, so that the last files to
 * finish are short ones and neither of the two lanes waits long for the other at the end.
 */
const LONG_FIRST = [
  /\/e2e\/cluster\.test\.js$/,
  /\/e2e\/cluster_changes\.test\.js$/,
  /\/e2e\/snapshots\.test\.js$/,
  /\/e2e\/testkit_package\.test\.js$/,
  /\/e2e\/crash_torture\.test\.js$/,
  /\/e2e\/tracing_cluster\.test\.js$/,
  /\/browser\/ui\.test\.js$/,
  /\/browser\/ui_cluster\.test\.js$/,
  /\/e2e\/security\.test\.js$/,
  /\/e2e\/observability\.test\.js$/,
  /\/e2e\/compat_invoker\.test\.js$/,
  /\/e2e\/recovery_faults\.test\.js$/,
];
const LANES = 2;

const selected =
  kinds.length === 0 || kinds.includes("all")
    ? ["unit", "contract", "sim", "fuzz", "e2e", "hostile", "reference", "cluster", "browser"]
    : kinds;

function envOf(group) {
  const env = { ...process.env, KEEL_TEST_GROUP: group };
  if (group === "reference") env.KEEL_TEST_TARGET = "restate";
  if (group === "cluster") env.KEEL_TEST_TARGET = "keel-cluster";
  if (process.stdout.isTTY && env.FORCE_COLOR === undefined) env.FORCE_COLOR = "1";
  return env;
}

let failed = false;
const jobs = [];
for (const group of selected) {
  let files = groups[group] ?? [];
  if (only !== undefined) files = files.filter((f) => f.includes(only));
  if (files.length === 0) continue;
  if (PROCESS_GROUPS.has(group)) {
    for (const file of files) jobs.push({ group, file, alone: ALONE[group]?.test(file) ?? false });
    continue;
  }
  console.log(`\n== ${group}: ${files.length} file(s)`);
  // Fuzz files each spend their time budget: one at a time keeps the total predictable.
  const concurrency = group === "fuzz" ? "1" : "2";
  const result = spawnSync(
    process.execPath,
    ["--test", `--test-concurrency=${concurrency}`, "--test-reporter=spec", ...files],
    { stdio: "inherit", env: envOf(group) },
  );
  if (result.status !== 0) failed = true;
}

const poolStarted = Date.now();
/** Totals per group, from each file's own summary (`ℹ tests 12` ...). */
const totals = new Map();
const results = [];
const SUMMARY_LINE = /^ℹ (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) [\d.]+$/;

/** The warnings and errors, then the last lines, that the processes of a failed file printed. */
function processLogEnd(file) {
  let lines;
  try {
    lines = readFileSync(file, "utf8").trimEnd().split("\n");
  } catch {
    return [];
  }
  const troubles = lines.filter((line) => /\b(warn|warning|error|fatal)\b/i.test(line));
  return [
    `-- the started processes' warnings and errors (last 40 of ${troubles.length}):`,
    ...troubles.slice(-40),
    `-- their last 40 lines of ${lines.length}:`,
    ...lines.slice(-40),
  ];
}

/** Runs one file in its own `node --test`; prints its report in one piece once it ends. */
function runJob(job) {
  const started = Date.now();
  return new Promise((resolve) => {
    // The output of the processes the file starts (test/e2e/harness.ts writes it there).
    const logDir = mkdtempSync(join(tmpdir(), "keel-test-log-"));
    const processLog = join(logDir, "processes.log");
    const child = spawn(
      process.execPath,
      ["--test", "--test-concurrency=1", "--test-reporter=spec", job.file],
      {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...envOf(job.group), KEEL_TEST_PROCESS_LOG: processLog },
      },
    );
    const chunks = [];
    child.stdout.on("data", (chunk) => chunks.push(chunk));
    child.stderr.on("data", (chunk) => chunks.push(chunk));
    child.on("close", (code, signal) => {
      const seconds = (Date.now() - started) / 1000;
      const counts = totals.get(job.group) ?? { files: 0, tests: 0, pass: 0, fail: 0, seconds: 0 };
      const report = [];
      for (const line of Buffer.concat(chunks).toString().split("\n")) {
        const summary = SUMMARY_LINE.exec(line.replace(/\x1b\[[0-9;]*m/g, ""));
        if (summary === null) report.push(line);
        else if (summary[1] in counts) counts[summary[1]] += Number(line.split(" ").at(-1));
      }
      const ok = code === 0;
      counts.files += 1;
      counts.seconds += seconds;
      totals.set(job.group, counts);
      // The reporter's closing "failing tests" section, repeated in the summary: a CI log is often
      // cut to its end, and a failure without its message cannot be diagnosed.
      const failingAt = report.findIndex((line) => line.includes("failing tests:"));
      const failures = ok || failingAt === -1 ? [] : report.slice(failingAt, failingAt + 60);
      if (!ok) failures.push(...processLogEnd(processLog));
      rmSync(logDir, { recursive: true, force: true });
      results.push({ ...job, seconds, ok, failures });
      if (!ok) failed = true;
      const how = ok ? "" : `, FAILED (exit ${code ?? signal})`;
      console.log(`\n== ${job.group}: ${job.file}${job.alone ? " (alone)" : ""}`);
      console.log(report.join("\n").trimEnd());
      const at = ((Date.now() - poolStarted) / 1000).toFixed(0);
      console.log(`-- ${job.group} ${job.file}: ${seconds.toFixed(1)} s${how} (done at ${at} s)`);
      resolve();
    });
  });
}

if (jobs.length > 0) {
  const started = Date.now();
  const long = (job) => LONG_FIRST.findIndex((pattern) => pattern.test(job.file));
  // The long files first, then the other clusters (one at a time, while the other lane takes the rest).
  const rank = (job) =>
    long(job) !== -1 ? long(job) : LONG_FIRST.length + (startsCluster(job) ? 0 : 1);
  const beside = jobs.filter((job) => !job.alone).sort((a, b) => rank(a) - rank(b));
  const alone = jobs.filter((job) => job.alone);
  console.log(
    `\n== ${[...new Set(jobs.map((job) => job.group))].join(", ")}: ${beside.length} file(s) ${LANES} at a time, then ${alone.length} alone`,
  );
  const running = new Set();
  const lane = async () => {
    for (;;) {
      const next = beside.findIndex(
        (job) => !startsCluster(job) || ![...running].some((other) => startsCluster(other)),
      );
      // Only clusters waiting for the other lane's cluster to end are left: this lane is done.
      if (next === -1) return;
      const [job] = beside.splice(next, 1);
      running.add(job);
      await runJob(job);
      running.delete(job);
    }
  };
  await Promise.all(Array.from({ length: LANES }, lane));
  for (const job of alone) await runJob(job);
  console.log("\n== summary");
  for (const [group, c] of totals)
    console.log(
      `${group}: ${c.files} file(s), ${c.tests} tests, ${c.pass} passed, ${c.fail} failed, ${c.seconds.toFixed(0)} s of file time`,
    );
  console.log(`wall time ${((Date.now() - started) / 1000).toFixed(0)} s; slowest files:`);
  for (const r of [...results].sort((a, b) => b.seconds - a.seconds).slice(0, 12))
    console.log(`  ${r.seconds.toFixed(1).padStart(6)} s  ${r.group} ${r.file}`);
  const failures = results.filter((r) => !r.ok);
  if (failures.length > 0) {
    console.log("failed files:");
    for (const r of failures) console.log(`  ${r.group} ${r.file}`);
    for (const r of failures) {
      console.log(`\n== why ${r.file} failed`);
      console.log(r.failures.join("\n").trimEnd());
    }
  }
}
process.exit(failed ? 1 : 0);
