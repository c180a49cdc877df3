/**
 * One Raft member as a pure state machine, in the manner of etcd raft. Inputs: `tick()` (logical
 * time), `step(message)`, `propose(data)`, `proposeMembershipChange`, `readIndex`,
 * `transferLeadership`, `compact`. Output: `ready()` hands out what the driver must do, and
 * `advance(ready)` confirms it did. No clocks, sockets or disks here; randomness comes in as a Prng.
 *
 * The driver's duties for each ready, in order:
 * 1. Send `messagesNow` at once (a leader's appends and heartbeats: they do not depend on this
 *    member's disk, and the leader counts itself for commit only once its own entries are durable).
 * 2. Persist `snapshot`, then `entries` (dropping stored entries from entries[0].index on), then
 *    `hardState`, durably (fsync).
 * 3. Then send `messagesAfterPersist` (votes and acknowledgements promise durable state).
 * 4. Restore the state machine from `snapshot` when `restore` is set, apply `committedEntries` in
 *    order, serve `readStates` once the applied index reaches theirs.
 * 5. Call `advance(ready)`. Only one ready is outstanding at a time.
 *
 * The variant: pre-vote (a member first asks whether it could win, without raising its term);
 * check-quorum (a leader that has not heard from a quorum for an election timeout steps down) and
 * the matching leader lease (a member that heard from a leader within the election timeout ignores
 * vote requests, unless a leadership transfer asked for them); a new leader appends a noop to commit
 * its term; entries are committed only by counting replicas of an entry of the leader's own term
 * (Raft §5.4.2); membership changes one server at a time, effective when appended, with at most one
 * uncommitted change and none before the leader committed in its term; linearizable reads by
 * read-index (the commit index, confirmed by a heartbeat round acknowledged by a quorum);
 * leadership transfer by catching the target up and sending it timeoutNow.
 *
 * Why one file of this length: Raft's rules interlock (terms, votes, log matching, commit, read
 * index, membership, transfer) and are checked against each other when read; like etcd's raft.go it
 * stays whole, with its helpers (log, progress, quorum, membership) in files of their own.
 */

import { assert, assertNever, type Prng } from "../../core/index.js";
import { encodeMembership } from "./codec.js";
import { validateRaftConfig, type RaftConfig, type RaftLimits } from "./config.js";
import { RaftLog, type PendingSnapshot } from "./log.js";
import {
  applyMembershipChange,
  assertMembershipValid,
  isMember,
  isVoter,
  membersOf,
  type MembershipChange,
} from "./membership.js";
import { Progress } from "./progress.js";
import { isQuorum, quorumMatchIndex, voteOutcome } from "./quorum.js";
import {
  LogIndex,
  NO_MEMBER,
  Term,
  hardStatesEqual,
  type AppendMessage,
  type AppendResponse,
  type Entry,
  type EntryKind,
  type HardState,
  type HeartbeatMessage,
  type HeartbeatResponse,
  type Membership,
  type MemberId,
  type PreVoteMessage,
  type RaftMessage,
  type Role,
  type Snapshot,
  type SnapshotMessage,
  type VoteMessage,
} from "./types.js";

/** What storage recovered; a fresh member passes EMPTY_HARD_STATE, EMPTY_SNAPSHOT and no entries. */
export interface RaftRecovered {
  readonly hardState: HardState;
  readonly snapshot: Snapshot;
  readonly entries: readonly Entry[];
}

export interface SoftState {
  readonly role: Role;
  readonly leader: MemberId;
  readonly term: Term;
}

/** A read-index request confirmed: it may be served once the applied index reaches `index`. */
export interface ReadState {
  readonly requestId: number;
  readonly index: LogIndex;
}

export interface Ready {
  /** Set when role, leader or term changed since the last ready. */
  readonly softState: SoftState | undefined;
  /** Set when term, vote or commit changed since the last ready; persist it. */
  readonly hardState: HardState | undefined;
  readonly snapshot: PendingSnapshot | undefined;
  /** Entries to persist, replacing stored entries from entries[0].index onwards. */
  readonly entries: readonly Entry[];
  /** Entries to apply, in order, after persisting. */
  readonly committedEntries: readonly Entry[];
  readonly messagesNow: readonly RaftMessage[];
  readonly messagesAfterPersist: readonly RaftMessage[];
  readonly readStates: readonly ReadState[];
}

