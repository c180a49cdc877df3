/**
 * One seed of the metadata-store simulation: a Raft group of 3 or 5 members plus spares, clients
 * running a compare-and-swap workload on a few keys, and a nemesis that crashes and restarts
 * members (losing unsynced and tearing recent writes), partitions the network, isolates the leader,
 * transfers leadership, changes membership and drops bursts of messages. Time is virtual; every
 * choice comes from the seed, so a failing seed replays exactly.
 *
 * Checked: Raft's safety properties on every step (src/sim/checkers/raft_safety.ts); the client
 * history is linearizable (src/sim/checkers/linearizability.ts); after the faults stop and the
 * network heals, every client completes a read (liveness) and the members' states converge.
 *
 * Why one file of this length: one seed's story (setup, workload, nemesis, settle, checks) reads top
 * to bottom; the cluster, the port twins and the checkers are in files of their own.
 */

import { assert, fromUtf8, toHex, utf8, Version, seededPrng, type Prng } from "../../core/index.js";
import {
  DEFAULT_CLIENT_LIMITS,
  MetadataClientCore,
  type Completion,
  type Outcome,
  type MetadataMember,
  bootstrapState,
  DEFAULT_RAFT_LIMITS,
  type RaftLimits,
  type TestOnlyFaults,
  isMember,
  isVoter,
  MemberId,
  type Membership,
  MetadataClientDriver,
} from "../../metadata-server/index.js";
import {
  ANY_VERSION,
  MUST_NOT_EXIST,
  matchesVersion,
  type Precondition,
} from "../../metadata/index.js";
import {
  checkLinearizable,
  describeOperation,
  type HistoryOperation,
  type RegisterInput,
  type RegisterOutput,
} from "../checkers/linearizability.js";
import { RaftSafetyChecker, type MemberView } from "../checkers/raft_safety.js";
import type { SimRunResult } from "../components.js";
import { SimNetwork, type NetworkFaults } from "../network.js";
import { SimScheduler } from "../scheduler.js";
import { CLIENT_NODE_BASE, SimMetadataCluster, memberAddress, type SimMember } from "./cluster.js";

export interface MetadataSimOptions {
  readonly verbose?: boolean;
  /** Receives a timeline (members, leader, progress) every `traceIntervalMs` of virtual time. */
  readonly trace?: (line: string) => void;
  /** Test-only: run broken Raft variants to show that the checkers catch them. */
  readonly faults?: TestOnlyFaults;
  /** Overrides of the parameters drawn from the seed (tests that need a particular shape). */
  readonly shape?: Partial<Parameters>;
}

/** The shape of one run, drawn from the seed. */
export interface Parameters {
  readonly voters: number;
  readonly spares: number;
  readonly provisionOneThenJoin: boolean;
  readonly clients: number;
  readonly keys: number;
  readonly chaosMs: number;
  readonly settleMs: number;
  readonly finalMs: number;
  readonly nemesisIntervalMsMax: number;
  /** A crashed member restarts after 50 ms plus up to this much. */
  readonly crashDownMsMax: number;
  /** In leader churn, a new leader is cut off after up to this many milliseconds. */
  readonly churnDelayMsMax: number;
  /** The nemesis does nothing but leader churn (the profile that exposes Figure 8 bugs). */
  readonly churnOnly: boolean;
  readonly network: NetworkFaults;
  readonly persistLatencyMsMax: number;
  readonly tickMsBase: number;
  readonly raftLimits: RaftLimits;
  readonly snapshotIntervalEntries: number;
  readonly thinkMsMax: number;
}

/** Events one run may take at most; a run that needs more is reported (a livelock or a storm). */
const SIMULATION_STEPS_MAX = 2_000_000;
/** After the final reads, members must apply up to the leader's commit within this much time. */
const CONVERGENCE_MS_MAX = 5000;
const OPERATOR_CLIENT = 99;

