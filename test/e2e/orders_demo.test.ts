/**
 * The multi-region demo (issue 20), short: three Keel nodes as three regions at {region: 2} with
 * 25 ms between them, the order services in every region, 4 clients for 30 s, the first region
 * (the node that provisioned the cluster) killed with SIGKILL at 10 s. The demo checks its invariants
 * itself; this test runs it as `npm run demo` would and reads its JSON report.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { it } from "node:test";
import { DIST, tempDir } from "./harness.js";

interface Report {
  passed: boolean;
  orders: number;
  finalStates: Record<string, number>;
  killedRegion: string | null;
  answersPerSecondAfterKill: number | null;
  longestGapWithoutAnswerS: number;
  invariants: { name: string; held: boolean; checked: number; violations: string[] }[];
}

it(
  "orders across three regions survive the loss of one: every invariant holds, every order settles",
  { timeout: 300_000 },
  async () => {
    const reportFile = join(tempDir("orders-demo"), "report.json");
    const demo = spawn(
      process.execPath,
      [
        join(DIST, "examples", "orders", "src", "demo.js"),
        "--duration",
        "30",
        "--clients",
        "4",
        "--kill-at",
        "10",
        "--report",
        reportFile,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    demo.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    demo.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => demo.on("exit", resolve));
    const reportText = existsSync(reportFile) ? readFileSync(reportFile, "utf8") : "";
    rmSync(dirname(reportFile), { recursive: true, force: true });
    assert.equal(code, 0, output);
    const report = JSON.parse(reportText) as Report;
    assert.equal(report.passed, true, output);
    assert.equal(report.killedRegion, "us-east-1");
    for (const invariant of report.invariants)
      assert.ok(
        invariant.held && invariant.checked > 0,
        `${invariant.name}: ${invariant.violations.join("; ")}`,
      );
    assert.ok(report.orders >= 10, `only ${report.orders} orders ran:\n${output}`);
    const settled = Object.values(report.finalStates).reduce((a, b) => a + b, 0);
    assert.equal(
      settled,
      report.orders,
      `every order settled: ${JSON.stringify(report.finalStates)}`,
    );
    assert.ok((report.answersPerSecondAfterKill ?? 0) > 0, "requests were answered after the kill");
  },
);