export type ProposeResult =
  | { readonly kind: "accepted"; readonly index: LogIndex; readonly term: Term }
  | { readonly kind: "notLeader"; readonly leader: MemberId }
  | { readonly kind: "transferring" }
  | { readonly kind: "overloaded" }
  | { readonly kind: "rejected"; readonly reason: string };

export type ReadIndexResult =
  | { readonly kind: "pending" }
  | { readonly kind: "notLeader"; readonly leader: MemberId }
  | { readonly kind: "overloaded" };

export type TransferResult =
  | { readonly kind: "started" }
  | { readonly kind: "notLeader"; readonly leader: MemberId }
  | { readonly kind: "rejected"; readonly reason: string };

export interface RaftStatus {
  readonly id: MemberId;
  readonly role: Role;
  readonly term: Term;
  readonly vote: MemberId;
  readonly leader: MemberId;
  readonly commit: LogIndex;
  readonly applied: LogIndex;
  readonly persisted: LogIndex;
  readonly lastIndex: LogIndex;
  readonly lastTerm: Term;
  readonly snapshotIndex: LogIndex;
  readonly membership: Membership;
  readonly transferee: MemberId;
  /** Leader only: each follower's match index. */
  readonly matchIndexes: ReadonlyMap<MemberId, LogIndex>;
  /** Elections this member started (as a candidate, after a won pre-vote) since it was created. */
  readonly electionsStarted: number;
  /** Elections this member won (it became leader) since it was created. */
  readonly electionsWon: number;
}

interface PendingRead {
  readonly requestId: number;
  readonly index: LogIndex;
  readonly round: number;
  readonly acks: Set<MemberId>;
}

type CampaignKind = "preVote" | "election" | "transfer";

/** Messages a leader may send before its own disk has caught up. */
const SEND_NOW_KINDS: ReadonlySet<RaftMessage["kind"]> = new Set([
  "append",
  "heartbeat",
  "snapshot",
  "timeoutNow",
]);

export class Raft {
  readonly id: MemberId;
  private readonly limits: RaftLimits;
  private readonly log: RaftLog;
  private term: Term;
  private vote: MemberId;
  private role: Role = "follower";
  private leader: MemberId = NO_MEMBER;
  private electionsStarted = 0;
  private electionsWon = 0;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;

  private readonly votes = new Map<MemberId, boolean>();
  private progress = new Map<MemberId, Progress>();
  /** Leader: index of its latest membership entry; no new change until it is committed. */
  private pendingMembershipIndex = LogIndex(0);
  private transferee: MemberId = NO_MEMBER;
  private transferElapsed = 0;
  /** Leader: appends to flush at the next ready; "withCommit" also sends empty ones. */
  private appendFlush: "none" | "entries" | "withCommit" = "none";
  private heartbeatFlush = false;

  /**
   * Read-index rounds: reads join the current round only until its heartbeats have been sent, so
   * an acknowledgement of round r always answers a heartbeat sent after every read of round r
   * arrived (an older heartbeat cannot vouch for a newer read).
   */
  private readRound = 0;
  private readRoundSent = true;
  private pendingReads: PendingRead[] = [];
  /** Reads that arrived before this leader committed an entry of its term. */
  private readsAwaitingTermCommit: number[] = [];
  private readStates: ReadState[] = [];

  private messagesNow: RaftMessage[] = [];
  private messagesAfterPersist: RaftMessage[] = [];
  private lastSoftState: SoftState;
  private lastHardState: HardState;
  private outstanding: Ready | undefined;

  constructor(
    private readonly config: RaftConfig,
    recovered: RaftRecovered,
    private readonly prng: Prng,
  ) {
    validateRaftConfig(config);
    this.id = config.id;
    this.limits = config.limits;
    this.log = new RaftLog(recovered.snapshot, recovered.entries, recovered.hardState.commit);
    assert(
      recovered.hardState.term >= this.log.lastTerm(),
      `recovered term ${recovered.hardState.term} is below the last entry's term ${this.log.lastTerm()}`,
    );
    this.term = recovered.hardState.term;
    this.vote = recovered.hardState.vote;
    assertMembershipValid(this.log.membership());
    this.lastHardState = this.hardState();
    this.lastSoftState = this.softState();
    this.resetElectionTimer();
  }

