/**
 * The benchmark scripts that need nothing beyond this repository run end to end at a tiny size, so a
 * change that breaks them fails here and not in the next performance session. (The side-by-side
 * harness needs wrk; it is not run here. The test-kit start-up script runs the reference server,
 * which `npm ci` installs.)
 */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { DIST } from "./harness.js";

const run = promisify(execFile);
const BENCH = join(DIST, "..", "bench");

describe("benchmark scripts", () => {
  it("recovery: populates a node, kills it with SIGKILL, and times its return", async () => {
    const { stdout } = await run(
      process.execPath,
      [join(BENCH, "recovery.mjs"), "--completed", "200", "--inflight", "40", "--repeats", "1"],
      { timeout: 180_000, maxBuffer: 16 * 1024 * 1024 },
    );
    assert.match(stdout, /all 40 outputs verified/);
    assert.match(stdout, /first new call answered\s+\d+ ms/);
  });

  it("testkit start-up: times the test kit and the reference server to their first call", async () => {
    const { stdout } = await run(
      process.execPath,
      [join(BENCH, "testkit_startup.mjs"), "--repeats", "1"],
      { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
    );
    for (const variant of ["kit", "kit-24", "restate", "restate-4"])
      assert.match(stdout, new RegExp(`repeat 1 ${variant}\\s+first call after \\d+ ms`));
    assert.match(stdout, /ratio restate \/ kit \(first call, from spawn\): [\d.]+x/);
  });

  it("metrics cost: times one invocation's metric events", async () => {
    const { stdout } = await run(
      process.execPath,
      [join(BENCH, "metrics_cost.mjs"), "--iterations", "2000"],
      { timeout: 60_000 },
    );
    assert.match(stdout, /^[\d.]+ µs of metric events per invocation \(8 log appends\)$/m);
  });
});
