/**
 * What one cluster-simulation run looks like, drawn from its seed: the cluster's shape (nodes,
 * metadata members, partitions), the latencies and faults of its networks, disks and streams, the
 * nemesis's pace, and the workload (the node simulation's, held to the same checks).
 */

import type { Prng } from "../../core/index.js";
import type { NetworkFaults } from "../network.js";
import type { SimDiskLatency } from "../ports.js";
import type { StreamFaults } from "../node/endpoint.js";
import { pick } from "../node/parameters.js";
import type { SchemaShape } from "../node/services.js";
import type { WorkloadShape } from "../node/workload.js";

export interface ClusterParameters extends WorkloadShape {
  readonly nodes: number;
  /** Nodes 1..metadataServers run a metadata member; node 1 provisions the cluster. */
  readonly metadataServers: number;
  readonly partitions: number;
  /** Copies of every log record and partition store. */
  readonly copies: number;
  readonly invokerConcurrencyMax: number;
  readonly schema: SchemaShape;
  /** The node port's network (log servers, partition calls, heartbeats). */
  readonly network: NetworkFaults;
  /** The metadata members' and clients' network. */
  readonly metadataNetwork: NetworkFaults;
  readonly logDisk: SimDiskLatency;
  readonly raftPersistLatencyMsMax: number;
  readonly storeWriteDelayMaxMs: number;
  readonly streams: StreamFaults;
  readonly faultIntervalMinMs: number;
  readonly faultIntervalMaxMs: number;
  readonly downtimeMaxMs: number;
  /** The chance that a fault cuts a node off the network instead of crashing it. */
  readonly isolationChance: number;
  readonly runDurationMaxMs: number;
  readonly handlerFailureChance: number;
}

export function pickClusterParameters(prng: Prng): ClusterParameters {
  const nodes = pick(prng, [3, 3, 3, 4, 5]);
  const faultIntervalMinMs = pick(prng, [500, 1_500, 3_000]);
  const lossy = (): NetworkFaults => ({
    dropProbability: prng.chance(0.7) ? 0 : 0.01,
    duplicateProbability: prng.chance(0.7) ? 0 : 0.01,
    delayMinMs: 1,
    delayMaxMs: pick(prng, [2, 5, 20]),
  });
  return {
    nodes,
    metadataServers: Math.min(3, nodes),
    partitions: 1 + prng.nextInt(4),
    copies: 2,
    invokerConcurrencyMax: 100,
    schema: {
      protocolVersionMax: prng.chance(0.5) ? 5 : 6,
      requestResponse: prng.chance(0.2),
      lazyState: prng.chance(0.25),
      inactivityTimeoutMs: pick(prng, [0, 50, 500]),
      abortTimeoutMs: 60_000,
      retryPolicy: {
        initialIntervalMs: pick(prng, [10, 50, 200]),
        exponentiationFactor: 2,
        maxIntervalMs: 2_000,
        // Crashes and cut streams fail attempts for as long as the faults last: never give up.
        maxAttempts: 1_000_000,
        onMaxAttempts: "Pause",
      },
    },
    network: lossy(),
    metadataNetwork: lossy(),
    logDisk: { syncMinMs: 1, syncMaxMs: pick(prng, [2, 10]), readMaxMs: 2 },
    raftPersistLatencyMsMax: pick(prng, [2, 10]),
    storeWriteDelayMaxMs: pick(prng, [0, 20, 200]),
    streams: {
      delayMinMs: 0,
      delayMaxMs: pick(prng, [1, 5, 20]),
      cutChance: pick(prng, [0, 0.05]),
      cutWithinMs: 300,
      splitChance: 0.1,
    },
    faultIntervalMinMs,
    faultIntervalMaxMs: faultIntervalMinMs * 2,
    downtimeMaxMs: pick(prng, [200, 1_000, 3_000]),
    isolationChance: pick(prng, [0, 0.3, 0.5]),
    faultPhaseMs: 6_000 + prng.nextInt(6_000),
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
