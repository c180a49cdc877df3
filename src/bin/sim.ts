#!/usr/bin/env node
/**
 * Deterministic simulation runner.
 *   npm run sim -- --component <name> --seeds N        run N fresh seeds (random start, printed)
 *   npm run sim -- --component <name> --seed S         replay one seed exactly
 *   npm run sim -- --component <name> --seeds N --start S   seeds S..S+N-1
 * Exits non-zero when any seed finds a violation; every failing seed is printed so it can be replayed
 * and kept as a regression test.
 */

import { randomInt } from "node:crypto";
import { parseArgs } from "node:util";
import { SIM_COMPONENTS } from "../sim/index.js";

/** Every microtask queued so far (and those they queue) has run when this resolves. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const USAGE = `usage: npm run sim -- --component <${[...SIM_COMPONENTS.keys()].join("|")}> [--seeds N [--start S] | --seed S] [--verbose]`;

function parseOptions() {
  return parseArgs({
    options: {
      component: { type: "string" },
      seeds: { type: "string" },
      seed: { type: "string" },
      start: { type: "string" },
      verbose: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
    strict: true,
  }).values;
}

async function main(): Promise<number> {
  let values: ReturnType<typeof parseOptions>;
  try {
    values = parseOptions();
  } catch (error) {
    console.error(`sim: ${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const name = values.component;
  const component = name === undefined ? undefined : SIM_COMPONENTS.get(name);
  if (component === undefined) {
    console.error(
      `sim: --component must be one of: ${[...SIM_COMPONENTS.keys()].join(", ") || "(none registered)"}`,
    );
    return 2;
  }
  let seeds: number[];
  if (values.seed !== undefined) {
    const seed = Number(values.seed);
    if (!Number.isSafeInteger(seed)) {
      console.error("sim: --seed must be an integer");
      return 2;
    }
    seeds = [seed];
  } else {
    const count = Number(values.seeds ?? "100");
    const start = values.start !== undefined ? Number(values.start) : randomInt(0, 2 ** 31);
    if (!Number.isSafeInteger(count) || count < 1 || !Number.isSafeInteger(start)) {
      console.error("sim: --seeds must be a positive integer and --start an integer");
      return 2;
    }
    seeds = Array.from({ length: count }, (_, i) => start + i);
    console.log(`sim ${name}: seeds ${start}..${start + count - 1}`);
  }
  const failing: number[] = [];
  const startedAt = performance.now();
  // A promise rejected with nobody to handle it would end a real process: it fails the seed that
  // ran when it happened (a component's code under test is async) instead of the whole run.
  const unhandled: string[] = [];
  process.on("unhandledRejection", (reason) => {
    unhandled.push(
      `unhandled rejection (a real process would exit): ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`,
    );
  });
  for (const seed of seeds) {
    const run = await component.run(seed, { verbose: values.verbose, settle });
    await settle();
    const result = { ...run, violations: [...run.violations, ...unhandled.splice(0)] };
    if (result.violations.length > 0) {
      failing.push(seed);
      console.log(`seed ${seed}: FAIL ${result.summary}`);
      for (const v of result.violations.slice(0, 10)) console.log(`  - ${v}`);
      console.log(`  replay: npm run sim -- --component ${name} --seed ${seed}`);
    } else if (values.verbose || seeds.length === 1) {
      console.log(`seed ${seed}: ok ${result.summary}`);
    }
  }
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
  console.log(
    `sim ${name}: ${seeds.length - failing.length}/${seeds.length} seeds passed in ${seconds} s`,
  );
  if (failing.length > 0) console.log(`failing seeds: ${failing.join(" ")}`);
  return failing.length > 0 ? 1 : 0;
}

process.exitCode = await main();
