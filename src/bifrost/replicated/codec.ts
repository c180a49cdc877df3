/**
 * Binary encoding of the replicated loglet's messages (messages.ts): a u8 tag per message kind, then
 * the fields in declaration order (wire/binary.ts). The encoding is deterministic and the tags are
 * part of the wire format: never renumber one, only add.
 *
 * Decoding validates as it goes (tags, enums, bounds, trailing bytes) and throws DecodeError; the
 * drivers treat such input as a failed request.
 */

import {
  assertNever,
  generationalNodeId,
  NodeId,
  type GenerationalNodeId,
} from "../../core/index.js";
import { ByteReader, ByteWriter, DecodeError } from "../../wire/index.js";
import {
  SEQUENCER_STATUSES,
  STORE_STATUSES,
  type AcceptedTail,
  type LogletMessage,
  type RequestHeader,
  type SequencerStatus,
  type ServerHeader,
  type StoreStatus,
  type StoredRecord,
} from "./messages.js";
import { parseLogletId, type Ballot, type LogletId, type OffsetRange } from "./types.js";

const TAGS = {
  store: 1,
  prepare: 2,
  accept: 3,
  getRecords: 4,
  getInfo: 5,
  trim: 6,
  release: 20,
  decided: 21,
  stored: 40,
  prepared: 41,
  acceptReply: 42,
  records: 43,
  info: 44,
  trimmed: 45,
  append: 60,
  getTail: 61,
  appended: 80,
  tail: 81,
} as const satisfies Record<LogletMessage["kind"], number>;

const KIND_BY_TAG = new Map<number, LogletMessage["kind"]>(
  Object.entries(TAGS).map(([kind, tag]) => [tag, kind as LogletMessage["kind"]]),
);

// ---- field writers ----

function writeLogletId(w: ByteWriter, id: LogletId): void {
  w.string(id);
}

function writeRequestHeader(w: ByteWriter, h: RequestHeader): void {
  writeLogletId(w, h.logletId);
  w.u53(h.knownGlobalTail);
}

function writeServerHeader(w: ByteWriter, h: ServerHeader): void {
  writeLogletId(w, h.logletId);
  w.u53(h.knownGlobalTail).u53(h.localTail).bool(h.sealed);
}

function writeNodeIncarnation(w: ByteWriter, id: GenerationalNodeId): void {
  w.u32(id.node).u32(id.generation);
}

function writeBallot(w: ByteWriter, b: Ballot): void {
  w.u53(b.round).u32(b.node).u32(b.generation);
}

function writeOptionalOffset(w: ByteWriter, value: number | undefined): void {
  w.bool(value !== undefined);
  if (value !== undefined) w.u53(value);
}

function writePayloads(w: ByteWriter, payloads: readonly Uint8Array[]): void {
  w.u32(payloads.length);
  for (const p of payloads) w.bytes(p);
}

/** Whether an encoded loglet message is a store request (read from its tag, without decoding it). */
export function isStoreRequest(payload: Uint8Array): boolean {
  return payload[0] === TAGS.store;
}