  // ---- inputs ----

  /** One unit of logical time. */
  tick(): void {
    if (this.role === "leader") this.tickLeader();
    else this.tickElection();
  }

  /** Starts an election now (tests and operators); goes through pre-vote like a timeout would. */
  campaign(): void {
    this.startCampaign("preVote");
  }

  step(message: RaftMessage): void {
    assert(message.to === this.id, `message for ${message.to} delivered to ${this.id}`);
    assert(message.from !== this.id, `member ${this.id} received a message from itself`);
    if (!this.stepTerm(message)) return;
    switch (message.kind) {
      case "preVote":
      case "vote":
        this.handleVoteRequest(message);
        return;
      case "preVoteResponse":
        if (this.role === "preCandidate") this.tallyVote(message.from, message.granted);
        return;
      case "voteResponse":
        if (this.role === "candidate") this.tallyVote(message.from, message.granted);
        return;
      case "append":
      case "heartbeat":
      case "snapshot":
        this.stepFromLeader(message);
        return;
      case "appendResponse":
        if (this.role === "leader") this.handleAppendResponse(message);
        return;
      case "heartbeatResponse":
        if (this.role === "leader") this.handleHeartbeatResponse(message);
        return;
      case "timeoutNow":
        if (this.role !== "leader") this.startCampaign("transfer");
        return;
      default:
        assertNever(message, "raft message");
    }
  }

  propose(data: Uint8Array): ProposeResult {
    const refusal = this.proposalRefusal();
    if (refusal !== undefined) return refusal;
    return this.appendAsLeader("command", data);
  }

  proposeMembershipChange(change: MembershipChange): ProposeResult {
    const refusal = this.proposalRefusal();
    if (refusal !== undefined) return refusal;
    // Single-server changes are safe only one at a time, and only once this leader committed an
    // entry of its own term (otherwise an older leader's uncommitted change could still win).
    if (this.pendingMembershipIndex > this.log.committed) {
      return { kind: "rejected", reason: "a membership change is still uncommitted" };
    }
    if (!this.committedInCurrentTerm()) {
      return { kind: "rejected", reason: "the leader has not committed an entry of its term yet" };
    }
    const changed = applyMembershipChange(this.log.membership(), change);
    if (!changed.ok) return { kind: "rejected", reason: changed.reason };
    assertMembershipValid(changed.membership);
    const result = this.appendAsLeader("membership", encodeMembership(changed.membership));
    assert(result.kind === "accepted", "a leader accepts its own membership entry");
    this.pendingMembershipIndex = result.index;
    this.syncProgressWithMembership();
    return result;
  }

  /** Asks for a linearizable read point; the answer comes as a ReadState in a later ready. */
  readIndex(requestId: number): ReadIndexResult {
    if (this.role !== "leader") return { kind: "notLeader", leader: this.leader };
    if (
      this.pendingReads.length + this.readsAwaitingTermCommit.length >=
      this.limits.readsPendingMax
    ) {
      return { kind: "overloaded" };
    }
    // The commit index is a safe read point only once this leader committed in its own term:
    // before that, entries of earlier terms may be committed without the leader knowing it.
    if (!this.committedInCurrentTerm()) this.readsAwaitingTermCommit.push(requestId);
    else this.startRead(requestId);
    return { kind: "pending" };
  }

  transferLeadership(target: MemberId): TransferResult {
    if (this.role !== "leader") return { kind: "notLeader", leader: this.leader };
    if (target === this.id) return { kind: "rejected", reason: "already the leader" };
    if (!isVoter(this.log.membership(), target)) {
      return { kind: "rejected", reason: `member ${target} is not a voter` };
    }
    this.transferee = target;
    this.transferElapsed = 0;
    this.sendTimeoutNowIfCaughtUp(target);
    return { kind: "started" };
  }

  /** Replaces the applied prefix up to `index` with a snapshot of the state machine (`data`). */
  compact(index: LogIndex, data: Uint8Array): void {
    this.log.compact(index, data);
  }

  // ---- outputs ----

