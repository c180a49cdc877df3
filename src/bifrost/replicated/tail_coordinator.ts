/**
 * Seal, find-tail and tail repair of one replicated loglet, as a pure state machine: it seals the
 * loglet and settles its final tail, once and for all.
 *
 * Why a decision: commit is decided by the sequencer alone, so when it dies some records may sit on
 * fewer than a write quorum of servers, and which of them "made it" depends on which servers answer.
 * Two coordinators hearing different f-majorities could otherwise settle different tails. Keel makes
 * the sealed tail a single-decree Flexible Paxos decision over the nodeset, where phase-1 quorums are
 * f-majorities and phase-2 quorums are write quorums (every f-majority meets every write quorum):
 *
 * 1. **Prepare** (seal): send `prepare(ballot)` to the nodeset. Each server seals itself durably,
 *    promises the ballot if it is the highest it has seen, and answers with its local tail, known
 *    global tail, accepted tail (if any), chosen tail (if known) and its digest (batches above its
 *    known global tail). Wait for an f-majority of promises.
 * 2. **Pick the value**: the accepted tail with the highest ballot among the answers if there is one
 *    (it may already be chosen), else the highest local tail M. M covers every committed batch: its
 *    write quorum met the f-majority at a server that stored it before sealing.
 * 3. **Repair**: make a write quorum of servers hold everything below the value. Because servers never
 *    hold uncommitted holes, a server whose local tail reached the value holds every uncommitted
 *    record below it; so it suffices to raise the tails of enough answering servers to the value, by
 *    copying whole batches (so a tail never splits a batch) from a holder, in order, with repair stores
 *    that servers accept after the seal.
 * 4. **Accept**: send `accept(ballot, value)`; once a write quorum accepted, the value is chosen. Tell
 *    the nodeset (`decided`) and report it. A chosen tail reported by any server ends the procedure at
 *    once.
 *
 * Any refusal (a higher ballot), failure or gap restarts the attempt with a higher ballot after a
 * random backoff. The procedure is safe under any number of concurrent coordinators and re-entrant
 * after crashes: the chosen tail is unique (asserted by the servers), every committed record is below
 * it, and the known global tail is never advanced past records that are not yet chosen.
 */

import { assert, type GenerationalNodeId, type NodeId, type Prng } from "../../core/index.js";
import { expectResponse, type NoticeEffect, type Outcome, type RequestEffect } from "./effects.js";
import type { ReplicatedLogletLimits } from "./limits.js";
import type {
  AcceptRequest,
  GetRecordsRequest,
  PrepareRequest,
  PreparedResponse,
  StoreRequest,
} from "./messages.js";
import { isFMajority, isWriteQuorum, selectSpread, type Topology } from "./replication.js";
import {
  compareBallots,
  formatBallot,
  type Ballot,
  type LogletParams,
  type OffsetRange,
} from "./types.js";

const TRACE_STEPS_MAX = 64;

export type CoordinatorRequest = PrepareRequest | AcceptRequest | GetRecordsRequest | StoreRequest;

export type CoordinatorEffect =
  | RequestEffect<CoordinatorRequest>
  | NoticeEffect
  | { readonly kind: "decided"; readonly tail: number };

/** One batch to copy, with the servers that hold it and those that need it. */
interface RepairStep {
  readonly batch: OffsetRange;
  readonly sources: NodeId[];
  readonly targets: NodeId[];
}

type Phase =
  | { readonly kind: "prepare"; readonly answers: Map<NodeId, PreparedResponse> }
  | {
      readonly kind: "repair";
      readonly answers: Map<NodeId, PreparedResponse>;
      readonly value: number;
      readonly knownGlobalTail: number;
      readonly steps: RepairStep[];
      /** Index of the step in progress; its payloads once fetched; targets still to confirm. */
      step: number;
      payloads: Uint8Array[] | undefined;
      sourceAttempt: number;
      pendingTargets: Set<NodeId>;
    }
  | {
      readonly kind: "accept";
      readonly value: number;
      readonly answers: Map<NodeId, PreparedResponse>;
      readonly accepted: Set<NodeId>;
    }
  | { readonly kind: "backoff"; untilTick: number }
  | { readonly kind: "done"; readonly tail: number };

export class TailCoordinator {
  private ballot: Ballot;
  private highestRoundSeen = 0;
  private phase: Phase = { kind: "backoff", untilTick: 0 };
  /** Attempt number; answers to older attempts are ignored. */
  private attempt = 0;
  private readonly requests = new Map<
    number,
    { attempt: number; server: NodeId; kind: CoordinatorRequest["kind"] }
  >();
  /** Servers that failed or refused in this attempt. */
  private failed = new Set<NodeId>();
  private nextToken = 1;
  private now = 0;
  /** Things that only a bug can cause; the simulator fails on any. */
  readonly anomalies: string[] = [];
  /** The last steps of the attempts, in words, for debugging (bounded: a stuck seal retries forever). */
  readonly trace: string[] = [];

