/**
 * The log server as a pure state machine: it stores the records of many replicated loglets on one
 * node and answers the sequencer, readers and seal/repair coordinators.
 *
 * Inputs: `onRequest` (a request and the token to answer it with), `onNotice`, `onWritten` (a store
 * write became durable), `onRead` (records read back). Outputs, as data: replies, writes to the node's
 * log store, reads from it. The store completes writes in the order they were issued (one ordered,
 * group-committed stream), which is what makes a seal durable only after every store accepted before it.
 *
 * Invariants, per loglet:
 * - **No uncommitted holes.** A store is accepted only if it starts at or below
 *   max(staged local tail, known global tail). So every offset a server lacks below its local tail is
 *   committed (stored on a write quorum) elsewhere, and the uncommitted records it holds are one
 *   contiguous run ending at its local tail. Tail repair relies on this.
 * - **One sequencer.** The first store fixes the loglet's sequencer; stores from any other incarnation
 *   are refused, so each offset has at most one payload anywhere.
 * - **Seal is forever.** After a prepare (seal) or accept, normal stores are refused; only repair
 *   stores are taken. Seal, promises, accepted and chosen tails are persisted before they are answered.
 * - **Acknowledge only what is durable.** A store is answered `ok` once its write completed.
 * - **The chosen tail never changes**: a second, different chosen tail is a bug and asserts.
 *
 * Why one file of this length: the log server is one state machine whose invariants (above) span
 * every message it takes; split by message, the checks of one invariant would be scattered.
 */

import { assert, assertNever, sameIncarnation } from "../core/index.js";
import {
  type AcceptRequest,
  type GetRecordsRequest,
  type LogServerNotice,
  type LogServerRequest,
  type LogServerResponse,
  type PrepareRequest,
  type ServerHeader,
  type StoreRequest,
  type StoreStatus,
  type TrimRequest,
  addRange,
  compareBallots,
  dropBelow,
  rangeContaining,
  type LogletId,
  type OffsetRange,
  EMPTY_META,
  type LogletMeta,
  type RecoveredLoglet,
  type StoreWrite,
} from "../bifrost/index.js";

export type LogServerEffect =
  | { readonly kind: "reply"; readonly reply: number; readonly response: LogServerResponse }
  | { readonly kind: "write"; readonly write: number; readonly op: StoreWrite }
  | {
      readonly kind: "read";
      readonly read: number;
      readonly logletId: LogletId;
      readonly from: number;
      readonly toExclusive: number;
      readonly recordsMax: number;
      readonly bytesMax: number;
    };

interface ServerLoglet {
  readonly id: LogletId;
  meta: LogletMeta;
  /** Durable record ranges, merged, above the trim point. */
  held: OffsetRange[];
  /** Durable batches that end above the known global tail: the digest tail repair asks for. */
  batches: OffsetRange[];
  durableTail: number;
  /** Local tail including accepted stores whose writes are not yet durable. */
  stagedTail: number;
}

type PendingWrite =
  | {
      readonly kind: "records";
      readonly loglet: ServerLoglet;
      readonly range: OffsetRange;
      readonly waiters: number[];
    }
  | {
      readonly kind: "meta";
      readonly loglet: ServerLoglet;
      /** Builds the deferred reply once the write is durable. */
      readonly then: ((effects: LogServerEffect[]) => void) | undefined;
    };

type PendingRead = { readonly loglet: ServerLoglet; readonly reply: number };

export class LogServer {
  private readonly loglets = new Map<LogletId, ServerLoglet>();
  private readonly pendingWrites = new Map<number, PendingWrite>();
  /** Tokens of issued writes in issue order; the store completes them in this order. */
  private readonly writeOrder: number[] = [];
  private readonly pendingReads = new Map<number, PendingRead>();
  private nextToken = 1;

  constructor(recovered: ReadonlyMap<LogletId, RecoveredLoglet>) {
    for (const [id, state] of recovered) this.loglets.set(id, this.restore(id, state));
  }

