/**
 * The test kit as another project gets it: Keel packed with `npm pack`, installed from the tarball
 * into a copy of `examples/testing` (its own dependencies, the SDK, the typed client and Vitest, come
 * from the npm registry or npm's cache; Keel's come from the cache `npm ci` filled), then that
 * project's `npm test`: node's test runner, then Vitest. Each runner must end by itself (no handle
 * left open), within the bounds below. Uses the compiled `dist/` (`npm test` builds first).
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DIST } from "./harness.js";

const ROOT = join(DIST, "..");
const INSTALL_TIMEOUT_MS = 90_000;
const RUN_TIMEOUT_MS = 60_000;

interface Run {
  readonly code: number | null;
  readonly output: string;
  readonly timedOut: boolean;
}

/** Runs a command to its end (or kills its process group after `timeoutMs`). */
function run(command: string, args: string[], cwd: string, timeoutMs: number): Promise<Run> {
  // The nested project must not inherit this run's npm settings (npm passes them to scripts as
  // npm_* variables) nor node's test context (its runner would take itself for a child and skip).
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      // Nor CKJS_LINKING (CI sets it): a project of the test kit needs no Kafka client, and with it
      // npm would build the optional one from source, minutes on two cores.
      ([name]) => !/^npm_/i.test(name) && name !== "NODE_TEST_CONTEXT" && name !== "CKJS_LINKING",
    ),
  );
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env: { ...env, NO_COLOR: "1" }, detached: true });
    const chunks: string[] = [];
    child.stdout.on("data", (c: Buffer) => chunks.push(c.toString()));
    child.stderr.on("data", (c: Buffer) => chunks.push(c.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      // Colour codes, should a tool ignore NO_COLOR.
      resolve({ code, output: chunks.join("").replace(/\x1b\[[0-9;]*m/g, ""), timedOut });
    });
  });
}

describe("test kit package", () => {
  const work = mkdtempSync(join(tmpdir(), "keel-testkit-package-"));
  after(() => rmSync(work, { recursive: true, force: true }));

  it("installs from the packed tarball and runs a project's tests with node:test and Vitest", async () => {
    const packed = await run(
      "npm",
      ["pack", "--ignore-scripts", "--pack-destination", work],
      ROOT,
      RUN_TIMEOUT_MS,
    );
    assert.equal(packed.code, 0, packed.output);
    const tarball = readdirSync(work).find((f) => f.endsWith(".tgz"));
    assert.ok(tarball !== undefined, `no tarball in ${work}: ${packed.output}`);

    const project = join(work, "project");
    cpSync(join(ROOT, "examples", "testing"), project, {
      recursive: true,
      filter: (source) => !source.includes("node_modules"),
    });
    const installed = await run(
      "npm",
      ["install", "--prefer-offline", "--no-audit", "--no-fund", join(work, tarball)],
      project,
      INSTALL_TIMEOUT_MS,
    );
    assert.equal(installed.code, 0, `npm install failed:\n${installed.output}`);

    const tested = await run("npm", ["test"], project, RUN_TIMEOUT_MS);
    assert.equal(
      tested.timedOut,
      false,
      `the project's tests did not end within ${RUN_TIMEOUT_MS} ms:\n${tested.output}`,
    );
    assert.equal(tested.code, 0, tested.output);
    assert.match(tested.output, /^# pass 3$/m, "node's test runner ran the three tests");
    assert.match(tested.output, /Tests\s+3 passed/, "Vitest ran the three tests");
  });
});
