/**
 * The whole-cluster simulation in CI: every seed that ever failed, a bounded number of fresh seeds
 * from a random start (printed, so that a failure replays with
 * `npm run sim -- --component cluster --seed S`), one seed run twice to the same digest, and proof
 * that a deliberately broken leader (one that goes on acting after a newer leader's announcement) is
 * caught. The acceptance run is `npm run sim -- --component cluster --seeds 1000`.
 */

import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { describe, it } from "node:test";
import { runClusterSimulation, type ClusterSimResult } from "../../src/sim/cluster/simulation.js";

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Every seed that ever failed, with what it found. A change to how a run is generated changes what a
 * seed runs: the findings below are those of the day they were found.
 */
const REGRESSION_SEEDS: readonly { seed: number; why: string }[] = [
  {
    seed: 5,
    why: "a restarted node refused its partition: its store had applied the last committed record, which the log servers did not know was committed (Keel bug)",
  },
  {
    seed: 150,
    why: "a leader whose segment another node sealed and extended kept appending to that node's dead sequencer (Keel bug)",
  },
  {
    seed: 1180,
    why: "a deposed leader that had not applied its successor's records answered attach 'not found' for an acknowledged send (Keel bug)",
  },
  {
    seed: 7172,
    why: "a segment made for the chain a node had read was added at a later index once the chain moved on; the next reader stopped on the mismatch (Keel bug)",
  },
  {
    seed: 20021,
    why: "a candidate applied an older leader's announcement while taking its epoch, stepped down, and its claim waited for ever (Keel bug)",
  },
  {
    seed: 1253,
    why: "two nodes starting at once both created the partition table; the second start failed (Keel bug)",
  },
  {
    seed: 300068,
    why: "a node sealed a leader's segment to take the lead, lost the placement before it extended the log, and crashed: the leader's appends failed for ever (Keel bug, found once new leaders came from warm replicas)",
  },
];

/** Fresh seeds per CI run: about 0.4 s each on one core. */
const FRESH_SEED_COUNT = Number(process.env.KEEL_SIM_CLUSTER_SEEDS ?? 25);
/** The broken leader is caught in about half of the seeds. */
const BROKEN_VARIANT_SEEDS_MAX = 20;

async function expectPass(seed: number): Promise<void> {
  const result = await runClusterSimulation(seed, { settle });
  assert.deepEqual(
    result.violations,
    [],
    `seed ${seed} failed (${result.summary}); replay: npm run sim -- --component cluster --seed ${seed}`,
  );
}

describe("cluster simulation", () => {
  for (const { seed, why } of REGRESSION_SEEDS) {
    it(`regression seed ${seed}: ${why}`, () => expectPass(seed));
  }

  it(`${FRESH_SEED_COUNT} fresh seeds pass`, async () => {
    const start = randomInt(0, 2 ** 31 - FRESH_SEED_COUNT);
    console.log(`cluster simulation: fresh seeds ${start}..${start + FRESH_SEED_COUNT - 1}`);
    for (let seed = start; seed < start + FRESH_SEED_COUNT; seed++) await expectPass(seed);
  });

  it("replays a seed to the same digest", async () => {
    const first = await runClusterSimulation(150, { settle });
    const second = await runClusterSimulation(150, { settle });
    assert.equal(first.digest, second.digest);
    assert.equal(first.summary, second.summary);
    assert.deepEqual(first.violations, second.violations);
  });

  it("catches a leader that goes on acting after a newer leader's announcement", async () => {
    let caught: ClusterSimResult | undefined;
    for (let seed = 1; seed <= BROKEN_VARIANT_SEEDS_MAX && caught === undefined; seed++) {
      const result = await runClusterSimulation(seed, {
        settle,
        processorTestOnlyFaults: { keepsLeadingAfterNewerAnnouncement: true },
      });
      if (result.violations.some((v) => /still leads partition/.test(v))) caught = result;
    }
    assert.ok(caught !== undefined, `not caught in ${BROKEN_VARIANT_SEEDS_MAX} seeds`);
    console.log(`broken leader caught at seed ${caught.seed}: ${caught.violations[0]}`);
    await expectPass(caught.seed);
  });
});
