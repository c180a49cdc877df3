/**
 * A metadata-server member as a pure machine: one Raft member, the replicated state machine, and the
 * bookkeeping that turns client requests into proposals and read-index rounds and committed entries
 * into answers. It lifts Raft's ready/advance to the member: `nextBatch()` says what to send now and
 * what to persist; once that is durable, `persisted(batch)` applies, answers and says what else to
 * send. Drivers (src/metadata-server/member_driver.ts, the simulator) do only the I/O.
 *
 * Invariants:
 * - A write is answered only from the entry that carried it, after it was applied (so after it was
 *   committed); a read is answered only from a state at or past a confirmed read index.
 * - When leadership is lost, every unanswered proposal and unconfirmed read is answered "retry":
 *   a write may still commit later, which is why writes carry session numbers.
 * - Messages whose answers promise durable state leave only after persisting (Raft's rule).
 */

import { assert, assertNever, type Prng } from "../core/index.js";
import { encodeCommand, type CommandResult } from "./commands.js";
import type { RaftLimits, TestOnlyFaults } from "./raft/config.js";
import { isLearner, isVoter, type MembershipChange } from "./raft/membership.js";
import {
  Raft,
  type ProposeResult,
  type RaftRecovered,
  type RaftStatus,
  type Ready,
  type SoftState,
} from "./raft/raft.js";
import {
  LogIndex,
  NO_MEMBER,
  type Entry,
  type MemberId,
  type RaftMessage,
  type Snapshot,
  type Term,
} from "./raft/types.js";
import type { PersistWork } from "./raft/storage_format.js";
import { MetadataStateMachine, type StateMachineLimits } from "./state_machine.js";
import type { ClientRequest, Envelope, MetadataMessage, ServerResponse } from "./wire.js";

export interface MemberConfig {
  readonly id: MemberId;
  /** Where peers and clients reach this member. */
  readonly address: string;
  readonly raftLimits: RaftLimits;
  readonly stateLimits: StateMachineLimits;
  /** Take a snapshot (and compact the log) after this many entries applied since the last one. */
  readonly snapshotIntervalEntries: number;
  readonly testOnlyFaults?: TestOnlyFaults;
  /** Test and simulation hooks: see every entry persisted and applied. */
  readonly observer?: MemberObserver;
}

export interface MemberObserver {
  /** Entries handed to storage; `prevTerm` is the term of the entry just before the first. */
  entriesWritten?(member: MemberId, entries: readonly Entry[], prevTerm: Term | undefined): void;
  entryApplied?(member: MemberId, entry: Entry): void;
  snapshotRestored?(member: MemberId, snapshot: Snapshot): void;
}

export interface Outgoing {
  readonly to: string;
  readonly message: MetadataMessage;
}

export interface MemberBatch {
  readonly sendNow: readonly Outgoing[];
  /** Undefined when there is nothing to persist: call persisted() at once. */
  readonly persist: PersistWork | undefined;
  readonly ready: Ready;
}

interface Waiter {
  readonly to: string;
  readonly requestId: number;
}

interface PendingProposal extends Waiter {
  readonly term: Term;
}

interface PendingRead extends Waiter {
  readonly key: string;
}

export class MetadataMember {
  readonly id: MemberId;
  private readonly raft: Raft;
  private readonly state: MetadataStateMachine;
  private readonly learnedAddresses = new Map<MemberId, string>();
  private outbox: Outgoing[] = [];
  private readonly proposals = new Map<LogIndex, PendingProposal>();
  private readonly reads = new Map<number, PendingRead>();
  /** Reads whose read index is confirmed, waiting for the applied index to reach it. */
  private confirmedReads: { index: LogIndex; read: PendingRead }[] = [];
  private nextReadId = 1;
  private softState: SoftState | undefined;
  /** Messages dropped because the address of their target was unknown. */
  unroutable = 0;

  constructor(
    private readonly config: MemberConfig,
    recovered: RaftRecovered,
    prng: Prng,
  ) {
    assert(config.snapshotIntervalEntries >= 1, "snapshotIntervalEntries must be at least 1");
    this.id = config.id;
    this.raft = new Raft(
      {
        id: config.id,
        limits: config.raftLimits,
        ...(config.testOnlyFaults === undefined ? {} : { testOnlyFaults: config.testOnlyFaults }),
      },
      recovered,
      prng,
    );
    this.state = new MetadataStateMachine(config.stateLimits);
    this.state.restore(recovered.snapshot.data);
  }

  // ---- inputs ----

  tick(): void {
    this.raft.tick();
  }

  receive(envelope: Envelope): void {
    const message = envelope.message;
    switch (message.kind) {
      case "raft":
        this.receiveRaft(envelope.from, message.message);
        return;
      case "request":
        this.handleRequest({ to: envelope.from, requestId: message.requestId }, message.request);
        return;
      case "response":
        return; // Members send no requests; a stray response is ignored.
      default:
        assertNever(message, "metadata message");
    }
  }