function drawParameters(prng: Prng): Parameters {
  const voters = prng.chance(0.7) ? 3 : 5;
  return {
    voters,
    spares: prng.nextInt(2),
    provisionOneThenJoin: prng.chance(0.4),
    clients: 2 + prng.nextInt(3),
    keys: 1 + prng.nextInt(3),
    chaosMs: 4000 + prng.nextInt(4000),
    settleMs: 3000,
    finalMs: 8000,
    nemesisIntervalMsMax: 200 + prng.nextInt(1300),
    crashDownMsMax: 3000,
    churnDelayMsMax: 20,
    churnOnly: prng.chance(0.1),
    network: {
      dropProbability: prng.chance(0.5) ? 0 : prng.nextFloat() * 0.05,
      duplicateProbability: prng.chance(0.5) ? 0 : prng.nextFloat() * 0.03,
      delayMinMs: 1,
      delayMaxMs: 1 + prng.nextInt(prng.chance(0.3) ? 40 : 10),
    },
    persistLatencyMsMax: prng.chance(0.2) ? 10 + prng.nextInt(40) : prng.nextInt(8),
    tickMsBase: 10,
    raftLimits: {
      ...DEFAULT_RAFT_LIMITS,
      appendEntriesPerMessageMax: prng.chance(0.3) ? 1 : 1 + prng.nextInt(64),
      appendsInFlightMax: 1 + prng.nextInt(8),
      uncommittedEntriesMax: 64 + prng.nextInt(256),
    },
    snapshotIntervalEntries: 5 + prng.nextInt(60),
    thinkMsMax: 1 + prng.nextInt(30),
  };
}

interface SimClient {
  readonly index: number;
  readonly driver: MetadataClientDriver;
  readonly waiting: Map<number, (outcome: Outcome) => void>;
  /** The last version this client saw per key, to aim compare-and-swaps at. */
  readonly seenVersion: Map<string, number>;
  written: number;
}

class MetadataSimulation {
  readonly scheduler: SimScheduler;
  readonly prng: Prng;
  readonly params: Parameters;
  readonly network: SimNetwork<Uint8Array>;
  readonly cluster: SimMetadataCluster;
  readonly members: Map<MemberId, SimMember>;
  readonly clients: SimClient[] = [];
  readonly checker: RaftSafetyChecker;
  readonly violations: string[] = [];
  readonly history: HistoryOperation[] = [];
  private eventSeq = 0;
  private nextOpId = 1;
  private chaosOver = false;
  private readonly stats = {
    crashes: 0,
    partitions: 0,
    pauses: 0,
    transfers: 0,
    removals: 0,
    joins: 0,
  };
  private operator!: SimClient;

  constructor(
    readonly seed: number,
    private readonly options: MetadataSimOptions,
  ) {
    this.scheduler = new SimScheduler(seed);
    this.prng = this.scheduler.prng;
    this.params = { ...drawParameters(this.prng), ...options.shape };
    this.network = new SimNetwork(this.scheduler, { ...this.params.network });
    this.checker = new RaftSafetyChecker(() => `t=${this.scheduler.now}ms`);
    this.cluster = new SimMetadataCluster(this.scheduler, this.network, {
      raftLimits: this.params.raftLimits,
      snapshotIntervalEntries: this.params.snapshotIntervalEntries,
      tickMsBase: this.params.tickMsBase,
      persistLatencyMsMax: this.params.persistLatencyMsMax,
      observer: this.checker,
      ...(options.faults === undefined ? {} : { faults: options.faults }),
      onFatal: (member, error) =>
        this.violations.push(`member ${member} stopped: ${error.message}`),
    });
    this.members = this.cluster.members;
  }

  run(): SimRunResult {
    const phases = [
      () => this.runPhase(this.params.chaosMs, () => this.nemesis()),
      () => this.heal(),
      () => this.runPhase(this.params.settleMs, undefined),
      () => this.finalReads(),
      () => this.checkConvergence(),
    ];
    try {
      this.setUp();
      if (this.options.trace !== undefined) this.traceEvery(this.options.trace, 250);
      // The first violation ends the run: what follows a broken invariant tells nothing new.
      for (const phase of phases) {
        if (this.failed()) break;
        phase();
      }
    } catch (error) {
      this.violations.push(`crash at t=${this.scheduler.now}ms: ${describeCrash(error)}`);
    }
    const violations = [...this.checker.violations, ...this.violations];
    if (violations.length === 0) this.checkHistory(violations);
    return { seed: this.seed, violations, summary: this.summary() };
  }

  private failed(): boolean {
    return this.violations.length > 0 || this.checker.violations.length > 0;
  }

  // ---- set-up ----

