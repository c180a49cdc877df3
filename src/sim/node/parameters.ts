/**
 * What one node-simulation run looks like, drawn from its seed: the node's shape (partitions,
 * protocol, state mode, timeouts), the latencies and faults of its log, stores and streams, the
 * nemesis's pace, and the workload.
 */

import type { Prng } from "../../core/index.js";
import type { StreamFaults } from "./endpoint.js";
import type { SchemaShape } from "./services.js";
import type { WorkloadShape } from "./workload.js";
import type { SimLogLatency } from "./storage.js";

export interface Parameters extends WorkloadShape {
  readonly partitions: number;
  readonly invokerConcurrencyMax: number;
  readonly schema: SchemaShape;
  readonly log: SimLogLatency;
  readonly storeWriteDelayMaxMs: number;
  readonly streams: StreamFaults;
  readonly crashIntervalMinMs: number;
  readonly crashIntervalMaxMs: number;
  readonly downtimeMaxMs: number;
  /** The chance that the nemesis stops the node gracefully instead of crashing it. */
  readonly gracefulStopChance: number;
  /** The chance that a run proposal is followed by a crash within the log's append latency. */
  readonly crashAfterRunProposalChance: number;
  readonly runDurationMaxMs: number;
  readonly handlerFailureChance: number;
}

export function pick<T>(prng: Prng, options: readonly T[]): T {
  return options[prng.nextInt(options.length)]!;
}

export function pickParameters(prng: Prng): Parameters {
  const requestResponse = prng.chance(0.2);
  const crashIntervalMinMs = pick(prng, [100, 300, 1000]);
  const invokerConcurrencyMax = pick(prng, [1, 4, 100]);
  // An invocation waiting on a call holds its slot until the inactivity timeout suspends it: with
  // few slots, the callee may wait that long for one. Long timeouts only with slots to spare.
  const inactivityTimeoutMs = pick(
    prng,
    invokerConcurrencyMax < 100 ? [0, 50, 500] : [0, 50, 500, 60_000],
  );
  return {
    partitions: 1 + prng.nextInt(4),
    invokerConcurrencyMax,
    schema: {
      protocolVersionMax: prng.chance(0.5) ? 5 : 6,
      requestResponse,
      lazyState: prng.chance(0.25),
      inactivityTimeoutMs,
      abortTimeoutMs: pick(prng, [2_000, 60_000]),
      retryPolicy: {
        initialIntervalMs: pick(prng, [10, 50, 200]),
        exponentiationFactor: 2,
        maxIntervalMs: 2_000,
        // Cut streams and crashes fail attempts for as long as the faults last: never give up.
        maxAttempts: 1_000_000,
        onMaxAttempts: "Pause",
      },
    },
    log: {
      appendMinMs: 1,
      appendMaxMs: pick(prng, [2, 10, 40]),
      inFlightSurvivesCrash: 0.5,
    },
    storeWriteDelayMaxMs: pick(prng, [0, 20, 200]),
    streams: {
      delayMinMs: 0,
      delayMaxMs: pick(prng, [1, 5, 20]),
      cutChance: pick(prng, [0, 0.05, 0.2]),
      cutWithinMs: 300,
      splitChance: 0.1,
    },
    crashIntervalMinMs,
    crashIntervalMaxMs: crashIntervalMinMs * 3,
    downtimeMaxMs: pick(prng, [0, 50, 500]),
    gracefulStopChance: pick(prng, [0, 0.3]),
    crashAfterRunProposalChance: pick(prng, [0, 0.05, 0.2]),
    faultPhaseMs: 3_000 + prng.nextInt(5_000),
    invocations: 8 + prng.nextInt(25),
    counterKeys: 1 + prng.nextInt(4),
    tallyKeys: prng.nextInt(3),
    sleepChance: pick(prng, [0, 0.3]),
    sleepMaxMs: 1_000,
    sendChance: 0.3,
    runDurationMaxMs: pick(prng, [0, 5, 30]),
    handlerFailureChance: pick(prng, [0, 0.1]),
  };
}
