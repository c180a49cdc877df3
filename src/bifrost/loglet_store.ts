/**
 * How loglets are stored: one entry per `StoreWrite` (a batch of records, or a loglet's metadata).
 * The local loglet's segment files (bifrost/local) and the log servers' stores (the file-backed one in
 * src/log-server/io and the simulated one in src/sim) frame these entries in their own files and
 * replay them in order at start-up with `LogStoreIndex`, which is also the single place that decides
 * what recovery finds.
 *
 * Entry: `u8 kind` (1 records, 2 meta) | loglet id | fields. Never renumber a kind.
 */

import {
  assert,
  assertNever,
  generationalNodeId,
  NodeId,
  type GenerationalNodeId,
} from "../core/index.js";
import { ByteReader, ByteWriter, DecodeError } from "../wire/index.js";
import type { AcceptedTail, StoredRecord } from "./replicated/messages.js";
import { parseLogletId, type Ballot, type LogletId, type OffsetRange } from "./replicated/types.js";

/** What a log server persists about one loglet besides its records. */
export interface LogletMeta {
  readonly sequencer: GenerationalNodeId | undefined;
  readonly sealed: boolean;
  readonly trimPoint: number;
  /** A lower bound of the committed tail; persisted lazily (with other metadata), never required. */
  readonly knownGlobalTail: number;
  readonly promised: Ballot | undefined;
  readonly accepted: AcceptedTail | undefined;
  readonly chosenTail: number | undefined;
}

export const EMPTY_META: LogletMeta = {
  sequencer: undefined,
  sealed: false,
  trimPoint: 0,
  knownGlobalTail: 1,
  promised: undefined,
  accepted: undefined,
  chosenTail: undefined,
};

/** One write to the node's log store. A batch of records is written atomically. */
export type StoreWrite =
  | {
      readonly kind: "records";
      readonly logletId: LogletId;
      readonly first: number;
      readonly payloads: readonly Uint8Array[];
    }
  | { readonly kind: "meta"; readonly logletId: LogletId; readonly meta: LogletMeta };

/** What the store found on disk for one loglet when the node started. */
export interface RecoveredLoglet {
  readonly meta: LogletMeta | undefined;
  /** Durable batches, ascending, each `[first, end)` as it was stored. */
  readonly batches: readonly OffsetRange[];
}

const RECORDS = 1;
const META = 2;

function writeBallot(w: ByteWriter, ballot: Ballot | undefined): void {
  w.bool(ballot !== undefined);
  if (ballot !== undefined) w.u53(ballot.round).u32(ballot.node).u32(ballot.generation);
}

function readBallot(r: ByteReader): Ballot | undefined {
  if (!r.bool()) return undefined;
  return { round: r.u53(), node: NodeId(r.u32()), generation: r.u32() };
}

export function encodeStoreWrite(write: StoreWrite): Uint8Array {
  const w = new ByteWriter();
  switch (write.kind) {
    case "records":
      w.u8(RECORDS).string(write.logletId).u53(write.first).u32(write.payloads.length);
      for (const payload of write.payloads) w.bytes(payload);
      break;
    case "meta": {
      const m = write.meta;
      w.u8(META).string(write.logletId);
      w.bool(m.sequencer !== undefined);
      if (m.sequencer !== undefined) w.u32(m.sequencer.node).u32(m.sequencer.generation);
      w.bool(m.sealed).u53(m.trimPoint).u53(m.knownGlobalTail);
      writeBallot(w, m.promised);
      writeBallot(w, m.accepted?.ballot);
      if (m.accepted !== undefined) w.u53(m.accepted.tail);
      w.bool(m.chosenTail !== undefined);
      if (m.chosenTail !== undefined) w.u53(m.chosenTail);
      break;
    }
    default:
      assertNever(write, "store write");
  }
  return w.finish();
}

export function decodeStoreWrite(bytes: Uint8Array): StoreWrite {
  const r = new ByteReader(bytes);
  const kind = r.u8();
  const idText = r.string();
  const logletId = parseLogletId(idText);
  if (logletId === undefined) throw new DecodeError(`bad loglet id '${idText}' in a store entry`);
  let write: StoreWrite;
  if (kind === RECORDS) {
    const first = r.u53();
    const count = r.u32();
    const payloads: Uint8Array[] = [];
    for (let i = 0; i < count; i++) payloads.push(r.bytes());
    write = { kind: "records", logletId, first, payloads };
  } else if (kind === META) {
    const sequencer = r.bool() ? generationalNodeId(r.u32(), r.u32()) : undefined;
    const sealed = r.bool();
    const trimPoint = r.u53();
    const knownGlobalTail = r.u53();
    const promised = readBallot(r);
    const acceptedBallot = readBallot(r);
    const accepted =
      acceptedBallot === undefined ? undefined : { ballot: acceptedBallot, tail: r.u53() };
    const chosenTail = r.bool() ? r.u53() : undefined;
    const meta: LogletMeta = {
      sequencer,
      sealed,
      trimPoint,
      knownGlobalTail,
      promised,
      accepted,
      chosenTail,
    };
    write = { kind: "meta", logletId, meta };
  } else {
    throw new DecodeError(`unknown store entry kind ${kind}`);
  }
  r.end();
  return write;
}