  private setUp(): void {
    const p = this.params;
    const total = p.voters + p.spares;
    const initialVoters = p.provisionOneThenJoin ? [MemberId(1)] : range(p.voters).map(MemberId);
    const initial: Membership = {
      voters: initialVoters,
      learners: [],
      addresses: Object.fromEntries(initialVoters.map((id) => [id, memberAddress(id)])),
    };
    const state = bootstrapState(initial, new Uint8Array(0));
    for (let id = 1; id <= total; id++) {
      this.cluster.addMember(id, initialVoters.includes(MemberId(id)) ? state : undefined);
    }
    const seeds = range(p.voters).map(memberAddress);
    this.operator = this.addClient(OPERATOR_CLIENT, seeds);
    for (let c = 1; c <= p.clients; c++) this.addClient(c, seeds);
    if (p.provisionOneThenJoin) {
      // The other initial members join one at a time, as nodes started with a join flag do.
      const joinNext = (id: number): void => {
        if (id > p.voters) return;
        this.join(MemberId(id), () => joinNext(id + 1));
      };
      joinNext(2);
    }
    for (const client of this.clients) {
      if (client.index === OPERATOR_CLIENT) continue;
      this.scheduler.schedule(this.prng.nextInt(50), () => this.issue(client));
    }
  }

  private startMember(member: SimMember): void {
    this.cluster.start(member);
    this.checker.memberRestarted(member.id);
  }

  private crash(member: SimMember): void {
    if (this.cluster.crash(member)) this.stats.crashes++;
  }

  private addClient(index: number, seeds: string[]): SimClient {
    const { transport, ticker } = this.cluster.clientPorts(index);
    const core = new MetadataClientCore(
      transport.address,
      seeds,
      DEFAULT_CLIENT_LIMITS,
      seededPrng(this.prng.nextU32()),
    );
    const waiting = new Map<number, (outcome: Outcome) => void>();
    const driver = new MetadataClientDriver(core, transport, ticker, this.params.tickMsBase, {
      completed: ({ opId, outcome }: Completion) => {
        const then = waiting.get(opId);
        waiting.delete(opId);
        then?.(outcome);
      },
      changed: () => {},
    });
    const client: SimClient = { index, driver, waiting, seenVersion: new Map(), written: 0 };
    if (index !== OPERATOR_CLIENT) this.clients.push(client);
    return client;
  }

  // ---- running ----

  private traceEvery(trace: (line: string) => void, intervalMs: number): void {
    const sample = (): void => {
      const members = [...this.members.values()].map((m) => {
        const status = m.driver?.member.status();
        if (status === undefined) return `${m.id}:down`;
        return `${m.id}:${status.role[0]}${status.term}/c${status.commit}/a${status.applied}`;
      });
      const done = this.history.length;
      trace(`t=${this.scheduler.now} ops=${done} ${members.join(" ")}`);
      if (this.scheduler.now < 60_000) this.scheduler.schedule(intervalMs, sample);
    };
    sample();
  }

  private runPhase(durationMs: number, everyStep: (() => void) | undefined): void {
    const until = this.scheduler.now + durationMs;
    if (everyStep !== undefined) everyStep();
    this.runChecked(until, () => false);
    if (!this.failed()) this.scheduler.runFor(Math.max(0, until - this.scheduler.now));
  }

  /** Runs events until `done`, checking Raft safety after every step, within the step budget. */
  private runChecked(untilMs: number, done: () => boolean): void {
    const stepsMax = SIMULATION_STEPS_MAX - this.scheduler.stepsTaken;
    this.scheduler.runUntil(
      () => {
        this.checker.checkStep(this.liveViews());
        return done() || this.failed();
      },
      { untilMs, stepsMax },
    );
    if (this.scheduler.stepsTaken >= SIMULATION_STEPS_MAX) {
      throw new Error(`the run exceeded ${SIMULATION_STEPS_MAX} steps (a message storm?)`);
    }
  }

  private liveViews(): MemberView[] {
    return this.cluster.views();
  }

  // ---- the workload ----

  private issue(client: SimClient): void {
    if (this.chaosOver) return;
    const key = `k${this.prng.nextInt(this.params.keys)}`;
    const input = this.chooseInput(client, key);
    this.invoke(client, key, input, () => {
      this.scheduler.schedule(this.prng.nextInt(this.params.thinkMsMax + 1), () =>
        this.issue(client),
      );
    });
  }