export function encodeLogletMessage(message: LogletMessage): Uint8Array {
  const w = new ByteWriter();
  w.u8(TAGS[message.kind]);
  switch (message.kind) {
    case "store":
      writeRequestHeader(w, message.header);
      writeNodeIncarnation(w, message.sequencer);
      w.u53(message.first).bool(message.repair);
      writePayloads(w, message.payloads);
      break;
    case "prepare":
      writeRequestHeader(w, message.header);
      writeBallot(w, message.ballot);
      break;
    case "accept":
      writeRequestHeader(w, message.header);
      writeBallot(w, message.ballot);
      w.u53(message.tail);
      break;
    case "getRecords":
      writeRequestHeader(w, message.header);
      w.u53(message.from).u53(message.toExclusive).u32(message.recordsMax).u32(message.bytesMax);
      break;
    case "getInfo":
    case "release":
      writeRequestHeader(w, message.header);
      break;
    case "trim":
      writeRequestHeader(w, message.header);
      w.u53(message.through);
      break;
    case "decided":
      writeRequestHeader(w, message.header);
      w.u53(message.tail);
      break;
    case "stored":
      writeServerHeader(w, message.header);
      w.u8(STORE_STATUSES.indexOf(message.status));
      break;
    case "prepared":
      writeServerHeader(w, message.header);
      w.bool(message.promised);
      writeBallot(w, message.promisedBallot);
      w.bool(message.accepted !== undefined);
      if (message.accepted !== undefined) {
        writeBallot(w, message.accepted.ballot);
        w.u53(message.accepted.tail);
      }
      writeOptionalOffset(w, message.chosenTail);
      w.u53(message.trimPoint);
      w.u32(message.batches.length);
      for (const b of message.batches) w.u53(b.first).u53(b.end);
      break;
    case "acceptReply":
      writeServerHeader(w, message.header);
      w.bool(message.accepted);
      writeBallot(w, message.promisedBallot);
      break;
    case "records":
      writeServerHeader(w, message.header);
      w.u53(message.trimPoint);
      w.u32(message.records.length);
      for (const r of message.records) w.u53(r.offset).bytes(r.payload);
      break;
    case "info":
      writeServerHeader(w, message.header);
      w.u53(message.trimPoint);
      writeOptionalOffset(w, message.chosenTail);
      break;
    case "trimmed":
      writeServerHeader(w, message.header);
      w.u53(message.trimPoint);
      break;
    case "append":
      writeLogletId(w, message.logletId);
      writePayloads(w, message.payloads);
      break;
    case "getTail":
      writeLogletId(w, message.logletId);
      break;
    case "appended":
      writeLogletId(w, message.logletId);
      w.u8(SEQUENCER_STATUSES.indexOf(message.status));
      w.u53(message.lastOffset).u53(message.knownGlobalTail).bool(message.sealed);
      break;
    case "tail":
      writeLogletId(w, message.logletId);
      w.u8(SEQUENCER_STATUSES.indexOf(message.status));
      w.u53(message.knownGlobalTail).bool(message.sealed);
      break;
    default:
      assertNever(message, "loglet message");
  }
  return w.finish();
}

// ---- field readers ----

function readLogletId(r: ByteReader): LogletId {
  const text = r.string();
  const id = parseLogletId(text);
  if (id === undefined) throw new DecodeError(`bad loglet id '${text}'`);
  return id;
}

function readRequestHeader(r: ByteReader): RequestHeader {
  return { logletId: readLogletId(r), knownGlobalTail: r.u53() };
}

function readServerHeader(r: ByteReader): ServerHeader {
  return {
    logletId: readLogletId(r),
    knownGlobalTail: r.u53(),
    localTail: r.u53(),
    sealed: r.bool(),
  };
}

function readNodeIncarnation(r: ByteReader): GenerationalNodeId {
  const node = r.u32();
  return generationalNodeId(node, r.u32());
}

function readBallot(r: ByteReader): Ballot {
  return { round: r.u53(), node: NodeId(r.u32()), generation: r.u32() };
}

function readOptionalOffset(r: ByteReader): number | undefined {
  return r.bool() ? r.u53() : undefined;
}

function readCount(r: ByteReader, what: string, remainingBytes: number, bytesEach: number): number {
  const count = r.u32();
  // Each element takes at least `bytesEach` bytes: a count larger than the input can hold is a lie.
  if (count * bytesEach > remainingBytes)
    throw new DecodeError(`implausible ${what} count ${count}`);
  return count;
}

function readPayloads(r: ByteReader, sourceBytes: number): Uint8Array[] {
  const count = readCount(r, "payload", sourceBytes, 4);
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) out.push(r.bytes());
  return out;
}

function readEnum<T>(r: ByteReader, values: readonly T[], what: string): T {
  const index = r.u8();
  const value = values[index];
  if (value === undefined) throw new DecodeError(`unknown ${what} ${index}`);
  return value;
}

