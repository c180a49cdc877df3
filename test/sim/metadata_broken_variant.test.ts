/**
 * The simulator must catch a broken Raft. The broken variant is Figure 8 of the Raft paper: a
 * leader that commits an entry of an earlier term as soon as a majority stores it (behind the
 * test-only switch `commitEarlierTermsByCounting`). The bug needs a rare dance of short reigns, so
 * the run uses the simulator's leader-churn profile (each new leader cut off within milliseconds of
 * its election, one entry per append) and searches seeds from 1 until a checker reports a safety
 * violation. The same seed must pass with the correct commit rule: the violation is the bug's.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_RAFT_LIMITS } from "../../src/metadata-server/raft/config.js";
import { runMetadataSimulation, type Parameters } from "../../src/sim/metadata/simulation.js";

const CHURN_PROFILE: Partial<Parameters> = {
  voters: 5,
  churnOnly: true,
  churnDelayMsMax: 10,
  nemesisIntervalMsMax: 400,
  raftLimits: { ...DEFAULT_RAFT_LIMITS, appendEntriesPerMessageMax: 1, appendsInFlightMax: 1 },
};

/** About 3% of churn seeds expose the bug; 200 seeds miss it with a probability below 0.3%. */
const SEEDS_SEARCHED_MAX = 200;

const SAFETY =
  /election safety|log matching|leader completeness|state machine safety|committed entry changed|linearizability/;

describe("the simulator catches a broken Raft", () => {
  it("finds a safety violation when leaders commit earlier terms' entries by counting (Figure 8)", () => {
    let caught: { seed: number; violation: string } | undefined;
    for (let seed = 1; seed <= SEEDS_SEARCHED_MAX && caught === undefined; seed++) {
      const result = runMetadataSimulation(seed, {
        faults: { commitEarlierTermsByCounting: true },
        shape: CHURN_PROFILE,
      });
      const violation = result.violations.find((v) => SAFETY.test(v));
      if (violation !== undefined) caught = { seed, violation };
    }
    assert.ok(caught !== undefined, `no safety violation in ${SEEDS_SEARCHED_MAX} seeds`);
    console.log(`broken variant caught at seed ${caught.seed}: ${caught.violation}`);
    const correct = runMetadataSimulation(caught.seed, { shape: CHURN_PROFILE });
    assert.deepEqual(correct.violations, [], "the correct commit rule passes the same seed");
  });
});
