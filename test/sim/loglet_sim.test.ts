/**
 * The `loglet` simulation in CI: a bounded number of fresh seeds (a different range every run, printed
 * on failure so that it replays with `npm run sim -- --component loglet --seed S`), every seed that
 * ever failed, and proof that the simulator catches a deliberately broken protocol.
 */

import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { describe, it } from "node:test";
import { runLogletSimulation } from "../../src/sim/loglet_sim.js";

const FRESH_SEEDS = 60;
/** Seeds that failed once, with what they found. Never remove one. */
const REGRESSION_SEEDS: readonly number[] = [
  // A sealed tail segment whose sealer crashed was never extended: the controller stalled.
  138, 148, 196,
  // The trimmer kept trimming during the final checks (a simulator bug, found as a trim-gap report).
  122,
  130, 166,
  // A coordinator of a lower ballot had its accept taken after the choice was known (the server
  // asserted); accepts contradicting a known choice are now refused.
  1340,
  // A restarted node took responses meant for its previous incarnation (simulated transport bug).
  6751,
  // A read on the sequencer's node, after a seal decided elsewhere, trusted the sealing sequencer's
  // committed tail and found nothing below the sealed tail; such reads now join the seal.
  424,
  // A late store into a range the server had skipped (below the known global tail) while later
  // writes were still in flight was answered "malformed" instead of "stale".
  1146922652,
];
const BROKEN_VARIANT_SEED_BUDGET = 20;

function failures(seeds: readonly number[]): string[] {
  const out: string[] = [];
  for (const seed of seeds) {
    const result = runLogletSimulation(seed);
    if (result.violations.length > 0) {
      out.push(`seed ${seed}: ${result.summary}\n  ${result.violations.slice(0, 5).join("\n  ")}`);
    }
  }
  return out;
}

describe("loglet simulation", () => {
  it(`passes ${FRESH_SEEDS} fresh seeds`, () => {
    const start = randomInt(0, 2 ** 31 - FRESH_SEEDS);
    const seeds = Array.from({ length: FRESH_SEEDS }, (_, i) => start + i);
    assert.deepEqual(failures(seeds), [], `fresh seeds ${start}..${start + FRESH_SEEDS - 1}`);
  });

  it("passes every seed that ever failed", () => {
    assert.deepEqual(failures(REGRESSION_SEEDS), []);
  });

  it("replays a seed exactly", () => {
    const a = runLogletSimulation(4242);
    const b = runLogletSimulation(4242);
    assert.deepEqual(a, b);
  });

  it("catches a sequencer that acknowledges after a single store", () => {
    let caughtAt: number | undefined;
    let violation = "";
    for (let seed = 0; seed < BROKEN_VARIANT_SEED_BUDGET && caughtAt === undefined; seed++) {
      const result = runLogletSimulation(seed, { brokenAckAfterOneStore: true });
      if (result.violations.length > 0) {
        caughtAt = seed;
        violation = result.violations[0]!;
      }
    }
    assert.notEqual(caughtAt, undefined, "the broken variant went unnoticed");
    assert.match(violation, /acknowledged|sealed tail|unreadable|copies only/);
  });
});
