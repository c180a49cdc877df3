/**
 * The metadata store's encodings round-trip: commands (what Raft replicates), the state machine's
 * snapshot, and the envelopes members and clients exchange. A writer and its reader that disagree
 * (a field's width, a count, the format tag) fail here rather than as a cluster that never answers.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeCommand, encodeCommand, type Command } from "./commands.js";
import { MetadataStateMachine } from "./state_machine.js";
import { decodeEnvelope, encodeEnvelope, type Envelope } from "./wire.js";
import { LogIndex, MemberId, Term } from "./raft/types.js";
import { DecodeError } from "../wire/binary.js";
import { Version } from "../core/brand.js";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

describe("metadata store encodings", () => {
  it("round-trip every command", () => {
    const commands: Command[] = [
      { kind: "openSession" },
      {
        kind: "write",
        sessionId: 7,
        seq: 12,
        ackedBelow: 11,
        op: { kind: "put", key: "k", value: bytes("v"), precondition: { kind: "none" } },
      },
      {
        kind: "write",
        sessionId: 2 ** 40,
        seq: 1,
        ackedBelow: 0,
        op: {
          kind: "delete",
          key: "x",
          precondition: { kind: "matchesVersion", version: Version(9) },
        },
      },
      {
        kind: "write",
        sessionId: 1,
        seq: 2,
        ackedBelow: 1,
        op: { kind: "put", key: "new", value: bytes(""), precondition: { kind: "mustNotExist" } },
      },
    ];
    for (const command of commands)
      assert.deepEqual(decodeCommand(encodeCommand(command)), command);
  });

  it("restore a snapshot to the same state, sessions included", () => {
    const machine = new MetadataStateMachine();
    machine.apply(LogIndex(1), encodeCommand({ kind: "openSession" }));
    const write = (seq: number, key: string, value: string): void => {
      machine.apply(
        LogIndex(seq + 1),
        encodeCommand({
          kind: "write",
          sessionId: 1,
          seq,
          ackedBelow: 0,
          op: { kind: "put", key, value: bytes(value), precondition: { kind: "none" } },
        }),
      );
    };
    write(1, "a", "one");
    write(2, "b", "two");
    const snapshot = machine.encodeSnapshot();
    const restored = new MetadataStateMachine();
    restored.restore(snapshot);
    assert.deepEqual(restored.encodeSnapshot(), snapshot);
  });

  it("round-trip envelopes of Raft messages, requests and responses", () => {
    const envelopes: Envelope[] = [
      {
        from: "127.0.0.1:5122",
        message: {
          kind: "raft",
          message: {
            kind: "heartbeat",
            from: MemberId(1),
            to: MemberId(2),
            term: Term(3),
            commit: LogIndex(4),
            readRound: 5,
          },
        },
      },
      {
        from: "client-1",
        message: { kind: "request", requestId: 5, request: { kind: "get", key: "k" } },
      },
    ];
    for (const envelope of envelopes) {
      assert.deepEqual(decodeEnvelope(encodeEnvelope(envelope)), envelope);
    }
  });

  it("refuses a command of another format", () => {
    const encoded = encodeCommand({ kind: "openSession" });
    encoded[3] = 99;
    assert.throws(() => decodeCommand(encoded), DecodeError);
  });
});