  private chooseInput(client: SimClient, key: string): RegisterInput {
    const roll = this.prng.nextInt(100);
    if (roll < 30) return { kind: "get" };
    const seen = client.seenVersion.get(key);
    let precondition: Precondition;
    const choice = this.prng.nextInt(10);
    if (choice < 2) precondition = ANY_VERSION;
    else if (choice < 4) precondition = MUST_NOT_EXIST;
    else precondition = matchesVersion(Version(seen ?? 1 + this.prng.nextInt(3)));
    if (roll < 88) {
      client.written++;
      return { kind: "put", value: `c${client.index}.${client.written}`, precondition };
    }
    return { kind: "delete", precondition };
  }

  /** Submits one operation, records it in the history, and calls `then` when it completes. */
  private invoke(client: SimClient, key: string, input: RegisterInput, then: () => void): void {
    const record = { id: this.nextOpId++, client: client.index, key, call: this.eventSeq++, input };
    const opId = client.driver.submit(
      input.kind === "get"
        ? { kind: "get", key }
        : input.kind === "put"
          ? {
              kind: "write",
              op: { kind: "put", key, value: utf8(input.value), precondition: input.precondition },
            }
          : { kind: "write", op: { kind: "delete", key, precondition: input.precondition } },
    );
    client.waiting.set(opId, (outcome) => {
      this.record(client, record, outcome);
      then();
    });
  }

  private record(
    client: SimClient,
    call: Omit<HistoryOperation, "ret" | "output">,
    outcome: Outcome,
  ): void {
    const ret = this.eventSeq++;
    let output: RegisterOutput | undefined;
    switch (outcome.kind) {
      case "failed":
        return; // Certainly no effect: not part of the history.
      case "unknown":
        this.history.push({ ...call, ret: undefined, output: undefined });
        return;
      case "value": {
        const value = outcome.value;
        output = {
          kind: "value",
          value: value === undefined ? undefined : fromUtf8(value.value),
          version: value?.version ?? 0,
        };
        if (value !== undefined) client.seenVersion.set(call.key, value.version);
        break;
      }
      case "written": {
        const result = outcome.result;
        if (result.kind === "put") {
          output = { kind: "put", version: result.version };
          client.seenVersion.set(call.key, result.version);
        } else if (result.kind === "deleted") output = { kind: "deleted" };
        else {
          output = { kind: "preconditionFailed", currentVersion: result.currentVersion };
          if (result.currentVersion !== undefined) {
            client.seenVersion.set(call.key, result.currentVersion);
          }
        }
        break;
      }
      case "joined":
      case "status":
        assert(false, `a register operation completed as ${outcome.kind}`);
    }
    this.history.push({ ...call, ret, output });
  }

  private join(member: MemberId, then: () => void): void {
    const opId = this.operator.driver.submit({
      kind: "join",
      member,
      address: memberAddress(member),
    });
    this.stats.joins++;
    this.operator.waiting.set(opId, (outcome) => {
      // A join that timed out is simply asked again: joining is idempotent.
      if (outcome.kind === "joined" || this.chaosOver) then();
      else this.join(member, then);
    });
  }

  // ---- the nemesis ----

  private nemesis(): void {
    if (this.chaosOver) return;
    this.scheduler.schedule(1 + this.prng.nextInt(this.params.nemesisIntervalMsMax), () => {
      if (this.chaosOver) return;
      this.strike();
      this.nemesis();
    });
  }

