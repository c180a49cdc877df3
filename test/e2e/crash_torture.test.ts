/**
 * The crash-torture test in its bounded CI form: at least 10 SIGKILLs under load, seeded (the seed is
 * printed; KEEL_CRASH_SEED replays one). The long form is `npm run test:crash`.
 */

import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { describe, it } from "node:test";
import { runTorture } from "../crash/torture.js";

describe("crash torture (bounded)", () => {
  it(
    "loses and duplicates nothing acknowledged across 10 kills",
    { timeout: 300_000 },
    async () => {
      const seed =
        process.env["KEEL_CRASH_SEED"] !== undefined
          ? Number(process.env["KEEL_CRASH_SEED"])
          : randomInt(0, 2 ** 31);
      console.log(`crash torture seed ${seed} (replay with KEEL_CRASH_SEED=${seed})`);
      const report = await runTorture({
        seed,
        kills: 10,
        concurrency: 8,
        killDelayMs: [700, 2500],
        log: (l) => console.log(l),
      });
      console.log(
        `seed ${seed}: ${report.kills} kills, ${report.operations} operations, ${report.acknowledged} acknowledged, ${report.unknown} unknown`,
      );
      assert.equal(report.kills, 10);
      assert.ok(
        report.acknowledged > 50,
        `the load made progress (${report.acknowledged} acknowledged effects)`,
      );
      assert.deepEqual(report.violations, [], `seed ${seed}`);
    },
  );
});