  /** An operator's (or the simulator's) membership change, proposed if this member leads. */
  proposeMembershipChange(change: MembershipChange): ProposeResult {
    return this.raft.proposeMembershipChange(change);
  }

  transferLeadership(target: MemberId): void {
    this.raft.transferLeadership(target);
  }

  // ---- outputs ----

  hasWork(): boolean {
    return this.outbox.length > 0 || this.raft.hasReady();
  }

  nextBatch(): MemberBatch {
    const ready = this.raft.ready();
    const first = ready.entries[0];
    if (first !== undefined) {
      const prevTerm = this.raft.termAt(LogIndex(first.index - 1));
      this.config.observer?.entriesWritten?.(this.id, ready.entries, prevTerm);
    }
    const sendNow = this.outbox;
    this.outbox = [];
    for (const message of ready.messagesNow) this.route(sendNow, message);
    const persistNeeded =
      ready.snapshot !== undefined || ready.hardState !== undefined || ready.entries.length > 0;
    const persist = persistNeeded
      ? { snapshot: ready.snapshot?.snapshot, hardState: ready.hardState, entries: ready.entries }
      : undefined;
    return { sendNow, persist, ready };
  }

  /** The batch's persist work is durable: apply, answer, and return what to send now. */
  persisted(batch: MemberBatch): Outgoing[] {
    const ready = batch.ready;
    const out: Outgoing[] = [];
    for (const message of ready.messagesAfterPersist) this.route(out, message);
    if (ready.snapshot?.restore === true) this.restoreSnapshot(ready.snapshot.snapshot);
    for (const entry of ready.committedEntries) this.applyEntry(entry);
    this.confirmReads(ready);
    if (ready.softState !== undefined) this.leadershipChanged(ready.softState);
    this.raft.advance(ready);
    this.serveConfirmedReads();
    this.maybeCompact();
    out.push(...this.outbox);
    this.outbox = [];
    return out;
  }

  status(): RaftStatus {
    return this.raft.status();
  }

  termAt(index: LogIndex): Term | undefined {
    return this.raft.termAt(index);
  }

  /** The applied state (for tests, checkers and member-local reads that need no linearizability). */
  appliedState(): MetadataStateMachine {
    return this.state;
  }

  // ---- raft plumbing ----

  private receiveRaft(from: string, message: RaftMessage): void {
    // Misaddressed or looped-back messages are a peer's confusion, not our bug: drop them.
    if (message.to !== this.id || message.from === this.id) return;
    if (message.from !== NO_MEMBER) this.learnedAddresses.set(message.from, from);
    this.raft.step(message);
  }

  private addressOf(member: MemberId): string | undefined {
    return this.raft.status().membership.addresses[member] ?? this.learnedAddresses.get(member);
  }

  private route(out: Outgoing[], message: RaftMessage): void {
    const to = this.addressOf(message.to);
    if (to === undefined) {
      this.unroutable++;
      return;
    }
    out.push({ to, message: { kind: "raft", message } });
  }

  private respond(waiter: Waiter, response: ServerResponse): void {
    this.outbox.push({
      to: waiter.to,
      message: { kind: "response", requestId: waiter.requestId, response },
    });
  }

  // ---- requests ----

  private handleRequest(waiter: Waiter, request: ClientRequest): void {
    switch (request.kind) {
      case "status":
        this.respond(waiter, { kind: "status", status: this.memberStatus() });
        return;
      case "get":
        this.handleGet(waiter, request.key);
        return;
      case "propose":
        this.propose(waiter, encodeCommand(request.command));
        return;
      case "join":
        this.handleJoin(waiter, request.member, request.address);
        return;
      default:
        assertNever(request, "client request");
    }
  }

  private handleGet(waiter: Waiter, key: string): void {
    const readId = this.nextReadId++;
    const result = this.raft.readIndex(readId);
    switch (result.kind) {
      case "pending":
        this.reads.set(readId, { ...waiter, key });
        return;
      case "notLeader":
        this.respondNotLeader(waiter, result.leader);
        return;
      case "overloaded":
        this.respond(waiter, { kind: "retry", reason: "too many reads waiting" });
        return;
    }
  }

  private propose(waiter: Waiter, data: Uint8Array): void {
    this.answerProposal(waiter, this.raft.propose(data));
  }

  private answerProposal(waiter: Waiter, result: ProposeResult): void {
    switch (result.kind) {
      case "accepted":
        this.proposals.set(result.index, { ...waiter, term: result.term });
        return;
      case "notLeader":
        this.respondNotLeader(waiter, result.leader);
        return;
      case "transferring":
      case "overloaded":
        this.respond(waiter, { kind: "retry", reason: result.kind });
        return;
      case "rejected":
        this.respond(waiter, { kind: "retry", reason: result.reason });
        return;
    }
  }

