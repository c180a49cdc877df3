/**
 * Binary encodings of the Raft vocabulary: entries, memberships, snapshots, hard states and messages.
 * The same bytes go to disk (src/metadata-server/raft/storage_format.ts) and over the network, so the layout
 * is versioned: every top-level encoding starts with a format byte and decoders refuse others.
 *
 * Numbers are unsigned varints and must be safe integers; byte strings and text are length-prefixed.
 * Decoding never trusts its input: a malformed buffer raises CodecError, never an assertion, because
 * bytes from a peer or a damaged file are an expected outcome, not a bug.
 */

import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { assert, assertNever, KeelError } from "../../core/index.js";
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

export const RAFT_CODEC_FORMAT = 1;

export class CodecError extends KeelError {
  constructor(what: string, cause?: unknown) {
    super("bad_request", `cannot decode ${what}`, false, { cause });
  }
}

/** A writer of the codec's primitives on top of protobuf's varint writer. */
export class Encoder {
  private readonly writer = new BinaryWriter();

  number(value: number): this {
    assert(Number.isSafeInteger(value) && value >= 0, `encodes non-negative integers: ${value}`);
    this.writer.uint64(value);
    return this;
  }

  flag(value: boolean): this {
    this.writer.bool(value);
    return this;
  }

  bytes(value: Uint8Array): this {
    this.writer.bytes(value);
    return this;
  }

  text(value: string): this {
    this.writer.string(value);
    return this;
  }

  finish(): Uint8Array {
    return this.writer.finish();
  }
}

/** The reading side of Encoder. Every read checks bounds; `done` checks that nothing is left. */
export class Decoder {
  private readonly reader: BinaryReader;

  constructor(
    bytes: Uint8Array,
    private readonly what: string,
  ) {
    this.reader = new BinaryReader(bytes);
  }

  number(): number {
    const value = Number(this.guard(() => this.reader.uint64()));
    if (!Number.isSafeInteger(value)) throw new CodecError(`${this.what}: number out of range`);
    return value;
  }

  flag(): boolean {
    return this.guard(() => this.reader.bool());
  }

  bytes(): Uint8Array {
    return this.guard(() => this.reader.bytes()).slice();
  }

  text(): string {
    return this.guard(() => this.reader.string());
  }

  /** Reads a count and refuses counts that the remaining bytes cannot hold. */
  count(): number {
    const count = this.number();
    if (count > this.reader.len - this.reader.pos) {
      throw new CodecError(`${this.what}: count ${count} exceeds the remaining bytes`);
    }
    return count;
  }

  done(): void {
    if (this.reader.pos !== this.reader.len) {
      throw new CodecError(`${this.what}: ${this.reader.len - this.reader.pos} trailing bytes`);
    }
  }

  format(expected: number): void {
    const found = this.number();
    if (found !== expected) {
      throw new CodecError(`${this.what}: format ${found}, expected ${expected}`);
    }
  }

  private guard<T>(read: () => T): T {
    try {
      return read();
    } catch (error) {
      if (error instanceof CodecError) throw error;
      throw new CodecError(this.what, error);
    }
  }
}

const ENTRY_KINDS: readonly EntryKind[] = ["command", "noop", "membership"];

export function writeEntry(out: Encoder, entry: Entry): void {
  out.number(entry.index).number(entry.term).number(ENTRY_KINDS.indexOf(entry.kind));
  out.bytes(entry.data);
}

export function readEntry(input: Decoder): Entry {
  const index = LogIndex(input.number());
  const term = Term(input.number());
  const kind = ENTRY_KINDS[input.number()];
  if (kind === undefined) throw new CodecError("entry: unknown kind");
  return { index, term, kind, data: input.bytes() };
}

export function writeMembership(out: Encoder, membership: Membership): void {
  out.number(membership.voters.length);
  for (const voter of membership.voters) out.number(voter);
  out.number(membership.learners.length);
  for (const learner of membership.learners) out.number(learner);
  const addresses = Object.entries(membership.addresses);
  out.number(addresses.length);
  for (const [member, address] of addresses) out.number(Number(member)).text(address);
}