/** Where one batch lives in a store; `location` is the store's own (file, position, …). */
export interface IndexedBatch<L> {
  readonly first: number;
  readonly end: number;
  readonly location: L;
}

interface IndexedLoglet<L> {
  meta: LogletMeta | undefined;
  /** Ascending by `first`; trimmed batches are dropped. */
  batches: IndexedBatch<L>[];
}

/**
 * The in-memory index of a log-server store: per loglet, its latest metadata and where each stored
 * batch is. Stores apply every entry as they write it and replay every entry at start-up, so the
 * index after recovery is exactly what was durable.
 */
export class LogStoreIndex<L> {
  private readonly loglets = new Map<LogletId, IndexedLoglet<L>>();

  private get(id: LogletId): IndexedLoglet<L> {
    let l = this.loglets.get(id);
    if (l === undefined) {
      l = { meta: undefined, batches: [] };
      this.loglets.set(id, l);
    }
    return l;
  }

  applyRecords(id: LogletId, first: number, count: number, location: L): void {
    assert(count > 0, `${id}: a stored batch has records`);
    const l = this.get(id);
    const last = l.batches[l.batches.length - 1];
    // The log server accepts only stores that extend its tail, so batches arrive in order.
    assert(
      last === undefined || first >= last.end,
      `${id}: batch at ${first} arrives below the stored tail ${last?.end}`,
    );
    if (first + count <= (l.meta?.trimPoint ?? 0) + 1) return;
    l.batches.push({ first, end: first + count, location });
  }

  applyMeta(id: LogletId, meta: LogletMeta): void {
    const l = this.get(id);
    l.meta = meta;
    const keepFrom = meta.trimPoint + 1;
    while (l.batches.length > 0 && l.batches[0]!.end <= keepFrom) l.batches.shift();
  }

  /** The batches holding `[from, toExclusive)`, in order, contiguous from `from`. */
  batchesFrom(id: LogletId, from: number, toExclusive: number): IndexedBatch<L>[] {
    const l = this.loglets.get(id);
    if (l === undefined || from >= toExclusive) return [];
    const out: IndexedBatch<L>[] = [];
    let lo = 0;
    let hi = l.batches.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (l.batches[mid]!.end <= from) lo = mid + 1;
      else hi = mid;
    }
    let expected = from;
    for (let i = lo; i < l.batches.length; i++) {
      const batch = l.batches[i]!;
      if (batch.first > expected || batch.first >= toExclusive) break;
      out.push(batch);
      expected = batch.end;
      if (expected >= toExclusive) break;
    }
    return out;
  }

  /** What the log server finds at start-up. */
  recovered(): Map<LogletId, RecoveredLoglet> {
    const out = new Map<LogletId, RecoveredLoglet>();
    for (const [id, l] of this.loglets) {
      const batches: OffsetRange[] = l.batches.map((b) => ({ first: b.first, end: b.end }));
      out.set(id, { meta: l.meta, batches });
    }
    return out;
  }

  /** Every location still referenced (live batches), for garbage collection of whole files. */
  *liveLocations(): Generator<L> {
    for (const l of this.loglets.values()) for (const b of l.batches) yield b.location;
  }
}

type RecordsWrite = StoreWrite & { kind: "records" };

/** An index that keeps the batches themselves in memory (the memory and simulated stores). */
export class InMemoryLogStoreIndex extends LogStoreIndex<RecordsWrite> {
  apply(write: StoreWrite): void {
    if (write.kind === "records") {
      this.applyRecords(write.logletId, write.first, write.payloads.length, write);
    } else {
      this.applyMeta(write.logletId, write.meta);
    }
  }

  records(
    id: LogletId,
    from: number,
    toExclusive: number,
    recordsMax: number,
    bytesMax: number,
  ): StoredRecord[] {
    const batches = this.batchesFrom(id, from, toExclusive).map((b) => b.location);
    return sliceRecords(batches, from, toExclusive, recordsMax, bytesMax);
  }
}

/** Cuts records out of decoded batches: contiguous from `from`, within the limits. */
export function sliceRecords(
  batches: readonly { first: number; payloads: readonly Uint8Array[] }[],
  from: number,
  toExclusive: number,
  recordsMax: number,
  bytesMax: number,
): StoredRecord[] {
  const out: StoredRecord[] = [];
  let bytes = 0;
  let expected = from;
  for (const batch of batches) {
    for (let i = 0; i < batch.payloads.length; i++) {
      const offset = batch.first + i;
      if (offset < expected) continue;
      if (offset !== expected || offset >= toExclusive || out.length >= recordsMax) return out;
      const payload = batch.payloads[i]!;
      if (out.length > 0 && bytes + payload.length > bytesMax) return out;
      out.push({ offset, payload });
      bytes += payload.length;
      expected++;
    }
  }
  return out;
}