  /**
   * A node asks to join: added as a learner first, promoted to voter once it holds everything
   * committed. The joining node repeats its request until it is told "joined".
   */
  private handleJoin(waiter: Waiter, member: MemberId, address: string): void {
    const status = this.raft.status();
    if (status.role !== "leader") {
      this.respondNotLeader(waiter, status.leader);
      return;
    }
    const membership = status.membership;
    if (isVoter(membership, member)) {
      this.respond(waiter, { kind: "joined" });
      return;
    }
    let change: MembershipChange;
    if (isLearner(membership, member)) {
      const match = status.matchIndexes.get(member) ?? 0;
      if (match < status.commit) {
        this.respond(waiter, {
          kind: "joinPending",
          reason: `catching up (${match}/${status.commit})`,
        });
        return;
      }
      change = { kind: "promote", member };
    } else {
      change = { kind: "addLearner", member, address };
    }
    const result = this.raft.proposeMembershipChange(change);
    this.respond(waiter, {
      kind: "joinPending",
      reason: result.kind === "accepted" ? `${change.kind} proposed` : result.kind,
    });
  }

  private respondNotLeader(waiter: Waiter, leader: MemberId): void {
    const leaderAddress = leader === NO_MEMBER ? "" : (this.addressOf(leader) ?? "");
    this.respond(waiter, { kind: "notLeader", leader, leaderAddress });
  }

  private memberStatus(): Extract<ServerResponse, { kind: "status" }>["status"] {
    const s = this.raft.status();
    return {
      member: this.id,
      role: s.role,
      term: s.term,
      leader: s.leader,
      commit: s.commit,
      applied: s.applied,
      voters: s.membership.voters,
      learners: s.membership.learners,
    };
  }

  // ---- applying ----

  private restoreSnapshot(snapshot: Snapshot): void {
    this.state.restore(snapshot.data);
    this.config.observer?.snapshotRestored?.(this.id, snapshot);
    // Proposals covered by the snapshot were decided elsewhere; their outcome is unknown here.
    for (const [index, proposal] of this.proposals) {
      if (index > snapshot.index) continue;
      this.proposals.delete(index);
      this.respond(proposal, { kind: "retry", reason: "replaced by a snapshot" });
    }
  }

  private applyEntry(entry: Entry): void {
    let result: CommandResult | undefined;
    if (entry.kind === "command") result = this.state.apply(entry.index, entry.data);
    this.config.observer?.entryApplied?.(this.id, entry);
    const proposal = this.proposals.get(entry.index);
    if (proposal === undefined) return;
    this.proposals.delete(entry.index);
    if (proposal.term !== entry.term || result === undefined) {
      // Another leader's entry took this index: ours was not committed here.
      this.respond(proposal, { kind: "retry", reason: "entry replaced by a newer leader" });
      return;
    }
    this.respond(proposal, responseOf(result));
  }

  private confirmReads(ready: Ready): void {
    for (const state of ready.readStates) {
      const read = this.reads.get(state.requestId);
      if (read === undefined) continue;
      this.reads.delete(state.requestId);
      this.confirmedReads.push({ index: state.index, read });
    }
  }

  private serveConfirmedReads(): void {
    const applied = this.raft.status().applied;
    const waiting: { index: LogIndex; read: PendingRead }[] = [];
    for (const confirmed of this.confirmedReads) {
      if (confirmed.index > applied) {
        waiting.push(confirmed);
        continue;
      }
      this.respond(confirmed.read, { kind: "value", value: this.state.read(confirmed.read.key) });
    }
    this.confirmedReads = waiting;
  }

  private leadershipChanged(soft: SoftState): void {
    const previous = this.softState;
    this.softState = soft;
    const stillLeading =
      previous !== undefined &&
      previous.role === "leader" &&
      soft.role === "leader" &&
      previous.term === soft.term;
    if (stillLeading) return;
    for (const [readId, read] of this.reads) {
      this.reads.delete(readId);
      this.respond(read, { kind: "retry", reason: "leadership changed" });
    }
    for (const [index, proposal] of this.proposals) {
      this.proposals.delete(index);
      this.respond(proposal, { kind: "retry", reason: "leadership changed" });
    }
  }

  private maybeCompact(): void {
    const status = this.raft.status();
    if (status.applied - status.snapshotIndex < this.config.snapshotIntervalEntries) return;
    this.raft.compact(status.applied, this.state.encodeSnapshot());
  }
}

function responseOf(result: CommandResult): ServerResponse {
  switch (result.kind) {
    case "sessionOpened":
      return { kind: "sessionOpened", sessionId: result.sessionId };
    case "put":
    case "deleted":
    case "preconditionFailed":
    case "sessionExpired":
      return { kind: "writeResult", result };
  }
}