  private restore(id: LogletId, state: RecoveredLoglet): ServerLoglet {
    const meta = state.meta ?? EMPTY_META;
    let held: OffsetRange[] = [];
    let maxEnd = 1;
    for (const batch of state.batches) {
      assert(batch.first < batch.end, `${id}: recovered an empty batch`);
      held = addRange(held, batch);
      maxEnd = Math.max(maxEnd, batch.end);
    }
    held = dropBelow(held, meta.trimPoint + 1);
    const tail = Math.max(maxEnd, meta.trimPoint + 1);
    const knownGlobalTail = Math.max(meta.knownGlobalTail, meta.trimPoint + 1);
    return {
      id,
      meta: { ...meta, knownGlobalTail },
      held,
      batches: state.batches.filter((b) => b.end > knownGlobalTail),
      durableTail: tail,
      stagedTail: tail,
    };
  }

  /** Read-only view for tests and the simulator's checkers. */
  inspect(id: LogletId):
    | {
        meta: LogletMeta;
        held: readonly OffsetRange[];
        durableTail: number;
        stagedTail: number;
      }
    | undefined {
    const l = this.loglets.get(id);
    return l === undefined
      ? undefined
      : { meta: l.meta, held: l.held, durableTail: l.durableTail, stagedTail: l.stagedTail };
  }

  private loglet(id: LogletId): ServerLoglet {
    let l = this.loglets.get(id);
    if (l === undefined) {
      l = { id, meta: EMPTY_META, held: [], batches: [], durableTail: 1, stagedTail: 1 };
      this.loglets.set(id, l);
    }
    return l;
  }

  private header(l: ServerLoglet): ServerHeader {
    return {
      logletId: l.id,
      knownGlobalTail: l.meta.knownGlobalTail,
      localTail: l.durableTail,
      sealed: l.meta.sealed,
    };
  }

  private observeGlobalTail(l: ServerLoglet, tail: number): void {
    if (tail <= l.meta.knownGlobalTail) return;
    l.meta = { ...l.meta, knownGlobalTail: tail };
    l.batches = l.batches.filter((b) => b.end > tail);
  }

  private issueWrite(effects: LogServerEffect[], write: PendingWrite, op: StoreWrite): void {
    const token = this.nextToken++;
    this.pendingWrites.set(token, write);
    this.writeOrder.push(token);
    effects.push({ kind: "write", write: token, op });
  }

  private persistMeta(
    effects: LogServerEffect[],
    l: ServerLoglet,
    then?: (effects: LogServerEffect[]) => void,
  ): void {
    this.issueWrite(
      effects,
      { kind: "meta", loglet: l, then },
      { kind: "meta", logletId: l.id, meta: l.meta },
    );
  }

  // ---- inputs ----

  onRequest(reply: number, request: LogServerRequest): LogServerEffect[] {
    const l = this.loglet(request.header.logletId);
    this.observeGlobalTail(l, request.header.knownGlobalTail);
    const effects: LogServerEffect[] = [];
    switch (request.kind) {
      case "store":
        this.store(effects, l, reply, request);
        break;
      case "prepare":
        this.prepare(effects, l, reply, request);
        break;
      case "accept":
        this.accept(effects, l, reply, request);
        break;
      case "getRecords":
        this.getRecords(effects, l, reply, request);
        break;
      case "getInfo":
        effects.push({
          kind: "reply",
          reply,
          response: {
            kind: "info",
            header: this.header(l),
            trimPoint: l.meta.trimPoint,
            chosenTail: l.meta.chosenTail,
          },
        });
        break;
      case "trim":
        this.trim(effects, l, reply, request);
        break;
      default:
        assertNever(request, "log server request");
    }
    return effects;
  }

  onNotice(notice: LogServerNotice): LogServerEffect[] {
    const l = this.loglet(notice.header.logletId);
    this.observeGlobalTail(l, notice.header.knownGlobalTail);
    const effects: LogServerEffect[] = [];
    switch (notice.kind) {
      case "release":
        break;
      case "decided":
        if (l.meta.chosenTail !== undefined) {
          assert(
            l.meta.chosenTail === notice.tail,
            `${l.id}: chosen sealed tail ${l.meta.chosenTail} must never change, told ${notice.tail}`,
          );
          break;
        }
        l.meta = { ...l.meta, chosenTail: notice.tail, sealed: true };
        this.observeGlobalTail(l, notice.tail);
        this.persistMeta(effects, l);
        break;
      default:
        assertNever(notice, "log server notice");
    }
    return effects;
  }