  constructor(
    private readonly params: LogletParams,
    private readonly self: GenerationalNodeId,
    private readonly topology: Topology,
    private readonly prng: Prng,
    private readonly limits: ReplicatedLogletLimits,
    /** What this node already knows is committed (it may be the sequencer). */
    private knownGlobalTail: number,
  ) {
    this.ballot = { round: 0, node: self.node, generation: self.generation };
  }

  get result(): number | undefined {
    return this.phase.kind === "done" ? this.phase.tail : undefined;
  }

  private note(text: string): void {
    this.trace.push(text);
    if (this.trace.length > TRACE_STEPS_MAX) this.trace.shift();
  }

  start(): CoordinatorEffect[] {
    const effects: CoordinatorEffect[] = [];
    this.beginAttempt(effects);
    return effects;
  }

  tick(): CoordinatorEffect[] {
    this.now++;
    const effects: CoordinatorEffect[] = [];
    if (this.phase.kind === "backoff" && this.now >= this.phase.untilTick) {
      this.beginAttempt(effects);
    }
    return effects;
  }

  onOutcome(token: number, outcome: Outcome): CoordinatorEffect[] {
    const request = this.requests.get(token);
    this.requests.delete(token);
    if (request === undefined || request.attempt !== this.attempt) return [];
    const effects: CoordinatorEffect[] = [];
    // Each phase takes only the answers to its own requests; late prepares after the value was
    // picked change nothing.
    switch (this.phase.kind) {
      case "prepare":
        if (request.kind === "prepare") {
          this.onPrepared(effects, request.server, outcome, this.phase.answers);
        }
        break;
      case "repair":
        if (request.kind === "getRecords") this.onFetched(effects, outcome);
        if (request.kind === "store") this.onRepairStored(effects, request.server, outcome);
        break;
      case "accept":
        if (request.kind === "accept") this.onAcceptReply(effects, request.server, outcome);
        break;
      case "backoff":
      case "done":
        break;
    }
    return effects;
  }

  // ---- attempts ----

  private request(effects: CoordinatorEffect[], to: NodeId, request: CoordinatorRequest): void {
    const token = this.nextToken++;
    this.requests.set(token, { attempt: this.attempt, server: to, kind: request.kind });
    effects.push({
      kind: "request",
      to,
      token,
      request,
      timeoutTicks: this.limits.requestTimeoutTicks,
    });
  }

  private header(): PrepareRequest["header"] {
    return { logletId: this.params.logletId, knownGlobalTail: this.knownGlobalTail };
  }

  private beginAttempt(effects: CoordinatorEffect[]): void {
    this.attempt++;
    this.failed = new Set();
    this.highestRoundSeen = Math.max(this.highestRoundSeen, this.ballot.round) + 1;
    this.ballot = {
      round: this.highestRoundSeen,
      node: this.self.node,
      generation: this.self.generation,
    };
    this.note(`prepare ${formatBallot(this.ballot)}`);
    this.phase = { kind: "prepare", answers: new Map() };
    for (const to of this.params.nodeset) {
      this.request(effects, to, { kind: "prepare", header: this.header(), ballot: this.ballot });
    }
  }

  private backoff(why: string): void {
    const wait = 1 + this.prng.nextInt(this.limits.coordinatorBackoffTicksMax);
    this.note(`retry in ${wait} ticks: ${why}`);
    this.attempt++; // ignore everything still in flight
    this.phase = { kind: "backoff", untilTick: this.now + wait };
  }

  private finish(effects: CoordinatorEffect[], tail: number, announce: boolean): void {
    this.note(`decided tail ${tail}`);
    this.phase = { kind: "done", tail };
    this.knownGlobalTail = Math.max(this.knownGlobalTail, tail);
    if (announce) {
      for (const to of this.params.nodeset) {
        effects.push({
          kind: "notice",
          to,
          notice: {
            kind: "decided",
            header: { logletId: this.params.logletId, knownGlobalTail: tail },
            tail,
          },
        });
      }
    }
    effects.push({ kind: "decided", tail });
  }

  /** True when nothing more can arrive in this attempt and `done` did not happen. */
  private allAnswered(answered: number): boolean {
    return answered + this.failed.size >= this.params.nodeset.length;
  }

