/**
 * The whole-node simulation in CI: seeds picked for the shapes they cover and every seed that ever
 * failed, a bounded number of fresh seeds from a random start (printed, so that a failure replays
 * with `npm run sim -- --component node --seed S`), one seed run twice to the same digest, and proof
 * that a deliberately broken invoker is caught. The acceptance run is
 * `npm run sim -- --component node --seeds 500`.
 */

import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { describe, it } from "node:test";
import { runNodeSimulation, type NodeSimResult } from "../../src/sim/node/simulation.js";

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Seeds picked for the shapes they cover, and every seed that ever failed, with what it found. A
 * change to how a run is generated changes what a seed runs: the shapes below are today's.
 */
const REGRESSION_SEEDS: readonly { seed: number; why: string }[] = [
  { seed: 4, why: "request/response: 15 crashes, 4 graceful stops, a sixth of the streams cut" },
  { seed: 6, why: "12 crashes and 2 stops with suspensions and calls to a Tally object" },
  { seed: 11, why: "a fifth of the streams cut, request/response, every attempt replays" },
  {
    seed: 22,
    why: "a stop while an AnnounceLeader append was in flight left its refusal unhandled (Keel bug)",
  },
  {
    seed: 1377,
    why: "a restart racing the final checks ran two incarnations at once (simulator bug, then)",
  },
];

/** Fresh seeds per CI run: about 0.04 s each on one core. */
const FRESH_SEED_COUNT = Number(process.env.KEEL_SIM_SEEDS ?? 100);
/** The broken invoker is caught in about one seed out of six; the first is seed 1 today. */
const BROKEN_VARIANT_SEEDS_MAX = 60;

async function expectPass(seed: number): Promise<void> {
  const result = await runNodeSimulation(seed, { settle });
  assert.deepEqual(
    result.violations,
    [],
    `seed ${seed} failed (${result.summary}); replay: npm run sim -- --component node --seed ${seed}`,
  );
}

describe("node simulation", () => {
  for (const { seed, why } of REGRESSION_SEEDS) {
    it(`regression seed ${seed}: ${why}`, () => expectPass(seed));
  }

  it(`${FRESH_SEED_COUNT} fresh seeds pass`, async () => {
    const start = randomInt(0, 2 ** 31 - FRESH_SEED_COUNT);
    console.log(`node simulation: fresh seeds ${start}..${start + FRESH_SEED_COUNT - 1}`);
    for (let seed = start; seed < start + FRESH_SEED_COUNT; seed++) await expectPass(seed);
  });

  it("replays a seed to the same digest", async () => {
    const first = await runNodeSimulation(6, { settle });
    const second = await runNodeSimulation(6, { settle });
    assert.equal(first.digest, second.digest);
    assert.equal(first.summary, second.summary);
    assert.deepEqual(first.violations, second.violations);
  });

  it("catches an invoker that completes a ctx.run before its record is durable", async () => {
    let caught: NodeSimResult | undefined;
    for (let seed = 1; seed <= BROKEN_VARIANT_SEEDS_MAX && caught === undefined; seed++) {
      const result = await runNodeSimulation(seed, {
        settle,
        invokerTestOnlyFaults: { completeRunsBeforeDurable: true },
      });
      if (result.violations.some((v) => /saw two results of one ctx\.run/.test(v))) caught = result;
    }
    assert.ok(caught !== undefined, `not caught in ${BROKEN_VARIANT_SEEDS_MAX} seeds`);
    console.log(`broken invoker caught at seed ${caught.seed}: ${caught.violations[0]}`);
    await expectPass(caught.seed);
  });
});
