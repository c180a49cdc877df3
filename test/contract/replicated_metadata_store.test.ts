/**
 * The replicated provider against the MetadataStore contract: a 3-member Raft group in the
 * simulator (reliable network, real storage format on simulated disks), with virtual time pumped
 * from real time so that the promise-based store runs exactly as in production. A second suite runs
 * the contract while the leader is killed and restarted under the store's feet.
 */

import { seededPrng } from "../../src/core/prng.js";
import { DEFAULT_CLIENT_LIMITS, MetadataClientCore } from "../../src/metadata-server/client.js";
import { bootstrapState } from "../../src/metadata-server/raft/bootstrap.js";
import { DEFAULT_RAFT_LIMITS } from "../../src/metadata-server/raft/config.js";
import { MemberId } from "../../src/metadata-server/raft/types.js";
import { ReplicatedMetadataStore } from "../../src/metadata-server/replicated_store.js";
import { SimMetadataCluster, memberAddress } from "../../src/sim/metadata/cluster.js";
import { SimNetwork } from "../../src/sim/network.js";
import { SimScheduler } from "../../src/sim/scheduler.js";
import { describeMetadataStoreContract } from "./metadata_store_contract.js";

const TICK_MS = 10;
/** Virtual milliseconds run per real-time pump (every event-loop turn). */
const PUMP_MS = 5;

let seed = 1;

function replicatedHarness(withFailover: boolean): { create(): Promise<ReplicatedMetadataStore> } {
  return {
    create: () => {
      const scheduler = new SimScheduler(seed++);
      const network = new SimNetwork<Uint8Array>(scheduler, {
        dropProbability: 0,
        duplicateProbability: 0,
        delayMinMs: 1,
        delayMaxMs: 3,
      });
      const cluster = new SimMetadataCluster(scheduler, network, {
        raftLimits: DEFAULT_RAFT_LIMITS,
        snapshotIntervalEntries: 8,
        tickMsBase: TICK_MS,
        persistLatencyMsMax: 2,
        onFatal: (member, error) => {
          throw new Error(`member ${member} stopped: ${error.message}`);
        },
      });
      const voters = [1, 2, 3].map(MemberId);
      const state = bootstrapState(
        {
          voters,
          learners: [],
          addresses: Object.fromEntries(voters.map((id) => [id, memberAddress(id)])),
        },
        new Uint8Array(0),
      );
      for (const id of voters) cluster.addMember(id, state);
      const { transport, ticker } = cluster.clientPorts(1);
      const core = new MetadataClientCore(
        transport.address,
        voters.map(memberAddress),
        DEFAULT_CLIENT_LIMITS,
        seededPrng(seed),
      );
      const store = new ReplicatedMetadataStore(core, transport, ticker, TICK_MS);
      let pumps = 0;
      const pump = setInterval(() => {
        scheduler.runFor(PUMP_MS);
        pumps++;
        // Every so often, kill the leader and bring it back: the contract must still hold.
        if (withFailover && pumps % 60 === 0) {
          const leader = cluster.leader();
          if (leader !== undefined) {
            cluster.crash(leader);
            scheduler.schedule(150, () => cluster.start(leader));
          }
        }
      }, 0);
      const close = store.close.bind(store);
      store.close = async () => {
        clearInterval(pump);
        await close();
      };
      return Promise.resolve(store);
    },
  };
}

describeMetadataStoreContract("replicated (3 members)", replicatedHarness(false));
describeMetadataStoreContract(
  "replicated (3 members, leader killed repeatedly)",
  replicatedHarness(true),
);
