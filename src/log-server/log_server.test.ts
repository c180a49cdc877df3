import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { utf8 } from "../core/bytes.js";
import { generationalNodeId, NodeId } from "../core/node_id.js";
import { decodeLogletMessage, encodeLogletMessage } from "../bifrost/replicated/codec.js";
import { LogServer, type LogServerEffect } from "./log_server.js";
import type {
  LogServerRequest,
  LogServerResponse,
  LogletMessage,
} from "../bifrost/replicated/messages.js";
import { decodeStoreWrite, encodeStoreWrite } from "../bifrost/loglet_store.js";
import { logletIdOf, type Ballot } from "../bifrost/replicated/types.js";

const ID = logletIdOf(1, 0);
const SEQUENCER = generationalNodeId(1, 1);
const header = (knownGlobalTail = 1) => ({ logletId: ID, knownGlobalTail });
const ballot = (round: number, node = 9): Ballot => ({ round, node: NodeId(node), generation: 1 });
const store = (first: number, count: number, knownGlobalTail = 1): LogServerRequest => ({
  kind: "store",
  header: header(knownGlobalTail),
  sequencer: SEQUENCER,
  first,
  payloads: Array.from({ length: count }, (_, i) => utf8(`r${first + i}`)),
  repair: false,
});

/** A log server whose store completes every write at once, in order. */
class Harness {
  readonly server = new LogServer(new Map());
  private reply = 0;

  /** Sends a request and returns its response, completing the writes it issued. */
  ask(request: LogServerRequest): LogServerResponse | undefined {
    const token = ++this.reply;
    let answer: LogServerResponse | undefined;
    const pump = (effects: LogServerEffect[]): void => {
      for (const e of effects) {
        if (e.kind === "reply" && e.reply === token) answer = e.response;
        if (e.kind === "write") pump(this.server.onWritten(e.write));
        if (e.kind === "read") pump(this.server.onRead(e.read, []));
      }
    };
    pump(this.server.onRequest(token, request));
    return answer;
  }

  status(request: LogServerRequest): string | undefined {
    const r = this.ask(request);
    return r?.kind === "stored" ? r.status : r?.kind;
  }
}

describe("log server", () => {
  it("stores only in order: no uncommitted holes", () => {
    const h = new Harness();
    assert.equal(h.status(store(1, 2)), "ok");
    assert.equal(h.status(store(5, 1)), "outOfBounds", "offsets 3..4 missing and not committed");
    assert.equal(
      h.status(store(5, 1, 5)),
      "ok",
      "3..4 are committed elsewhere: the gap is allowed",
    );
    assert.equal(h.status(store(1, 2)), "ok", "a duplicate of a held batch");
    assert.equal(h.status(store(3, 2)), "stale", "below the tail but skipped");
    assert.equal(h.status(store(5, 2)), "malformed", "straddles the tail");
  });

  it("regression (seed 1146922652): a late store into a range skipped while writes are in flight is stale", () => {
    const server = new LogServer(new Map());
    const statusOf = (effects: LogServerEffect[]): string | undefined => {
      const reply = effects.find((e) => e.kind === "reply");
      return reply?.kind === "reply" && reply.response.kind === "stored"
        ? reply.response.status
        : undefined;
    };
    const writes = (effects: LogServerEffect[]) => effects.filter((e) => e.kind === "write");
    // [1, 3) is stored and written; [3, 5) is in flight when the server learns that 17 is committed.
    for (const e of writes(server.onRequest(1, store(1, 2)))) {
      if (e.kind === "write") server.onWritten(e.write);
    }
    assert.equal(writes(server.onRequest(2, store(3, 2))).length, 1);
    // [17, 19) skips [5, 17), committed elsewhere, while [3, 5) is still being written.
    assert.equal(writes(server.onRequest(3, store(17, 2, 17))).length, 1);
    assert.equal(statusOf(server.onRequest(4, store(5, 12, 17))), "stale");
  });

  it("refuses another sequencer's stores", () => {
    const h = new Harness();
    assert.equal(h.status(store(1, 1)), "ok");
    assert.equal(
      h.status({ ...store(2, 1), sequencer: generationalNodeId(1, 2) } as LogServerRequest),
      "sequencerMismatch",
    );
  });

  it("seals on prepare, refuses normal stores after it, accepts repair stores", () => {
    const h = new Harness();
    h.ask(store(1, 2));
    const prepared = h.ask({ kind: "prepare", header: header(), ballot: ballot(1) });
    assert.equal(prepared?.kind, "prepared");
    assert.equal(prepared?.kind === "prepared" && prepared.header.localTail, 3);
    assert.deepEqual(prepared?.kind === "prepared" && prepared.batches, [{ first: 1, end: 3 }]);
    assert.equal(h.status(store(3, 1)), "sealed");
    assert.equal(h.status({ ...store(3, 1), repair: true } as LogServerRequest), "ok");
  });

  it("promises only rising ballots and accepts only at or above its promise", () => {
    const h = new Harness();
    const p2 = h.ask({ kind: "prepare", header: header(), ballot: ballot(2) });
    assert.equal(p2?.kind === "prepared" && p2.promised, true);
    const p1 = h.ask({ kind: "prepare", header: header(), ballot: ballot(1) });
    assert.equal(p1?.kind === "prepared" && p1.promised, false);
    const low = h.ask({ kind: "accept", header: header(), ballot: ballot(1), tail: 4 });
    assert.equal(low?.kind === "acceptReply" && low.accepted, false);
    const ok = h.ask({ kind: "accept", header: header(), ballot: ballot(2), tail: 4 });
    assert.equal(ok?.kind === "acceptReply" && ok.accepted, true);
    const p3 = h.ask({ kind: "prepare", header: header(), ballot: ballot(3) });
    assert.deepEqual(p3?.kind === "prepared" && p3.accepted, { ballot: ballot(2), tail: 4 });
  });

  it("regression (seed 1340): refuses an accept that contradicts a known choice", () => {
    const h = new Harness();
    h.ask({ kind: "prepare", header: header(), ballot: ballot(1, 2) });
    h.server.onNotice({ kind: "decided", header: header(), tail: 11 });
    // A slower coordinator whose ballot this server promised proposes another tail.
    const late = h.ask({ kind: "accept", header: header(), ballot: ballot(1, 2), tail: 14 });
    assert.equal(late?.kind === "acceptReply" && late.accepted, false);
    const info = h.ask({ kind: "getInfo", header: header() });
    assert.equal(info?.kind === "info" && info.chosenTail, 11);
    assert.throws(
      () => h.server.onNotice({ kind: "decided", header: header(), tail: 12 }),
      /never change/,
    );
  });

  it("trims only committed offsets and reports the trim point to readers", () => {
    const h = new Harness();
    h.ask(store(1, 4));
    const trimmed = h.ask({ kind: "trim", header: header(3), through: 100 });
    assert.equal(trimmed?.kind === "trimmed" && trimmed.trimPoint, 4, "clipped to the local tail");
    const read = h.ask({
      kind: "getRecords",
      header: header(5),
      from: 2,
      toExclusive: 5,
      recordsMax: 10,
      bytesMax: 1000,
    });
    assert.equal(read?.kind === "records" && read.trimPoint, 4);
  });
});

