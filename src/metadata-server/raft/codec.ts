/**
 * Binary encodings of the Raft vocabulary: entries, memberships, snapshots, hard states and messages.
 * The same bytes go to disk (src/metadata-server/raft/storage_format.ts) and over the network, so the layout
 * is versioned: every top-level encoding starts with a format tag and decoders refuse others.
 *
 * Numbers are unsigned varints and must be safe integers; byte strings and text are length-prefixed.
 * Decoding never trusts its input: a malformed buffer raises DecodeError, never an assertion, because
 * bytes from a peer or a damaged file are an expected outcome, not a bug.
 */

import { assertNever } from "../../core/index.js";
import { ByteReader, ByteWriter, DecodeError } from "../../wire/index.js";
import {
  LogIndex,
  MemberId,
  Term,
  type Entry,
  type EntryKind,
  type HardState,
  type Membership,
  type RaftMessage,
  type Snapshot,
} from "./types.js";

/** 2: fixed-width big-endian numbers (Keel's one codec); 1 used protobuf varints. */
export const RAFT_CODEC_FORMAT = 2;

const ENTRY_KINDS: readonly EntryKind[] = ["command", "noop", "membership"];

export function writeEntry(out: ByteWriter, entry: Entry): void {
  out.u53(entry.index).u53(entry.term).u53(ENTRY_KINDS.indexOf(entry.kind));
  out.bytes(entry.data);
}

export function readEntry(input: ByteReader): Entry {
  const index = LogIndex(input.u53());
  const term = Term(input.u53());
  const kind = ENTRY_KINDS[input.u53()];
  if (kind === undefined) throw new DecodeError("entry: unknown kind");
  return { index, term, kind, data: input.bytes() };
}

export function writeMembership(out: ByteWriter, membership: Membership): void {
  out.count(membership.voters.length);
  for (const voter of membership.voters) out.u53(voter);
  out.count(membership.learners.length);
  for (const learner of membership.learners) out.u53(learner);
  const addresses = Object.entries(membership.addresses);
  out.count(addresses.length);
  for (const [member, address] of addresses) out.u53(Number(member)).string(address);
}

export function readMembership(input: ByteReader): Membership {
  const voters: MemberId[] = [];
  for (let n = input.count(); n > 0; n--) voters.push(MemberId(input.u53()));
  const learners: MemberId[] = [];
  for (let n = input.count(); n > 0; n--) learners.push(MemberId(input.u53()));
  const addresses: Record<number, string> = {};
  for (let n = input.count(); n > 0; n--) addresses[input.u53()] = input.string();
  return { voters, learners, addresses };
}

export function encodeMembership(membership: Membership): Uint8Array {
  const out = new ByteWriter().u32(RAFT_CODEC_FORMAT);
  writeMembership(out, membership);
  return out.finish();
}

export function decodeMembership(bytes: Uint8Array): Membership {
  const input = new ByteReader(bytes, "membership");
  input.version(RAFT_CODEC_FORMAT);
  const membership = readMembership(input);
  input.end();
  return membership;
}

export function writeSnapshot(out: ByteWriter, snapshot: Snapshot): void {
  out.u53(snapshot.index).u53(snapshot.term);
  writeMembership(out, snapshot.membership);
  out.bytes(snapshot.data);
}

export function readSnapshot(input: ByteReader): Snapshot {
  const index = LogIndex(input.u53());
  const term = Term(input.u53());
  const membership = readMembership(input);
  return { index, term, membership, data: input.bytes() };
}

export function writeHardState(out: ByteWriter, state: HardState): void {
  out.u53(state.term).u53(state.vote).u53(state.commit);
}

export function readHardState(input: ByteReader): HardState {
  return {
    term: Term(input.u53()),
    vote: MemberId(input.u53()),
    commit: LogIndex(input.u53()),
  };
}

const MESSAGE_KINDS: readonly RaftMessage["kind"][] = [
  "preVote",
  "preVoteResponse",
  "vote",
  "voteResponse",
  "append",
  "appendResponse",
  "heartbeat",
  "heartbeatResponse",
  "snapshot",
  "timeoutNow",
];

export function writeRaftMessage(out: ByteWriter, message: RaftMessage): void {
  out.u53(MESSAGE_KINDS.indexOf(message.kind));
  out.u53(message.from).u53(message.to).u53(message.term);
  switch (message.kind) {
    case "preVote":
      out.u53(message.lastIndex).u53(message.lastTerm);
      return;
    case "vote":
      out.u53(message.lastIndex).u53(message.lastTerm).bool(message.transfer);
      return;
    case "preVoteResponse":
    case "voteResponse":
      out.bool(message.granted);
      return;
    case "append":
      out.u53(message.prevIndex).u53(message.prevTerm).u53(message.commit);
      out.count(message.entries.length);
      for (const entry of message.entries) writeEntry(out, entry);
      return;
    case "appendResponse":
      out.bool(message.success).u53(message.index).u53(message.hintIndex);
      return;
    case "heartbeat":
      out.u53(message.commit).u53(message.readRound);
      return;
    case "heartbeatResponse":
      out.u53(message.readRound);
      return;
    case "snapshot":
      writeSnapshot(out, message.snapshot);
      return;
    case "timeoutNow":
      return;
    default:
      assertNever(message, "raft message");
  }
}

export function readRaftMessage(input: ByteReader): RaftMessage {
  const kind = MESSAGE_KINDS[input.u53()];
  if (kind === undefined) throw new DecodeError("raft message: unknown kind");
  const from = MemberId(input.u53());
  const to = MemberId(input.u53());
  const term = Term(input.u53());
  const base = { from, to, term };
  switch (kind) {
    case "preVote":
      return { ...base, kind, lastIndex: LogIndex(input.u53()), lastTerm: Term(input.u53()) };
    case "vote": {
      const lastIndex = LogIndex(input.u53());
      const lastTerm = Term(input.u53());
      return { ...base, kind, lastIndex, lastTerm, transfer: input.bool() };
    }
    case "preVoteResponse":
    case "voteResponse":
      return { ...base, kind, granted: input.bool() };
    case "append": {
      const prevIndex = LogIndex(input.u53());
      const prevTerm = Term(input.u53());
      const commit = LogIndex(input.u53());
      const entries: Entry[] = [];
      for (let n = input.count(); n > 0; n--) entries.push(readEntry(input));
      return { ...base, kind, prevIndex, prevTerm, commit, entries };
    }
    case "appendResponse": {
      const success = input.bool();
      const index = LogIndex(input.u53());
      return { ...base, kind, success, index, hintIndex: LogIndex(input.u53()) };
    }
    case "heartbeat":
      return { ...base, kind, commit: LogIndex(input.u53()), readRound: input.u53() };
    case "heartbeatResponse":
      return { ...base, kind, readRound: input.u53() };
    case "snapshot":
      return { ...base, kind, snapshot: readSnapshot(input) };
    case "timeoutNow":
      return { ...base, kind };
  }
}
