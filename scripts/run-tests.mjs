#!/usr/bin/env node
// Runs the compiled test files with Node's built-in runner.
//   node scripts/run-tests.mjs [unit|contract|e2e|sim|fuzz|hostile|reference|cluster|browser|all] [--only <substring>]
// Unit tests sit next to their sources (src/**/*.test.ts); suites shared by implementations live in
// test/contract; end-to-end tests that start real processes live in test/e2e; bounded, seeded fuzzing
// (KEEL_FUZZ_SECONDS per fuzz test) lives in test/fuzz.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const args = process.argv.slice(2);
const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : undefined;
const kind = args.find((a, i) => !a.startsWith("--") && args[i - 1] !== "--only") ?? "all";

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
const selected =
  kind === "all"
    ? ["unit", "contract", "sim", "fuzz", "e2e", "hostile", "reference", "cluster", "browser"]
    : [kind];
let failed = false;
for (const group of selected) {
  let files = groups[group] ?? [];
  if (only !== undefined) files = files.filter((f) => f.includes(only));
  if (files.length === 0) continue;
  console.log(`\n== ${group}: ${files.length} file(s)`);
  // End-to-end files start servers on fixed port ranges of their own; run them one at a time.
  // Fuzz files each spend their time budget: one at a time keeps the total predictable.
  const concurrency =
    group === "e2e" ||
    group === "hostile" ||
    group === "reference" ||
    group === "fuzz" ||
    group === "cluster" ||
    group === "browser"
      ? "1"
      : "2";
  const env = { ...process.env, KEEL_TEST_GROUP: group };
  if (group === "reference") env.KEEL_TEST_TARGET = "restate";
  if (group === "cluster") env.KEEL_TEST_TARGET = "keel-cluster";
  const result = spawnSync(
    process.execPath,
    ["--test", `--test-concurrency=${concurrency}`, "--test-reporter=spec", ...files],
    { stdio: "inherit", env },
  );
  if (result.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
