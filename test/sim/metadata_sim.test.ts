/**
 * The metadata-store simulation in CI: a fixed list of regression seeds (every seed that ever failed
 * goes here, with what it found; plus seeds picked for the shapes they cover), then a bounded number
 * of fresh seeds from a random start, printed so that a failure replays with
 * `npm run sim -- --component metadata --seed S`. The full acceptance run is
 * `npm run sim -- --component metadata --seeds 2000`.
 */

import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { describe, it } from "node:test";
import { runMetadataSimulation } from "../../src/sim/metadata/simulation.js";

const REGRESSION_SEEDS: readonly { seed: number; why: string }[] = [
  { seed: 6, why: "5 voters provisioned one by one, then a voter removed" },
  { seed: 30, why: "leader churn: 28 terms, 8 divergent indexes repaired" },
  { seed: 37, why: "stalls of the leader with divergent logs" },
  { seed: 43, why: "5 voters, 101 partitions, 7 divergent indexes" },
  { seed: 75, why: "5 voters: crashes, stalls and three removals" },
  { seed: 87, why: "26 crashes while members join" },
  { seed: 99, why: "joined group, removal and rejoin under load" },
  {
    seed: 1687768873,
    why: "a torn write kept a hard state whose commit named a replaced entry (Keel bug: write order)",
  },
];

/** Fresh seeds per CI run: about 0.1 s each on one core. */
const FRESH_SEED_COUNT = Number(process.env.KEEL_SIM_SEEDS ?? 30);

function expectPass(seed: number): void {
  const result = runMetadataSimulation(seed);
  assert.deepEqual(
    result.violations,
    [],
    `seed ${seed} failed (${result.summary}); replay: npm run sim -- --component metadata --seed ${seed}`,
  );
}

describe("metadata simulation", () => {
  for (const { seed, why } of REGRESSION_SEEDS) {
    it(`regression seed ${seed}: ${why}`, () => expectPass(seed));
  }

  it(`${FRESH_SEED_COUNT} fresh seeds pass`, () => {
    const start = randomInt(0, 2 ** 31);
    console.log(`metadata simulation: fresh seeds ${start}..${start + FRESH_SEED_COUNT - 1}`);
    for (let seed = start; seed < start + FRESH_SEED_COUNT; seed++) expectPass(seed);
  });
});