  private strike(): void {
    if (this.params.churnOnly) {
      this.leaderChurn(2 + this.prng.nextInt(8));
      return;
    }
    const roll = this.prng.nextInt(100);
    const members = [...this.members.values()];
    const up = members.filter((m) => m.driver !== undefined);
    if (roll < 5) {
      // A power failure: a majority (or everyone) loses what was not synced, at the same instant.
      const victims = members.filter(() => this.prng.chance(0.8));
      for (const victim of victims) {
        this.crash(victim);
        this.scheduler.schedule(50 + this.prng.nextInt(1000), () => {
          if (!this.chaosOver && victim.driver === undefined) this.startMember(victim);
        });
      }
    } else if (roll < 30) {
      // Half of the crashes hit the leader: failover is the story that matters most.
      const victim =
        roll < 15 ? (this.currentLeader() ?? pick(this.prng, up)) : pick(this.prng, up);
      if (victim === undefined) return;
      this.crash(victim);
      this.scheduler.schedule(50 + this.prng.nextInt(this.params.crashDownMsMax), () => {
        if (!this.chaosOver && victim.driver === undefined) this.startMember(victim);
      });
    } else if (roll < 50) {
      const side = members.map((m) => m.node).filter(() => this.prng.chance(0.5));
      const clients = this.clients.map((c) => CLIENT_NODE_BASE + c.index);
      const other = [...members.map((m) => m.node), ...clients].filter((n) => !side.includes(n));
      this.network.partition(side, other);
      this.stats.partitions++;
      this.scheduler.schedule(100 + this.prng.nextInt(3000), () => this.network.heal());
    } else if (roll < 60) {
      const leader = this.currentLeader();
      if (leader === undefined) return;
      const others = [...this.members.values(), ...this.clients].map((x) =>
        "node" in x ? x.node : CLIENT_NODE_BASE + x.index,
      );
      this.network.partition(
        [leader.node],
        others.filter((n) => n !== leader.node),
      );
      this.stats.partitions++;
      this.scheduler.schedule(300 + this.prng.nextInt(2500), () => this.network.heal());
    } else if (roll < 70) {
      const leader = this.currentLeader();
      const voters = leader?.driver?.member.status().membership.voters ?? [];
      const target = pick(
        this.prng,
        voters.filter((v) => v !== leader?.id),
      );
      if (leader?.driver !== undefined && target !== undefined) {
        leader.driver.member.transferLeadership(target);
        this.stats.transfers++;
      }
    } else if (roll < 82) {
      this.changeMembership();
    } else if (roll < 86) {
      this.leaderChurn(2 + this.prng.nextInt(4));
    } else if (roll < 92) {
      // A stall (GC pause, stopped VM), most often of the leader: it must not act on stale beliefs.
      const target = this.prng.chance(0.7) ? this.currentLeader() : pick(this.prng, up);
      target?.process?.pause(50 + this.prng.nextInt(1500));
      this.stats.pauses++;
    } else if (roll < 97) {
      const before = this.network.faults.dropProbability;
      this.network.faults.dropProbability = 0.3;
      this.scheduler.schedule(100 + this.prng.nextInt(900), () => {
        this.network.faults.dropProbability = before;
      });
    } else {
      // A quiet period: nothing happens this time.
    }
  }

  /**
   * Cuts the leader off, and then each next leader soon after it is elected, `rounds` times,
   * reconnecting the previous one: short reigns whose entries reach only some members are what
   * make logs diverge (the situation of Raft's Figure 8). Messages in flight to or from a member
   * that is cut off are lost.
   */
  private leaderChurn(rounds: number, previous?: SimMember): void {
    const leader = this.currentLeader();
    if (previous !== undefined) this.network.reconnect(previous.node);
    if (leader === undefined || rounds === 0 || this.chaosOver) return;
    this.isolate(leader.node);
    this.stats.partitions++;
    const watchFor = (deadline: number): void => {
      if (this.chaosOver) return;
      const next = this.currentLeader();
      if (next !== undefined && next !== leader) {
        const delay = this.prng.nextInt(this.params.churnDelayMsMax + 1);
        this.scheduler.schedule(delay, () => this.leaderChurn(rounds - 1, leader));
      } else if (this.scheduler.now < deadline) {
        this.scheduler.schedule(1, () => watchFor(deadline));
      } else {
        this.network.reconnect(leader.node);
      }
    };
    watchFor(this.scheduler.now + 1000);
  }

  private isolate(node: number): void {
    const everyone = [
      ...[...this.members.values()].map((m) => m.node),
      ...this.clients.map((c) => CLIENT_NODE_BASE + c.index),
    ];
    this.network.partition(
      [node],
      everyone.filter((n) => n !== node),
    );
  }

  /** Removes a voter when there are enough, or brings a non-member (spare or removed) back. */
  private changeMembership(): void {
    const leader = this.currentLeader();
    const core = leader?.driver?.member;
    if (core === undefined) return;
    const membership = core.status().membership;
    const outsiders = [...this.members.values()].filter((m) => !isMember(membership, m.id));
    if (outsiders.length > 0 && this.prng.chance(0.6)) {
      const newcomer = pick(this.prng, outsiders)!;
      this.join(newcomer.id, () => {});
      return;
    }
    if (membership.voters.length <= 3) return;
    const victim = pick(
      this.prng,
      membership.voters.filter((v) => v !== core.id),
    );
    if (victim === undefined) return;
    if (core.proposeMembershipChange({ kind: "remove", member: victim }).kind === "accepted") {
      this.stats.removals++;
    }
  }

