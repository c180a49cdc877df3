/**
 * A metadata-store cluster inside the simulator: members with their simulated disks, processes and
 * drivers, and the ports for clients, on one SimScheduler and SimNetwork. The seeded simulation
 * (simulation.ts) drives it with faults; tests drive it in real time to run the MetadataStore
 * contract against the replicated provider.
 *
 * Invariant: a member is either running (driver and process set) or down (neither); its disk
 * survives crashes, minus what was not synced.
 */

import { seededPrng, type Prng } from "../../core/index.js";
import {
  MetadataMember,
  type MemberObserver,
  type RaftLimits,
  type TestOnlyFaults,
  type RaftRecovered,
  MemberId,
  DEFAULT_STATE_MACHINE_LIMITS,
  MetadataMemberDriver,
  type MetadataTransport,
  type Ticker,
} from "../../metadata-server/index.js";
import type { MemberView } from "../checkers/raft_safety.js";
import { SimDisk } from "../disk.js";
import type { SimNetwork } from "../network.js";
import type { SimScheduler } from "../scheduler.js";
import {
  SimAddressBook,
  SimProcess,
  SimTicker,
  SimTransport,
  openSimRaftStorage,
  provisionSimDisk,
} from "./ports.js";

export interface SimClusterOptions {
  readonly raftLimits: RaftLimits;
  readonly snapshotIntervalEntries: number;
  /** Each member ticks every tickMsBase − 1 to tickMsBase + 1 ms (clocks drift). */
  readonly tickMsBase: number;
  readonly persistLatencyMsMax: number;
  readonly observer?: MemberObserver;
  readonly faults?: TestOnlyFaults;
  /** Called when a member's driver stops on a storage error. */
  readonly onFatal: (member: MemberId, error: Error) => void;
}

export interface SimMember {
  readonly id: MemberId;
  readonly address: string;
  readonly node: number;
  readonly disk: SimDisk;
  driver: MetadataMemberDriver | undefined;
  process: SimProcess | undefined;
}

/** Network node numbers of clients start here (members use their ids). */
export const CLIENT_NODE_BASE = 100;

export const memberAddress = (id: number): string => `n${id}`;
export const clientAddress = (index: number): string => `c${index}`;

export class SimMetadataCluster {
  readonly book = new SimAddressBook();
  readonly members = new Map<MemberId, SimMember>();
  private readonly prng: Prng;

  constructor(
    readonly scheduler: SimScheduler,
    readonly network: SimNetwork<Uint8Array>,
    private readonly options: SimClusterOptions,
  ) {
    this.prng = scheduler.prng;
  }

  /** Adds and starts a member; `provisioned` writes a bootstrap state on its disk first. */
  addMember(id: number, provisioned: RaftRecovered | undefined): SimMember {
    const member: SimMember = {
      id: MemberId(id),
      address: memberAddress(id),
      node: id,
      disk: new SimDisk(this.prng),
      driver: undefined,
      process: undefined,
    };
    this.book.register(member.address, member.node);
    if (provisioned !== undefined) provisionSimDisk(member.disk, provisioned);
    this.members.set(member.id, member);
    this.start(member);
    return member;
  }

  /** Starts a member that is down: it recovers from its disk. */
  start(member: SimMember): void {
    const process = new SimProcess(this.scheduler);
    const latency = (): number => this.prng.nextInt(this.options.persistLatencyMsMax + 1);
    const opened = openSimRaftStorage(member.disk, this.scheduler, process, latency);
    const core = new MetadataMember(
      {
        id: member.id,
        address: member.address,
        raftLimits: this.options.raftLimits,
        stateLimits: DEFAULT_STATE_MACHINE_LIMITS,
        snapshotIntervalEntries: this.options.snapshotIntervalEntries,
        ...(this.options.observer === undefined ? {} : { observer: this.options.observer }),
        ...(this.options.faults === undefined ? {} : { testOnlyFaults: this.options.faults }),
      },
      opened.recovered,
      seededPrng(this.prng.nextU32()),
    );
    const tickMs = this.options.tickMsBase - 1 + this.prng.nextInt(3);
    member.process = process;
    member.driver = new MetadataMemberDriver(
      core,
      new SimTransport(member.address, this.book, this.network, process),
      opened.storage,
      new SimTicker(this.scheduler, process, this.prng.nextInt(tickMs) + 1),
      tickMs,
      (error) => this.options.onFatal(member.id, error),
    );
    member.driver.start();
  }

  /** Kills a running member at once; its disk loses what was not synced. False if it was down. */
  crash(member: SimMember): boolean {
    if (member.driver === undefined) return false;
    member.process?.kill();
    member.driver.stop();
    member.driver = undefined;
    member.process = undefined;
    member.disk.crash();
    return true;
  }

  /** A transport and a ticker for client `index` (its address is clientAddress(index)). */
  clientPorts(index: number): {
    transport: MetadataTransport;
    ticker: Ticker;
    /** Kill it to silence the client (its process died). */
    process: SimProcess;
  } {
    const address = clientAddress(index);
    this.book.register(address, CLIENT_NODE_BASE + index);
    const process = new SimProcess(this.scheduler);
    return {
      transport: new SimTransport(address, this.book, this.network, process),
      ticker: new SimTicker(this.scheduler, process, 1 + this.prng.nextInt(10)),
      process,
    };
  }

  /** The running member that leads the highest term, if any. */
  leader(): SimMember | undefined {
    let best: SimMember | undefined;
    let bestTerm = -1;
    for (const member of this.members.values()) {
      const status = member.driver?.member.status();
      if (status?.role === "leader" && status.term > bestTerm) {
        best = member;
        bestTerm = status.term;
      }
    }
    return best;
  }

  /** The running members, as the safety checker sees them. */
  views(): MemberView[] {
    const views: MemberView[] = [];
    for (const member of this.members.values()) {
      const core = member.driver?.member;
      if (core !== undefined) views.push(core);
    }
    return views;
  }
}
