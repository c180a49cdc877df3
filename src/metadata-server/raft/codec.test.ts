import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readRaftMessage, writeRaftMessage } from "./codec.js";
import { ByteReader, ByteWriter, DecodeError } from "../../wire/binary.js";
import { LogIndex, MemberId, Term, type RaftMessage } from "./types.js";

function roundTrip(message: RaftMessage): RaftMessage {
  const out = new ByteWriter();
  writeRaftMessage(out, message);
  const input = new ByteReader(out.finish(), "test");
  const decoded = readRaftMessage(input);
  input.end();
  return decoded;
}

describe("raft codec", () => {
  const base = { from: MemberId(1), to: MemberId(2), term: Term(7) };

  it("round-trips every message kind", () => {
    const messages: RaftMessage[] = [
      { ...base, kind: "preVote", lastIndex: LogIndex(4), lastTerm: Term(6) },
      { ...base, kind: "preVoteResponse", granted: true },
      { ...base, kind: "vote", lastIndex: LogIndex(4), lastTerm: Term(6), transfer: true },
      { ...base, kind: "voteResponse", granted: false },
      {
        ...base,
        kind: "append",
        prevIndex: LogIndex(3),
        prevTerm: Term(5),
        commit: LogIndex(2),
        entries: [
          { index: LogIndex(4), term: Term(7), kind: "command", data: new Uint8Array([1, 2]) },
          { index: LogIndex(5), term: Term(7), kind: "noop", data: new Uint8Array() },
        ],
      },
      {
        ...base,
        kind: "appendResponse",
        success: false,
        index: LogIndex(9),
        hintIndex: LogIndex(3),
      },
      { ...base, kind: "heartbeat", commit: LogIndex(8), readRound: 12 },
      { ...base, kind: "heartbeatResponse", readRound: 12 },
      {
        ...base,
        kind: "snapshot",
        snapshot: {
          index: LogIndex(10),
          term: Term(6),
          membership: {
            voters: [MemberId(1), MemberId(2)],
            learners: [MemberId(3)],
            addresses: { 1: "a", 2: "b", 3: "c" },
          },
          data: new Uint8Array([9]),
        },
      },
      { ...base, kind: "timeoutNow" },
    ];
    for (const message of messages) assert.deepEqual(roundTrip(message), message);
  });

  it("rejects truncated and padded input with a DecodeError", () => {
    const out = new ByteWriter();
    writeRaftMessage(out, { ...base, kind: "heartbeat", commit: LogIndex(8), readRound: 1 });
    const bytes = out.finish();
    assert.throws(() => readRaftMessage(new ByteReader(bytes.slice(0, 3), "cut")), DecodeError);
    const padded = new ByteReader(new Uint8Array([...bytes, 0]), "padded");
    readRaftMessage(padded);
    assert.throws(() => padded.end(), DecodeError);
    assert.throws(() => readRaftMessage(new ByteReader(new Uint8Array([99]), "kind")), DecodeError);
  });
});