  onWritten(token: number): LogServerEffect[] {
    const expected = this.writeOrder.shift();
    assert(
      expected === token,
      `store writes complete in issue order: expected ${expected}, got ${token}`,
    );
    const write = this.pendingWrites.get(token);
    assert(write !== undefined, `write ${token} is pending`);
    this.pendingWrites.delete(token);
    const effects: LogServerEffect[] = [];
    const l = write.loglet;
    switch (write.kind) {
      case "records": {
        const { range } = write;
        assert(range.first >= 1 && range.end > range.first, `${l.id}: a stored batch is non-empty`);
        if (range.end > l.meta.trimPoint + 1) {
          l.held = addRange(l.held, {
            first: Math.max(range.first, l.meta.trimPoint + 1),
            end: range.end,
          });
        }
        l.durableTail = Math.max(l.durableTail, range.end);
        if (range.end > l.meta.knownGlobalTail) l.batches.push(range);
        for (const reply of write.waiters) {
          effects.push({
            kind: "reply",
            reply,
            response: { kind: "stored", header: this.header(l), status: "ok" },
          });
        }
        break;
      }
      case "meta":
        write.then?.(effects);
        break;
      default:
        assertNever(write, "pending write");
    }
    assert(l.durableTail <= l.stagedTail, `${l.id}: durable tail never passes the staged tail`);
    return effects;
  }

  onRead(
    token: number,
    records: readonly { offset: number; payload: Uint8Array }[],
  ): LogServerEffect[] {
    const read = this.pendingReads.get(token);
    assert(read !== undefined, `read ${token} is pending`);
    this.pendingReads.delete(token);
    const l = read.loglet;
    for (let i = 1; i < records.length; i++) {
      assert(records[i]!.offset === records[i - 1]!.offset + 1, `${l.id}: reads are contiguous`);
    }
    return [
      {
        kind: "reply",
        reply: read.reply,
        response: {
          kind: "records",
          header: this.header(l),
          trimPoint: l.meta.trimPoint,
          records,
        },
      },
    ];
  }

  // ---- request handlers ----

  private store(
    effects: LogServerEffect[],
    l: ServerLoglet,
    reply: number,
    request: StoreRequest,
  ): void {
    const answer = (status: StoreStatus): void => {
      effects.push({
        kind: "reply",
        reply,
        response: { kind: "stored", header: this.header(l), status },
      });
    };
    const first = request.first;
    const end = first + request.payloads.length;
    if (request.payloads.length === 0 || first < 1) return answer("malformed");
    if (l.meta.sequencer !== undefined && !sameIncarnation(l.meta.sequencer, request.sequencer)) {
      return answer("sequencerMismatch");
    }
    if (l.meta.sealed && !request.repair) return answer("sealed");
    if (end <= l.stagedTail) return this.duplicateStore(effects, l, reply, { first, end }, answer);
    if (first < l.stagedTail) return answer("malformed"); // straddles the tail: batches never do
    if (first > Math.max(l.stagedTail, l.meta.knownGlobalTail)) return answer("outOfBounds");
    if (l.meta.sequencer === undefined) {
      l.meta = { ...l.meta, sequencer: request.sequencer };
      this.persistMeta(effects, l);
    }
    l.stagedTail = end;
    this.issueWrite(
      effects,
      { kind: "records", loglet: l, range: { first, end }, waiters: [reply] },
      { kind: "records", logletId: l.id, first, payloads: request.payloads },
    );
  }

  /**
   * A store of a range at or below the staged tail: already held, in flight, or skipped. A skipped
   * range (the server moved past it to a store below the known global tail, or trimmed it) may lie
   * above the durable tail while later writes are in flight: it is stale, not malformed (seed
   * 1146922652).
   */
  private duplicateStore(
    _effects: LogServerEffect[],
    l: ServerLoglet,
    reply: number,
    range: OffsetRange,
    answer: (status: StoreStatus) => void,
  ): void {
    if (range.first >= l.durableTail) {
      for (const write of this.pendingWrites.values()) {
        if (
          write.kind === "records" &&
          write.loglet === l &&
          write.range.first === range.first &&
          write.range.end === range.end
        ) {
          write.waiters.push(reply);
          return;
        }
      }
    }
    const held = rangeContaining(l.held, range.first);
    if (held !== undefined && range.end <= held.end) return answer("ok");
    return answer("stale");
  }