  hasReady(): boolean {
    if (this.outstanding !== undefined) return false;
    return (
      this.appendFlush !== "none" ||
      this.heartbeatFlush ||
      this.messagesNow.length > 0 ||
      this.messagesAfterPersist.length > 0 ||
      this.readStates.length > 0 ||
      this.log.pendingSnapshot !== undefined ||
      this.log.lastIndex() > this.log.handedOut ||
      this.log.committed > this.log.appliedHandedOut ||
      !hardStatesEqual(this.hardState(), this.lastHardState) ||
      !softStatesEqual(this.softState(), this.lastSoftState)
    );
  }

  ready(): Ready {
    assert(
      this.outstanding === undefined,
      "advance() the previous ready before asking for another",
    );
    this.flush();
    const soft = this.softState();
    const hard = this.hardState();
    const committedEntries = this.log.unhandedCommitted(this.limits.applyEntriesPerReadyMax);
    const ready: Ready = {
      softState: softStatesEqual(soft, this.lastSoftState) ? undefined : soft,
      hardState: hardStatesEqual(hard, this.lastHardState) ? undefined : hard,
      snapshot: this.log.pendingSnapshot,
      entries: this.log.unhandedEntries(),
      committedEntries,
      messagesNow: this.messagesNow,
      messagesAfterPersist: this.messagesAfterPersist,
      readStates: this.readStates,
    };
    this.lastSoftState = soft;
    this.lastHardState = hard;
    this.log.pendingSnapshot = undefined;
    this.log.handedOut = this.log.lastIndex();
    const lastCommitted = committedEntries.at(-1);
    if (lastCommitted !== undefined) this.log.appliedHandedOut = lastCommitted.index;
    this.messagesNow = [];
    this.messagesAfterPersist = [];
    this.readStates = [];
    this.outstanding = ready;
    return ready;
  }

  advance(ready: Ready): void {
    assert(this.outstanding === ready, "advance() takes the outstanding ready");
    this.outstanding = undefined;
    if (ready.snapshot !== undefined) {
      this.log.snapshotPersisted(ready.snapshot.snapshot);
      if (ready.snapshot.restore) this.log.appliedTo(ready.snapshot.snapshot.index);
    }
    const lastEntry = ready.entries.at(-1);
    if (lastEntry !== undefined) this.log.persistedTo(lastEntry.index, lastEntry.term);
    const lastApplied = ready.committedEntries.at(-1);
    if (lastApplied !== undefined) this.log.appliedTo(lastApplied.index);
    // A leader's own entries count towards commit only once durable, which is now.
    if (this.role === "leader") this.maybeCommit();
  }

