/**
 * The vocabulary of Keel's Raft: terms, log indexes, member ids, entries, the persistent hard state,
 * snapshots, membership and the messages members exchange.
 *
 * Invariants shared by every module of the Raft core:
 * - `Term` is a Raft term (never a partition epoch nor a metadata version, see docs/GLOSSARY.md).
 *   Terms start at 0 on a fresh member and only grow.
 * - `LogIndex` counts log entries from 1; index 0 with term 0 is the empty prefix every log agrees on.
 * - A `MemberId` is the plain node id of a metadata-server node; 0 (`NO_MEMBER`) means "nobody".
 * - Messages are plain data. Whoever carries them may drop, delay, duplicate and reorder them.
 */

import type { Brand } from "../../core/index.js";

/** A Raft term. Grows by one per election; every message and entry carries one. */
export type Term = Brand<number, "RaftTerm">;
/** Position of an entry in the Raft log, from 1. */
export type LogIndex = Brand<number, "RaftLogIndex">;
/** A member of the Raft group: the plain id of a metadata-server node (N1 → 1). */
export type MemberId = Brand<number, "RaftMemberId">;

export const Term = (n: number): Term => n as Term;
export const LogIndex = (n: number): LogIndex => n as LogIndex;
export const MemberId = (n: number): MemberId => n as MemberId;

export const NO_MEMBER = MemberId(0);
export const TERM_ZERO = Term(0);
export const INDEX_ZERO = LogIndex(0);

/**
 * What a log entry carries. `command` entries are opaque to Raft (the metadata store's commands);
 * `noop` is what a new leader appends to commit its term; `membership` holds a whole new membership.
 */
export type EntryKind = "command" | "noop" | "membership";

export interface Entry {
  readonly index: LogIndex;
  readonly term: Term;
  readonly kind: EntryKind;
  /** The command bytes, or the encoded membership; empty for a noop. */
  readonly data: Uint8Array;
}

/** What a member must have on disk before it acts on it (votes, acknowledgements). */
export interface HardState {
  readonly term: Term;
  /** Whom this member voted for in `term`; NO_MEMBER when it did not vote. */
  readonly vote: MemberId;
  /** Highest index known committed; persisted so a restart can apply without waiting. */
  readonly commit: LogIndex;
}

export const EMPTY_HARD_STATE: HardState = { term: TERM_ZERO, vote: NO_MEMBER, commit: INDEX_ZERO };

export function hardStatesEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/**
 * The members of the group. Voters elect leaders and form quorums; learners only receive the log
 * (a new member catches up as a learner before it is promoted). `addresses` is opaque to Raft: the
 * transport uses it to reach members.
 */
export interface Membership {
  readonly voters: readonly MemberId[];
  readonly learners: readonly MemberId[];
  readonly addresses: Readonly<Record<number, string>>;
}

export const EMPTY_MEMBERSHIP: Membership = { voters: [], learners: [], addresses: {} };

/** The state machine's image at `index`, with the membership in force there. */
export interface Snapshot {
  readonly index: LogIndex;
  readonly term: Term;
  readonly membership: Membership;
  readonly data: Uint8Array;
}

export const EMPTY_SNAPSHOT: Snapshot = {
  index: INDEX_ZERO,
  term: TERM_ZERO,
  membership: EMPTY_MEMBERSHIP,
  data: new Uint8Array(0),
};

interface MessageBase {
  readonly from: MemberId;
  readonly to: MemberId;
  readonly term: Term;
}

/**
 * Pre-vote: "would you vote for me in `term` (= my term + 1)?" The sender does not change its term,
 * so a member that cannot win (partitioned, behind) never disrupts the group by raising terms.
 */
export interface PreVoteMessage extends MessageBase {
  readonly kind: "preVote";
  readonly lastIndex: LogIndex;
  readonly lastTerm: Term;
}

export interface PreVoteResponse extends MessageBase {
  readonly kind: "preVoteResponse";
  readonly granted: boolean;
}

export interface VoteMessage extends MessageBase {
  readonly kind: "vote";
  readonly lastIndex: LogIndex;
  readonly lastTerm: Term;
  /** Set when a leadership transfer asked for this election: voters then ignore their lease. */
  readonly transfer: boolean;
}

export interface VoteResponse extends MessageBase {
  readonly kind: "voteResponse";
  readonly granted: boolean;
}

export interface AppendMessage extends MessageBase {
  readonly kind: "append";
  readonly prevIndex: LogIndex;
  readonly prevTerm: Term;
  readonly entries: readonly Entry[];
  readonly commit: LogIndex;
}

export interface AppendResponse extends MessageBase {
  readonly kind: "appendResponse";
  readonly success: boolean;
  /** On success: the highest index now known to match the leader. On failure: the rejected prevIndex. */
  readonly index: LogIndex;
  /** On failure: the follower's last index, so the leader can skip back quickly. */
  readonly hintIndex: LogIndex;
}

export interface HeartbeatMessage extends MessageBase {
  readonly kind: "heartbeat";
  /** min(leader commit, follower match): never beyond what the follower is known to hold. */
  readonly commit: LogIndex;
  /** The leader's latest read-index round; echoed back to confirm leadership for reads. */
  readonly readRound: number;
}

export interface HeartbeatResponse extends MessageBase {
  readonly kind: "heartbeatResponse";
  readonly readRound: number;
}

export interface SnapshotMessage extends MessageBase {
  readonly kind: "snapshot";
  readonly snapshot: Snapshot;
}

/** Leadership transfer: "campaign now, without pre-vote and ignoring leases". */
export interface TimeoutNowMessage extends MessageBase {
  readonly kind: "timeoutNow";
}

export type RaftMessage =
  | PreVoteMessage
  | PreVoteResponse
  | VoteMessage
  | VoteResponse
  | AppendMessage
  | AppendResponse
  | HeartbeatMessage
  | HeartbeatResponse
  | SnapshotMessage
  | TimeoutNowMessage;

export type RaftMessageKind = RaftMessage["kind"];

export type Role = "follower" | "preCandidate" | "candidate" | "leader";