  private currentLeader(): SimMember | undefined {
    return this.cluster.leader();
  }

  // ---- the end ----

  private heal(): void {
    this.chaosOver = true;
    this.network.heal();
    this.network.faults = { ...this.params.network, dropProbability: 0, duplicateProbability: 0 };
    for (const member of this.members.values()) {
      if (member.driver === undefined) this.startMember(member);
    }
  }

  /** Liveness: with the faults gone, every client completes a read of every key. */
  private finalReads(): void {
    let outstanding = 0;
    for (const client of this.clients) {
      for (let k = 0; k < this.params.keys; k++) {
        outstanding++;
        this.invoke(client, `k${k}`, { kind: "get" }, () => outstanding--);
      }
    }
    this.runChecked(this.scheduler.now + this.params.finalMs, () => outstanding === 0);
    if (outstanding > 0) {
      this.violations.push(
        `liveness: ${outstanding} final reads unanswered ${this.params.finalMs}ms after the network healed`,
      );
    }
    const unanswered = this.history.filter(
      (op) => op.ret !== undefined && op.output === undefined,
    ).length;
    assert(unanswered === 0, "every returned operation has an output");
  }

  /** The members of the final membership converge to the same applied state. */
  private checkConvergence(): void {
    const leader = this.currentLeader()?.driver?.member;
    if (leader === undefined) {
      this.violations.push("liveness: no leader after the network healed");
      return;
    }
    const voters = leader.status().membership;
    const cores = [...this.members.values()]
      .map((m) => m.driver?.member)
      .filter((c): c is MetadataMember => c !== undefined && isMember(voters, c.id));
    const converged = (): boolean => {
      const target = leader.status().commit;
      return cores.every((c) => c.status().applied === target);
    };
    this.runChecked(this.scheduler.now + CONVERGENCE_MS_MAX, converged);
    if (!converged()) {
      this.violations.push(
        `convergence: members did not apply up to the leader's commit (${cores.map((c) => `${c.id}@${c.status().applied}`).join(" ")})`,
      );
      return;
    }
    const images = cores.map((c) => toHex(c.appliedState().encodeSnapshot()));
    for (let k = 1; k < images.length; k++) {
      if (images[k] !== images[0]) {
        this.violations.push(
          `convergence: members ${cores[0]!.id} and ${cores[k]!.id} hold different states at the same index`,
        );
      }
    }
    assert(isVoter(voters, leader.id) || voters.voters.length > 0, "a leader exists");
  }

  private checkHistory(violations: string[]): void {
    const result = checkLinearizable(this.history);
    if (result.ok) return;
    violations.push(`linearizability (key ${result.key}): ${result.reason}`);
    const lines = result.operations.map(describeOperation);
    violations.push(...(this.options.verbose === true ? lines : lines.slice(-8)));
  }

  private summary(): string {
    const p = this.params;
    let terms = 0;
    for (const member of this.members.values()) {
      terms = Math.max(terms, member.driver?.member.status().term ?? 0);
    }
    const unknown = this.history.filter((op) => op.output === undefined).length;
    const s = this.stats;
    return (
      `voters=${p.voters}${p.provisionOneThenJoin ? " (joined)" : ""} spares=${p.spares} clients=${p.clients} ` +
      `keys=${p.keys} ops=${this.history.length} unknown=${unknown} terms=${terms} crashes=${s.crashes} ` +
      `partitions=${s.partitions} pauses=${s.pauses} transfers=${s.transfers} removals=${s.removals} joins=${s.joins} ` +
      `divergent=${this.checker.divergentIndexes} steps=${this.scheduler.stepsTaken} t=${this.scheduler.now}ms`
    );
  }
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, k) => k + 1);
}

function pick<T>(prng: Prng, items: readonly T[]): T | undefined {
  if (items.length === 0) return undefined;
  return items[prng.nextInt(items.length)];
}

export function runMetadataSimulation(
  seed: number,
  options: MetadataSimOptions = {},
): SimRunResult {
  return new MetadataSimulation(seed, options).run();
}

/** The message and the innermost stack frame of an exception thrown out of the simulated code. */
function describeCrash(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const frame = error.stack?.split("\n").find((line) => line.trim().startsWith("at "));
  return `${error.name}: ${error.message}${frame === undefined ? "" : ` (${frame.trim()})`}`;
}