  // ---- phase 1: prepare ----

  private onPrepared(
    effects: CoordinatorEffect[],
    server: NodeId,
    outcome: Outcome,
    answers: Map<NodeId, PreparedResponse>,
  ): void {
    const prepared = expectResponse(outcome, "prepared");
    if (prepared?.chosenTail !== undefined) return this.finish(effects, prepared.chosenTail, false);
    if (prepared === undefined || !prepared.promised) {
      if (prepared !== undefined) {
        this.highestRoundSeen = Math.max(this.highestRoundSeen, prepared.promisedBallot.round);
        return this.backoff(`server ${server} promised ${formatBallot(prepared.promisedBallot)}`);
      }
      this.failed.add(server);
      if (this.allAnswered(answers.size)) this.backoff("no f-majority answered the prepare");
      return;
    }
    answers.set(server, prepared);
    this.knownGlobalTail = Math.max(this.knownGlobalTail, prepared.header.knownGlobalTail);
    const responders = new Set(answers.keys());
    if (!isFMajority(responders, this.params.nodeset, this.params.replication, this.topology)) {
      if (this.allAnswered(answers.size)) this.backoff("no f-majority answered the prepare");
      return;
    }
    this.planRepair(effects, answers);
  }

  /** With an f-majority of promises: pick the value and work out what must be copied where. */
  private planRepair(effects: CoordinatorEffect[], answers: Map<NodeId, PreparedResponse>): void {
    let adopted: PreparedResponse["accepted"];
    let maxTail = 1;
    for (const answer of answers.values()) {
      maxTail = Math.max(maxTail, answer.header.localTail);
      if (
        answer.accepted !== undefined &&
        (adopted === undefined || compareBallots(answer.accepted.ballot, adopted.ballot) > 0)
      ) {
        adopted = answer.accepted;
      }
    }
    const value = adopted?.tail ?? maxTail;
    const committed = this.knownGlobalTail;
    assert(
      value >= committed,
      `${this.params.logletId}: the sealed tail ${value} would lose committed records below ${committed}`,
    );
    const holders = [...answers]
      .filter(([, answer]) => answer.header.localTail >= value)
      .map(([node]) => node);
    const { replication } = this.params;
    if (isWriteQuorum(holders, replication, this.topology))
      return this.startAccept(effects, value, answers);
    const responders = [...answers.keys()];
    const quorum = selectSpread(responders, replication, this.topology, this.prng, {
      include: holders,
    });
    if (quorum === undefined) {
      // Too few answers to hold a write quorum (a nodeset no larger than the copies): wait for more.
      if (this.allAnswered(answers.size))
        this.backoff("answers cannot form a write quorum to repair");
      return;
    }
    const steps = this.repairSteps(answers, quorum, value, committed);
    if (steps === undefined) {
      if (this.allAnswered(answers.size)) {
        this.anomalies.push(
          `${this.params.logletId}: every server answered and no copy covers [${committed}, ${value})`,
        );
        this.backoff("digests do not cover the repair range");
      }
      return;
    }
    this.note(
      `repair [${committed}, ${value}) onto ${quorum.filter((n) => !holders.includes(n)).join(",")} in ${steps.length} batches`,
    );
    this.phase = {
      kind: "repair",
      answers,
      value,
      knownGlobalTail: committed,
      steps,
      step: -1,
      payloads: undefined,
      sourceAttempt: 0,
      pendingTargets: new Set(),
    };
    this.nextRepairStep(effects);
  }

  /**
   * The batches in [committed, value), in order, from the digests: each with its holders and the
   * quorum members whose local tail is at or below its start. Undefined when the digests leave a gap.
   */
  private repairSteps(
    answers: Map<NodeId, PreparedResponse>,
    quorum: readonly NodeId[],
    value: number,
    committed: number,
  ): RepairStep[] | undefined {
    const byFirst = new Map<number, { end: number; sources: NodeId[] }>();
    for (const [node, answer] of answers) {
      for (const batch of answer.batches) {
        if (batch.end <= committed || batch.end > value) continue;
        const known = byFirst.get(batch.first);
        if (known === undefined) {
          byFirst.set(batch.first, { end: batch.end, sources: [node] });
        } else {
          assert(
            known.end === batch.end,
            `${this.params.logletId}: batch at ${batch.first} ends at ${known.end} and ${batch.end}`,
          );
          known.sources.push(node);
        }
      }
    }
    const ordered = [...byFirst.entries()].sort((a, b) => a[0] - b[0]);
    const steps: RepairStep[] = [];
    let covered: number | undefined;
    for (const [first, { end, sources }] of ordered) {
      if (covered !== undefined && first !== covered) return undefined;
      if (covered === undefined && first > committed) return undefined;
      covered = end;
      const targets = quorum.filter((n) => answers.get(n)!.header.localTail <= first);
      if (targets.length > 0) steps.push({ batch: { first, end }, sources, targets });
    }
    if ((covered ?? committed) !== value && value > committed) return undefined;
    return steps;
  }