  private prepare(
    effects: LogServerEffect[],
    l: ServerLoglet,
    reply: number,
    request: PrepareRequest,
  ): void {
    const promised =
      l.meta.promised === undefined || compareBallots(request.ballot, l.meta.promised) >= 0;
    l.meta = {
      ...l.meta,
      sealed: true,
      promised: promised ? request.ballot : l.meta.promised,
    };
    // The promise answers with the state this very write makes durable (a later, not yet durable
    // promise or accept must not leak into it); tails and batches are read at completion, when every
    // earlier store is durable.
    const persisted = l.meta;
    this.persistMeta(effects, l, (out) => {
      out.push({
        kind: "reply",
        reply,
        response: {
          kind: "prepared",
          header: { ...this.header(l), sealed: true },
          promised,
          promisedBallot: persisted.promised!,
          accepted: persisted.accepted,
          chosenTail: persisted.chosenTail,
          trimPoint: persisted.trimPoint,
          batches: l.batches.filter((b) => b.end > l.meta.knownGlobalTail),
        },
      });
    });
  }

  private accept(
    effects: LogServerEffect[],
    l: ServerLoglet,
    reply: number,
    request: AcceptRequest,
  ): void {
    // A lower ballot than promised is refused (Paxos). So is any other value once the choice is
    // known: a slower coordinator of a lower ballot may still be proposing its own value, and its
    // accept must not overwrite what this server knows is final.
    const belowPromise =
      l.meta.promised !== undefined && compareBallots(request.ballot, l.meta.promised) < 0;
    const contradictsChoice = l.meta.chosenTail !== undefined && l.meta.chosenTail !== request.tail;
    if (belowPromise || contradictsChoice) {
      effects.push({
        kind: "reply",
        reply,
        response: {
          kind: "acceptReply",
          header: this.header(l),
          accepted: false,
          promisedBallot: l.meta.promised ?? request.ballot,
        },
      });
      return;
    }
    l.meta = {
      ...l.meta,
      sealed: true,
      promised: request.ballot,
      accepted: { ballot: request.ballot, tail: request.tail },
    };
    this.persistMeta(effects, l, (out) => {
      out.push({
        kind: "reply",
        reply,
        response: {
          kind: "acceptReply",
          header: this.header(l),
          accepted: true,
          promisedBallot: request.ballot,
        },
      });
    });
  }

  private getRecords(
    effects: LogServerEffect[],
    l: ServerLoglet,
    reply: number,
    request: GetRecordsRequest,
  ): void {
    const from = request.from;
    const bound = Math.min(request.toExclusive, l.durableTail);
    const run = rangeContaining(l.held, from);
    if (from <= l.meta.trimPoint || run === undefined || from >= bound || request.recordsMax < 1) {
      effects.push({
        kind: "reply",
        reply,
        response: {
          kind: "records",
          header: this.header(l),
          trimPoint: l.meta.trimPoint,
          records: [],
        },
      });
      return;
    }
    const token = this.nextToken++;
    this.pendingReads.set(token, { loglet: l, reply });
    effects.push({
      kind: "read",
      read: token,
      logletId: l.id,
      from,
      toExclusive: Math.min(bound, run.end),
      recordsMax: request.recordsMax,
      bytesMax: request.bytesMax,
    });
  }

  private trim(
    effects: LogServerEffect[],
    l: ServerLoglet,
    reply: number,
    request: TrimRequest,
  ): void {
    // Only what is known to be committed may be trimmed.
    const target = Math.min(request.through, Math.max(l.durableTail, l.meta.knownGlobalTail) - 1);
    const answer = (out: LogServerEffect[]): void => {
      out.push({
        kind: "reply",
        reply,
        response: { kind: "trimmed", header: this.header(l), trimPoint: l.meta.trimPoint },
      });
    };
    if (target <= l.meta.trimPoint) return answer(effects);
    l.meta = { ...l.meta, trimPoint: target };
    this.observeGlobalTail(l, target + 1);
    l.held = dropBelow(l.held, target + 1);
    l.durableTail = Math.max(l.durableTail, target + 1);
    l.stagedTail = Math.max(l.stagedTail, target + 1);
    this.persistMeta(effects, l, answer);
  }
}
