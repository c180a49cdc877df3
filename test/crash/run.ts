#!/usr/bin/env node
/**
 * `npm run test:crash`: the crash-torture test, long form.
 *   node dist/test/crash/run.js [--kills N] [--seed S] [--concurrency C]
 * Prints the seed; the same seed replays the same workload choices and kill schedule.
 */

import { randomInt } from "node:crypto";
import { parseArgs } from "node:util";
import { runTorture } from "./torture.js";

const { values } = parseArgs({
  options: {
    kills: { type: "string", default: "30" },
    seed: { type: "string" },
    concurrency: { type: "string", default: "12" },
  },
});
const seed = values.seed !== undefined ? Number(values.seed) : randomInt(0, 2 ** 31);
console.log(`crash torture: seed ${seed}`);
const report = await runTorture({
  seed,
  kills: Number(values.kills),
  concurrency: Number(values.concurrency),
  killDelayMs: [800, 3000],
  log: (line) => console.log(line),
});
console.log(
  `seed ${seed}: ${report.kills} kills, ${report.operations} operations, ${report.acknowledged} acknowledged effects, ${report.unknown} unknown at a crash`,
);
if (report.violations.length > 0) {
  for (const v of report.violations) console.log(`VIOLATION ${v}`);
  console.log(`replay: node dist/test/crash/run.js --seed ${seed} --kills ${values.kills}`);
  process.exit(1);
}
console.log("no violations");