export function readMembership(input: Decoder): Membership {
  const voters: MemberId[] = [];
  for (let n = input.count(); n > 0; n--) voters.push(MemberId(input.number()));
  const learners: MemberId[] = [];
  for (let n = input.count(); n > 0; n--) learners.push(MemberId(input.number()));
  const addresses: Record<number, string> = {};
  for (let n = input.count(); n > 0; n--) addresses[input.number()] = input.text();
  return { voters, learners, addresses };
}

export function encodeMembership(membership: Membership): Uint8Array {
  const out = new Encoder().number(RAFT_CODEC_FORMAT);
  writeMembership(out, membership);
  return out.finish();
}

export function decodeMembership(bytes: Uint8Array): Membership {
  const input = new Decoder(bytes, "membership");
  input.format(RAFT_CODEC_FORMAT);
  const membership = readMembership(input);
  input.done();
  return membership;
}

export function writeSnapshot(out: Encoder, snapshot: Snapshot): void {
  out.number(snapshot.index).number(snapshot.term);
  writeMembership(out, snapshot.membership);
  out.bytes(snapshot.data);
}

export function readSnapshot(input: Decoder): Snapshot {
  const index = LogIndex(input.number());
  const term = Term(input.number());
  const membership = readMembership(input);
  return { index, term, membership, data: input.bytes() };
}

export function writeHardState(out: Encoder, state: HardState): void {
  out.number(state.term).number(state.vote).number(state.commit);
}

export function readHardState(input: Decoder): HardState {
  return {
    term: Term(input.number()),
    vote: MemberId(input.number()),
    commit: LogIndex(input.number()),
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

export function writeRaftMessage(out: Encoder, message: RaftMessage): void {
  out.number(MESSAGE_KINDS.indexOf(message.kind));
  out.number(message.from).number(message.to).number(message.term);
  switch (message.kind) {
    case "preVote":
      out.number(message.lastIndex).number(message.lastTerm);
      return;
    case "vote":
      out.number(message.lastIndex).number(message.lastTerm).flag(message.transfer);
      return;
    case "preVoteResponse":
    case "voteResponse":
      out.flag(message.granted);
      return;
    case "append":
      out.number(message.prevIndex).number(message.prevTerm).number(message.commit);
      out.number(message.entries.length);
      for (const entry of message.entries) writeEntry(out, entry);
      return;
    case "appendResponse":
      out.flag(message.success).number(message.index).number(message.hintIndex);
      return;
    case "heartbeat":
      out.number(message.commit).number(message.readRound);
      return;
    case "heartbeatResponse":
      out.number(message.readRound);
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

export function readRaftMessage(input: Decoder): RaftMessage {
  const kind = MESSAGE_KINDS[input.number()];
  if (kind === undefined) throw new CodecError("raft message: unknown kind");
  const from = MemberId(input.number());
  const to = MemberId(input.number());
  const term = Term(input.number());
  const base = { from, to, term };
  switch (kind) {
    case "preVote":
      return { ...base, kind, lastIndex: LogIndex(input.number()), lastTerm: Term(input.number()) };
    case "vote": {
      const lastIndex = LogIndex(input.number());
      const lastTerm = Term(input.number());
      return { ...base, kind, lastIndex, lastTerm, transfer: input.flag() };
    }
    case "preVoteResponse":
    case "voteResponse":
      return { ...base, kind, granted: input.flag() };
    case "append": {
      const prevIndex = LogIndex(input.number());
      const prevTerm = Term(input.number());
      const commit = LogIndex(input.number());
      const entries: Entry[] = [];
      for (let n = input.count(); n > 0; n--) entries.push(readEntry(input));
      return { ...base, kind, prevIndex, prevTerm, commit, entries };
    }
    case "appendResponse": {
      const success = input.flag();
      const index = LogIndex(input.number());
      return { ...base, kind, success, index, hintIndex: LogIndex(input.number()) };
    }
    case "heartbeat":
      return { ...base, kind, commit: LogIndex(input.number()), readRound: input.number() };
    case "heartbeatResponse":
      return { ...base, kind, readRound: input.number() };
    case "snapshot":
      return { ...base, kind, snapshot: readSnapshot(input) };
    case "timeoutNow":
      return { ...base, kind };
  }
}