  // ---- phase 1b: repair ----

  private nextRepairStep(effects: CoordinatorEffect[]): void {
    const phase = this.phase;
    assert(phase.kind === "repair", "repairing");
    phase.step++;
    phase.payloads = undefined;
    phase.sourceAttempt = 0;
    if (phase.step >= phase.steps.length)
      return this.startAccept(effects, phase.value, phase.answers);
    this.fetchStep(effects);
  }

  private fetchStep(effects: CoordinatorEffect[]): void {
    const phase = this.phase;
    assert(phase.kind === "repair", "repairing");
    const step = phase.steps[phase.step]!;
    const source = step.sources[phase.sourceAttempt];
    if (source === undefined)
      return this.backoff(`no holder served [${step.batch.first}, ${step.batch.end})`);
    this.request(effects, source, {
      kind: "getRecords",
      header: { logletId: this.params.logletId, knownGlobalTail: phase.knownGlobalTail },
      from: step.batch.first,
      toExclusive: step.batch.end,
      recordsMax: step.batch.end - step.batch.first,
      bytesMax: 0xffffffff,
    });
  }

  private onFetched(effects: CoordinatorEffect[], outcome: Outcome): void {
    const phase = this.phase;
    assert(phase.kind === "repair" && phase.payloads === undefined, "fetching a batch to repair");
    const step = phase.steps[phase.step]!;
    const records = expectResponse(outcome, "records");
    const complete =
      records !== undefined &&
      records.records.length === step.batch.end - step.batch.first &&
      records.records.every((r, i) => r.offset === step.batch.first + i);
    if (!complete) {
      phase.sourceAttempt++;
      return this.fetchStep(effects);
    }
    phase.payloads = records.records.map((r) => r.payload);
    phase.pendingTargets = new Set(step.targets);
    for (const target of step.targets) {
      this.request(effects, target, {
        kind: "store",
        header: { logletId: this.params.logletId, knownGlobalTail: phase.knownGlobalTail },
        sequencer: this.params.sequencer,
        first: step.batch.first,
        payloads: phase.payloads,
        repair: true,
      });
    }
  }

  private onRepairStored(effects: CoordinatorEffect[], server: NodeId, outcome: Outcome): void {
    const phase = this.phase;
    assert(phase.kind === "repair" && phase.payloads !== undefined, "storing a repaired batch");
    const step = phase.steps[phase.step]!;
    const stored = expectResponse(outcome, "stored");
    if (stored?.status !== "ok") {
      return this.backoff(
        `repair store of [${step.batch.first}, ${step.batch.end}) on ${server}: ${stored?.status ?? "no answer"}`,
      );
    }
    phase.pendingTargets.delete(server);
    if (phase.pendingTargets.size === 0) this.nextRepairStep(effects);
  }

  // ---- phase 2: accept ----

  private startAccept(
    effects: CoordinatorEffect[],
    value: number,
    answers: Map<NodeId, PreparedResponse>,
  ): void {
    this.note(`accept ${value} under ${formatBallot(this.ballot)}`);
    this.failed = new Set();
    this.phase = { kind: "accept", value, answers, accepted: new Set() };
    for (const to of answers.keys()) {
      this.request(effects, to, {
        kind: "accept",
        header: this.header(),
        ballot: this.ballot,
        tail: value,
      });
    }
  }

  private onAcceptReply(effects: CoordinatorEffect[], server: NodeId, outcome: Outcome): void {
    const phase = this.phase;
    assert(phase.kind === "accept", "accepting");
    const reply = expectResponse(outcome, "acceptReply");
    if (reply === undefined) {
      this.failed.add(server);
    } else if (!reply.accepted) {
      this.highestRoundSeen = Math.max(this.highestRoundSeen, reply.promisedBallot.round);
      return this.backoff(
        `server ${server} refused accept: promised ${formatBallot(reply.promisedBallot)}`,
      );
    } else {
      phase.accepted.add(server);
    }
    if (isWriteQuorum(phase.accepted, this.params.replication, this.topology)) {
      return this.finish(effects, phase.value, true);
    }
    if (phase.accepted.size + this.failed.size >= phase.answers.size) {
      this.backoff("the accept did not reach a write quorum");
    }
  }
}