  status(): RaftStatus {
    const matchIndexes = new Map<MemberId, LogIndex>();
    for (const [member, progress] of this.progress) matchIndexes.set(member, progress.match);
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leader: this.leader,
      commit: this.log.committed,
      applied: this.log.applied,
      persisted: this.log.persisted,
      lastIndex: this.log.lastIndex(),
      lastTerm: this.log.lastTerm(),
      snapshotIndex: this.log.snapshotIndex(),
      membership: this.log.membership(),
      transferee: this.transferee,
      matchIndexes,
      electionsStarted: this.electionsStarted,
      electionsWon: this.electionsWon,
    };
  }

  /** The term of the entry at `index` in this member's log; undefined if compacted or absent. */
  termAt(index: LogIndex): Term | undefined {
    return this.log.term(index);
  }

  // ---- time ----

  private tickElection(): void {
    this.electionElapsed++;
    if (this.isPromotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.startCampaign("preVote");
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.limits.electionTimeoutTicks) {
      this.electionElapsed = 0;
      if (!this.quorumRecentlyActive()) {
        this.becomeFollower(this.term, NO_MEMBER);
        return;
      }
    }
    if (this.transferee !== NO_MEMBER) {
      this.transferElapsed++;
      if (this.transferElapsed >= this.limits.electionTimeoutTicks) this.transferee = NO_MEMBER;
    }
    for (const [member, progress] of this.progress) {
      if (progress.state !== "snapshot") continue;
      // A snapshot lost on the way is sent again after an election timeout without an answer.
      progress.snapshotTicks++;
      if (progress.snapshotTicks >= this.limits.electionTimeoutTicks) {
        progress.becomeProbe();
        this.sendAppend(member, true);
      }
    }
    if (this.heartbeatElapsed >= this.limits.heartbeatIntervalTicks) {
      this.heartbeatElapsed = 0;
      this.heartbeatFlush = true;
    }
  }

  /** Check-quorum: did a quorum of voters (counting this leader) answer since the last round? */
  private quorumRecentlyActive(): boolean {
    const active = new Set<MemberId>([this.id]);
    for (const [member, progress] of this.progress) {
      if (progress.recentlyActive) active.add(member);
      progress.recentlyActive = false;
    }
    return isQuorum(this.log.membership().voters, active);
  }

  private resetElectionTimer(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    const base = this.limits.electionTimeoutTicks;
    this.randomizedElectionTimeout = base + this.prng.nextInt(base);
  }

  // ---- roles ----

  private isPromotable(): boolean {
    return isVoter(this.log.membership(), this.id);
  }

  private becomeFollower(term: Term, leader: MemberId): void {
    assert(term >= this.term, `term ${term} would go back from ${this.term}`);
    if (term > this.term) {
      this.term = term;
      this.vote = NO_MEMBER;
    }
    this.role = "follower";
    this.leader = leader;
    this.resetRoleState();
  }

  private becomePreCandidate(): void {
    assert(this.role !== "leader", "a leader does not pre-campaign");
    this.role = "preCandidate";
    this.leader = NO_MEMBER;
    this.votes.clear();
  }

  private becomeCandidate(): void {
    assert(this.role !== "leader", "a leader does not campaign");
    this.term = Term(this.term + 1);
    this.vote = this.id;
    this.role = "candidate";
    this.electionsStarted++;
    this.leader = NO_MEMBER;
    this.resetRoleState();
  }

  private becomeLeader(): void {
    assert(this.role === "candidate", `only a candidate becomes leader, not a ${this.role}`);
    assert(this.vote === this.id, "a leader voted for itself");
    this.role = "leader";
    this.leader = this.id;
    this.electionsWon++;
    this.resetRoleState();
    this.progress = new Map();
    this.syncProgressWithMembership();
    // Block membership changes until everything in the log so far is committed.
    this.pendingMembershipIndex = this.log.lastIndex();
    if (this.config.testOnlyFaults?.skipElectionNoop === true) {
      this.appendFlush = "entries";
      return;
    }
    this.appendAsLeader("noop", new Uint8Array(0));
  }

  /** Clears what belongs to one role in one term: timers, votes, transfers, reads. */
  private resetRoleState(): void {
    this.resetElectionTimer();
    this.votes.clear();
    this.transferee = NO_MEMBER;
    this.transferElapsed = 0;
    this.pendingReads = [];
    this.readsAwaitingTermCommit = [];
    this.appendFlush = "none";
    this.heartbeatFlush = false;
  }

  private startCampaign(kind: CampaignKind): void {
    if (!this.isPromotable() || this.role === "leader") return;
    if (kind === "preVote") this.becomePreCandidate();
    else this.becomeCandidate();
    const electionTerm = kind === "preVote" ? Term(this.term + 1) : this.term;
    if (this.tallyVote(this.id, true)) return;
    for (const voter of this.log.membership().voters) {
      if (voter === this.id) continue;
      const base = {
        from: this.id,
        to: voter,
        term: electionTerm,
        lastIndex: this.log.lastIndex(),
        lastTerm: this.log.lastTerm(),
      };
      if (kind === "preVote") this.send({ ...base, kind: "preVote" });
      else this.send({ ...base, kind: "vote", transfer: kind === "transfer" });
    }
  }

  /** Records a vote and acts on the outcome; returns true when the election is decided. */
  private tallyVote(from: MemberId, granted: boolean): boolean {
    this.votes.set(from, granted);
    const outcome = voteOutcome(this.log.membership().voters, this.votes);
    switch (outcome) {
      case "pending":
        return false;
      case "lost":
        this.becomeFollower(this.term, NO_MEMBER);
        return true;
      case "won":
        if (this.role === "preCandidate") this.startCampaign("election");
        else this.becomeLeader();
        return true;
    }
  }

  // ---- stepping ----

  /** Applies the term rules common to all messages; returns false when the message is dropped. */
  private stepTerm(message: RaftMessage): boolean {
    if (message.term > this.term) {
      if (message.kind === "preVote" || message.kind === "vote") {
        const transfer = message.kind === "vote" && message.transfer;
        const inLease =
          this.leader !== NO_MEMBER && this.electionElapsed < this.limits.electionTimeoutTicks;
        // The leader lease: while we hear from a leader, a vote request is a disruption, not news.
        if (inLease && !transfer) return false;
      }
      // A pre-vote and a granted pre-vote answer carry a future term: they do not move ours.
      const futureTerm =
        message.kind === "preVote" || (message.kind === "preVoteResponse" && message.granted);
      if (!futureTerm) {
        const fromLeader =
          message.kind === "append" || message.kind === "heartbeat" || message.kind === "snapshot";
        this.becomeFollower(message.term, fromLeader ? message.from : NO_MEMBER);
      }
      return true;
    }
    if (message.term < this.term) {
      if (message.kind === "append" || message.kind === "heartbeat") {
        // Tell a stale leader about the new term, so it steps down (it cannot learn otherwise
        // when pre-vote and leases keep newer members from asking it for votes).
        this.send({
          kind: "appendResponse",
          from: this.id,
          to: message.from,
          term: this.term,
          success: false,
          index: LogIndex(0),
          hintIndex: LogIndex(0),
        });
      } else if (message.kind === "preVote") {
        this.send({
          kind: "preVoteResponse",
          from: this.id,
          to: message.from,
          term: this.term,
          granted: false,
        });
      }
      return false;
    }
    return true;
  }

  private handleVoteRequest(message: PreVoteMessage | VoteMessage): void {
    const isPreVote = message.kind === "preVote";
    const canVote =
      this.vote === message.from ||
      (this.vote === NO_MEMBER && this.leader === NO_MEMBER) ||
      (isPreVote && message.term > this.term);
    const granted = canVote && this.log.isUpToDate(message.lastIndex, message.lastTerm);
    if (granted && !isPreVote) {
      this.vote = message.from;
      this.electionElapsed = 0;
    }
    this.send({
      kind: isPreVote ? "preVoteResponse" : "voteResponse",
      from: this.id,
      to: message.from,
      term: granted ? message.term : this.term,
      granted,
    });
  }

  private stepFromLeader(message: AppendMessage | HeartbeatMessage | SnapshotMessage): void {
    assert(
      this.role !== "leader",
      `two leaders in term ${this.term}: ${this.id} and ${message.from}`,
    );
    if (this.role !== "follower") this.becomeFollower(this.term, message.from);
    this.leader = message.from;
    this.electionElapsed = 0;
    switch (message.kind) {
      case "append":
        this.handleAppend(message);
        return;
      case "heartbeat":
        this.log.commitTo(message.commit);
        this.send({
          kind: "heartbeatResponse",
          from: this.id,
          to: message.from,
          term: this.term,
          readRound: message.readRound,
        });
        return;
      case "snapshot":
        this.handleSnapshot(message);
        return;
    }
  }

  private handleAppend(message: AppendMessage): void {
    const respond = (success: boolean, index: LogIndex, hintIndex: LogIndex): void =>
      this.send({
        kind: "appendResponse",
        from: this.id,
        to: message.from,
        term: this.term,
        success,
        index,
        hintIndex,
      });
    if (message.prevIndex < this.log.committed) {
      respond(true, this.log.committed, LogIndex(0));
      return;
    }
    const outcome = this.log.maybeAppend(
      message.prevIndex,
      message.prevTerm,
      message.commit,
      message.entries,
    );
    if (outcome.ok) respond(true, outcome.lastNewIndex, LogIndex(0));
    else {
      const hint = LogIndex(Math.min(message.prevIndex, this.log.lastIndex()));
      respond(false, message.prevIndex, hint);
    }
  }

  private handleSnapshot(message: SnapshotMessage): void {
    const snapshot = message.snapshot;
    let index: LogIndex;
    if (snapshot.index <= this.log.committed) {
      index = this.log.committed;
    } else if (this.log.matchTerm(snapshot.index, snapshot.term)) {
      // We hold the snapshot's last entry: our log already contains its prefix.
      this.log.commitTo(snapshot.index);
      index = this.log.committed;
    } else {
      assertMembershipValid(snapshot.membership);
      this.log.restore(snapshot);
      index = snapshot.index;
    }
    this.send({
      kind: "appendResponse",
      from: this.id,
      to: message.from,
      term: this.term,
      success: true,
      index,
      hintIndex: LogIndex(0),
    });
  }

  private handleAppendResponse(message: AppendResponse): void {
    const progress = this.progress.get(message.from);
    if (progress === undefined) return;
    progress.recentlyActive = true;
    if (!message.success) {
      if (progress.maybeDecrease(message.index, message.hintIndex)) {
        this.sendAppend(message.from, true);
      }
      return;
    }
    if (!progress.maybeUpdate(message.index)) return;
    if (progress.state === "probe") progress.becomeReplicate();
    else if (progress.state === "snapshot" && progress.match >= progress.snapshotIndex) {
      progress.becomeProbe();
      progress.becomeReplicate();
    }
    this.maybeCommit();
    while (this.sendAppend(message.from, false)) {
      // Keep streaming while the window allows and entries remain.
    }
    if (message.from === this.transferee) this.sendTimeoutNowIfCaughtUp(message.from);
  }

  private handleHeartbeatResponse(message: HeartbeatResponse): void {
    const progress = this.progress.get(message.from);
    if (progress === undefined) return;
    progress.recentlyActive = true;
    progress.probeSent = false;
    // An append lost on the way would keep a full window full forever; free one slot per heartbeat.
    if (progress.state === "replicate" && progress.isPaused(this.limits.appendsInFlightMax)) {
      progress.inFlight.shift();
    }
    if (progress.match < this.log.lastIndex()) this.sendAppend(message.from, true);
    this.acknowledgeReads(message.from, message.readRound);
  }

  // ---- the leader's work ----

  private proposalRefusal(): ProposeResult | undefined {
    if (this.role !== "leader") return { kind: "notLeader", leader: this.leader };
    if (this.transferee !== NO_MEMBER) return { kind: "transferring" };
    if (this.log.lastIndex() - this.log.committed >= this.limits.uncommittedEntriesMax) {
      return { kind: "overloaded" };
    }
    return undefined;
  }

  private appendAsLeader(kind: EntryKind, data: Uint8Array): ProposeResult {
    assert(this.role === "leader", "only a leader appends to its own log");
    const index = LogIndex(this.log.lastIndex() + 1);
    this.log.append([{ index, term: this.term, kind, data }]);
    if (this.appendFlush === "none") this.appendFlush = "entries";
    // A group of one commits as soon as the entry is durable (see advance()).
    return { kind: "accepted", index, term: this.term };
  }

  private committedInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  /** Keeps one Progress per member other than this leader, after a membership change. */
  private syncProgressWithMembership(): void {
    const members = new Set(membersOf(this.log.membership()));
    for (const member of [...this.progress.keys()]) {
      if (!members.has(member)) this.progress.delete(member);
    }
    for (const member of members) {
      if (member === this.id || this.progress.has(member)) continue;
      const progress = new Progress(LogIndex(this.log.lastIndex() + 1));
      // A member we have not heard from yet counts as active for the first check-quorum round.
      progress.recentlyActive = true;
      this.progress.set(member, progress);
    }
  }

  private matchOf(member: MemberId): LogIndex {
    if (member === this.id) return this.log.persisted;
    return this.progress.get(member)?.match ?? LogIndex(0);
  }

  /** Advances the commit index and tells the followers; true when it moved. */
  private maybeCommit(): boolean {
    const membership = this.log.membership();
    const candidate = quorumMatchIndex(membership.voters, (m) => this.matchOf(m));
    if (candidate <= this.log.committed) return false;
    // Raft §5.4.2: only an entry of the current term is committed by counting replicas; earlier
    // entries are committed with it. The test-only fault skips this rule (Figure 8).
    const countEarlierTerms = this.config.testOnlyFaults?.commitEarlierTermsByCounting === true;
    if (!countEarlierTerms && this.log.term(candidate) !== this.term) return false;
    const firstCommitInTerm = !this.committedInCurrentTerm();
    this.log.commitTo(candidate);
    if (firstCommitInTerm && this.committedInCurrentTerm()) {
      const waiting = this.readsAwaitingTermCommit;
      this.readsAwaitingTermCommit = [];
      for (const requestId of waiting) this.startRead(requestId);
    }
    // A leader that committed its own removal hands over by stepping down.
    if (!isMember(membership, this.id) && this.log.lastMembershipIndex() <= this.log.committed) {
      this.becomeFollower(this.term, NO_MEMBER);
      return true;
    }
    this.appendFlush = "withCommit";
    return true;
  }

  /** Sends one append (or a snapshot) to `to`; returns true when something was sent. */
  private sendAppend(to: MemberId, sendIfEmpty: boolean): boolean {
    const progress = this.progress.get(to);
    if (progress === undefined || progress.isPaused(this.limits.appendsInFlightMax)) return false;
    const prevIndex = LogIndex(progress.next - 1);
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined) return this.sendSnapshot(to, progress);
    const last = this.log.lastIndex();
    const entries =
      progress.next <= last
        ? this.log.slice(
            progress.next,
            last,
            this.limits.appendEntriesPerMessageMax,
            this.limits.appendBytesPerMessageMax,
          )
        : [];
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({
      kind: "append",
      from: this.id,
      to,
      term: this.term,
      prevIndex,
      prevTerm,
      entries,
      commit: this.log.committed,
    });
    progress.sentAppend(entries.at(-1)?.index ?? prevIndex, entries.length);
    return true;
  }

  private sendSnapshot(to: MemberId, progress: Progress): boolean {
    const snapshot = this.log.currentSnapshot();
    assert(snapshot.index > 0, "entries are missing only below a real snapshot");
    progress.becomeSnapshot(snapshot.index);
    this.send({ kind: "snapshot", from: this.id, to, term: this.term, snapshot });
    return true;
  }

  private sendTimeoutNowIfCaughtUp(target: MemberId): void {
    const progress = this.progress.get(target);
    if (progress === undefined) return;
    if (progress.match === this.log.lastIndex()) {
      this.send({ kind: "timeoutNow", from: this.id, to: target, term: this.term });
    } else {
      this.sendAppend(target, true);
    }
  }

  private startRead(requestId: number): void {
    const membership = this.log.membership();
    const selfVotes = isVoter(membership, this.id);
    if (selfVotes && membership.voters.length === 1) {
      this.readStates.push({ requestId, index: this.log.committed });
      return;
    }
    // Reads arriving before the next heartbeats leave share one round.
    if (this.readRoundSent) {
      this.readRound++;
      this.readRoundSent = false;
    }
    this.heartbeatFlush = true;
    this.pendingReads.push({
      requestId,
      index: this.log.committed,
      round: this.readRound,
      acks: new Set(selfVotes ? [this.id] : []),
    });
  }

  private acknowledgeReads(from: MemberId, round: number): void {
    const voters = this.log.membership().voters;
    let confirmedThrough = -1;
    for (let k = 0; k < this.pendingReads.length; k++) {
      const read = this.pendingReads[k]!;
      if (read.round > round) break;
      read.acks.add(from);
      if (isQuorum(voters, read.acks)) confirmedThrough = k;
    }
    // A quorum confirming a later round confirms every earlier read too.
    for (const read of this.pendingReads.splice(0, confirmedThrough + 1)) {
      this.readStates.push({ requestId: read.requestId, index: read.index });
    }
  }

  /** Turns the leader's pending flushes into messages (called by ready()). */
  private flush(): void {
    if (this.role !== "leader") {
      this.appendFlush = "none";
      this.heartbeatFlush = false;
      return;
    }
    if (this.appendFlush !== "none") {
      const sendIfEmpty = this.appendFlush === "withCommit";
      for (const member of this.progress.keys()) this.sendAppend(member, sendIfEmpty);
      this.appendFlush = "none";
    }
    if (this.heartbeatFlush) {
      for (const [member, progress] of this.progress) {
        this.send({
          kind: "heartbeat",
          from: this.id,
          to: member,
          term: this.term,
          commit: LogIndex(Math.min(progress.match, this.log.committed)),
          readRound: this.readRound,
        });
      }
      this.readRoundSent = true;
      this.heartbeatFlush = false;
    }
  }

  private send(message: RaftMessage): void {
    assert(message.from === this.id, "messages leave from this member");
    assert(message.to !== this.id, "a member does not message itself");
    if (SEND_NOW_KINDS.has(message.kind)) this.messagesNow.push(message);
    else this.messagesAfterPersist.push(message);
  }

  private softState(): SoftState {
    return { role: this.role, leader: this.leader, term: this.term };
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }
}

function softStatesEqual(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leader === b.leader && a.term === b.term;
}