describe("loglet codec", () => {
  it("round-trips every kind of message", () => {
    const messages: LogletMessage[] = [
      store(7, 2, 3),
      { kind: "prepare", header: header(2), ballot: ballot(4) },
      { kind: "accept", header: header(2), ballot: ballot(4), tail: 9 },
      {
        kind: "getRecords",
        header: header(),
        from: 1,
        toExclusive: 9,
        recordsMax: 5,
        bytesMax: 99,
      },
      { kind: "getInfo", header: header() },
      { kind: "trim", header: header(), through: 3 },
      { kind: "release", header: header(8) },
      { kind: "decided", header: header(8), tail: 8 },
      {
        kind: "stored",
        header: { logletId: ID, knownGlobalTail: 2, localTail: 5, sealed: true },
        status: "outOfBounds",
      },
      {
        kind: "prepared",
        header: { logletId: ID, knownGlobalTail: 2, localTail: 5, sealed: true },
        promised: true,
        promisedBallot: ballot(4),
        accepted: { ballot: ballot(3), tail: 5 },
        chosenTail: undefined,
        trimPoint: 1,
        batches: [{ first: 2, end: 5 }],
      },
      {
        kind: "records",
        header: { logletId: ID, knownGlobalTail: 9, localTail: 9, sealed: false },
        trimPoint: 0,
        records: [{ offset: 3, payload: utf8("x") }],
      },
      { kind: "append", logletId: ID, payloads: [utf8("a"), new Uint8Array(0)] },
      {
        kind: "appended",
        logletId: ID,
        status: "ok",
        lastOffset: 4,
        knownGlobalTail: 5,
        sealed: false,
      },
      { kind: "tail", logletId: ID, status: "notSequencer", knownGlobalTail: 1, sealed: false },
    ];
    for (const message of messages) {
      assert.deepEqual(decodeLogletMessage(encodeLogletMessage(message)), message);
    }
    assert.throws(() => decodeLogletMessage(new Uint8Array([99])), /unknown loglet message tag/);
    const bytes = encodeLogletMessage(store(1, 1));
    assert.throws(() => decodeLogletMessage(bytes.subarray(0, bytes.length - 1)), /truncated/);
  });

  it("round-trips store entries", () => {
    const write = {
      kind: "meta" as const,
      logletId: ID,
      meta: {
        sequencer: SEQUENCER,
        sealed: true,
        trimPoint: 3,
        knownGlobalTail: 7,
        promised: ballot(2),
        accepted: { ballot: ballot(2), tail: 7 },
        chosenTail: 7,
      },
    };
    assert.deepEqual(decodeStoreWrite(encodeStoreWrite(write)), write);
  });
});