export function decodeLogletMessage(bytes: Uint8Array): LogletMessage {
  const r = new ByteReader(bytes);
  const tag = r.u8();
  const kind = KIND_BY_TAG.get(tag);
  if (kind === undefined) throw new DecodeError(`unknown loglet message tag ${tag}`);
  let message: LogletMessage;
  switch (kind) {
    case "store": {
      const header = readRequestHeader(r);
      const sequencer = readNodeIncarnation(r);
      const first = r.u53();
      const repair = r.bool();
      message = {
        kind,
        header,
        sequencer,
        first,
        repair,
        payloads: readPayloads(r, bytes.length),
      };
      break;
    }
    case "prepare":
      message = { kind, header: readRequestHeader(r), ballot: readBallot(r) };
      break;
    case "accept":
      message = { kind, header: readRequestHeader(r), ballot: readBallot(r), tail: r.u53() };
      break;
    case "getRecords":
      message = {
        kind,
        header: readRequestHeader(r),
        from: r.u53(),
        toExclusive: r.u53(),
        recordsMax: r.u32(),
        bytesMax: r.u32(),
      };
      break;
    case "getInfo":
    case "release":
      message = { kind, header: readRequestHeader(r) };
      break;
    case "trim":
      message = { kind, header: readRequestHeader(r), through: r.u53() };
      break;
    case "decided":
      message = { kind, header: readRequestHeader(r), tail: r.u53() };
      break;
    case "stored":
      message = {
        kind,
        header: readServerHeader(r),
        status: readEnum<StoreStatus>(r, STORE_STATUSES, "store status"),
      };
      break;
    case "prepared": {
      const header = readServerHeader(r);
      const promised = r.bool();
      const promisedBallot = readBallot(r);
      let accepted: AcceptedTail | undefined;
      if (r.bool()) accepted = { ballot: readBallot(r), tail: r.u53() };
      const chosenTail = readOptionalOffset(r);
      const trimPoint = r.u53();
      const count = readCount(r, "batch", bytes.length, 16);
      const batches: OffsetRange[] = [];
      for (let i = 0; i < count; i++) batches.push({ first: r.u53(), end: r.u53() });
      message = {
        kind,
        header,
        promised,
        promisedBallot,
        accepted,
        chosenTail,
        trimPoint,
        batches,
      };
      break;
    }
    case "acceptReply":
      message = {
        kind,
        header: readServerHeader(r),
        accepted: r.bool(),
        promisedBallot: readBallot(r),
      };
      break;
    case "records": {
      const header = readServerHeader(r);
      const trimPoint = r.u53();
      const count = readCount(r, "record", bytes.length, 12);
      const records: StoredRecord[] = [];
      for (let i = 0; i < count; i++) records.push({ offset: r.u53(), payload: r.bytes() });
      message = { kind, header, trimPoint, records };
      break;
    }
    case "info":
      message = {
        kind,
        header: readServerHeader(r),
        trimPoint: r.u53(),
        chosenTail: readOptionalOffset(r),
      };
      break;
    case "trimmed":
      message = { kind, header: readServerHeader(r), trimPoint: r.u53() };
      break;
    case "append":
      message = { kind, logletId: readLogletId(r), payloads: readPayloads(r, bytes.length) };
      break;
    case "getTail":
      message = { kind, logletId: readLogletId(r) };
      break;
    case "appended":
      message = {
        kind,
        logletId: readLogletId(r),
        status: readEnum<SequencerStatus>(r, SEQUENCER_STATUSES, "sequencer status"),
        lastOffset: r.u53(),
        knownGlobalTail: r.u53(),
        sealed: r.bool(),
      };
      break;
    case "tail":
      message = {
        kind,
        logletId: readLogletId(r),
        status: readEnum<SequencerStatus>(r, SEQUENCER_STATUSES, "sequencer status"),
        knownGlobalTail: r.u53(),
        sealed: r.bool(),
      };
      break;
    default:
      assertNever(kind, "loglet message kind");
  }
  r.end();
  return message;
}
