/**
 * A lazy, read-only view of a stored `InvocationStatus` for SQL scans: one pass over the top-level
 * protobuf fields records scalars and the byte ranges of sub-messages, which are decoded only when a
 * column asks for them. A query that needs only `status` (the CLI's counts) or times never decodes
 * targets, sources or results: scanning 100,000 statuses costs a fraction of full decoding.
 *
 * Field numbers are those of `InvocationStatus` in proto/keel/records.proto; `status_view.test.ts`
 * checks the view against the generated decoder.
 */

import {
  PinnedDeployment,
  type InvocationPhase,
  Result,
  Source,
  Target,
  WaitSet,
} from "../gen/keel/records.js";
import { Failure } from "../gen/keel/service_protocol.js";

const FIELD = {
  phase: 1,
  target: 2,
  source: 3,
  idempotencyKey: 5,
  createdAtMs: 6,
  modifiedAtMs: 7,
  inboxedAtMs: 8,
  scheduledAtMs: 9,
  runningAtMs: 10,
  completedAtMs: 11,
  executionTimeMs: 12,
  journalLength: 13,
  commandCount: 14,
  pinned: 15,
  waiting: 16,
  result: 18,
  completionRetentionMs: 19,
  journalRetentionMs: 20,
  lastFailure: 22,
  journalPurged: 24,
} as const;
const FIELDS_MAX = 32;

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

const textDecoder = new TextDecoder();

export class StatusView {
  /** Varint values by field number (0 when absent, as proto3 defaults). */
  private readonly numbers = new Float64Array(FIELDS_MAX);
  /** [start, end) of length-delimited fields by field number; the last occurrence wins. */
  private readonly starts = new Int32Array(FIELDS_MAX).fill(-1);
  private readonly ends = new Int32Array(FIELDS_MAX);
  private cachedTarget: Target | undefined;
  private bytes: Uint8Array = new Uint8Array(0);

  constructor(bytes?: Uint8Array) {
    if (bytes !== undefined) this.load(bytes);
  }

  /** Points the view at another status (a scan reuses one view for every row). */
  load(bytes: Uint8Array): this {
    this.bytes = bytes;
    this.numbers.fill(0);
    this.starts.fill(-1);
    this.cachedTarget = undefined;
    let at = 0;
    while (at < bytes.length) {
      const [tag, afterTag] = readVarint(bytes, at);
      at = afterTag;
      const field = Math.floor(tag / 8);
      switch (tag & 7) {
        case WIRE_VARINT: {
          const [value, next] = readVarint(bytes, at);
          if (field < FIELDS_MAX) this.numbers[field] = value;
          at = next;
          break;
        }
        case WIRE_LEN: {
          const [length, start] = readVarint(bytes, at);
          if (field < FIELDS_MAX) {
            this.starts[field] = start;
            this.ends[field] = start + length;
          }
          at = start + length;
          break;
        }
        case WIRE_I64:
          at += 8;
          break;
        case WIRE_I32:
          at += 4;
          break;
        default:
          throw new Error(`invocation status: unsupported wire type ${tag & 7} of field ${field}`);
      }
    }
    return this;
  }

  private sub(field: number): Uint8Array | undefined {
    const start = this.starts[field]!;
    return start < 0 ? undefined : this.bytes.subarray(start, this.ends[field]);
  }

  get phase(): InvocationPhase {
    return this.numbers[FIELD.phase] as InvocationPhase;
  }

  get target(): Target {
    this.cachedTarget ??= Target.decode(this.sub(FIELD.target) ?? new Uint8Array(0));
    return this.cachedTarget;
  }

  get source(): Source | undefined {
    const raw = this.sub(FIELD.source);
    return raw === undefined ? undefined : Source.decode(raw);
  }

  /** Undefined when the invocation has none; an empty key is a key. */
  get idempotencyKey(): string | undefined {
    const raw = this.sub(FIELD.idempotencyKey);
    return raw === undefined ? undefined : textDecoder.decode(raw);
  }

  get pinned(): PinnedDeployment | undefined {
    const raw = this.sub(FIELD.pinned);
    return raw === undefined ? undefined : PinnedDeployment.decode(raw);
  }

  get waiting(): WaitSet | undefined {
    const raw = this.sub(FIELD.waiting);
    return raw === undefined ? undefined : WaitSet.decode(raw);
  }

  get result(): Result | undefined {
    const raw = this.sub(FIELD.result);
    return raw === undefined ? undefined : Result.decode(raw);
  }

  get lastFailure(): Failure | undefined {
    const raw = this.sub(FIELD.lastFailure);
    return raw === undefined ? undefined : Failure.decode(raw);
  }

  get journalPurged(): boolean {
    return this.numbers[FIELD.journalPurged] !== 0;
  }

  /** A numeric field by name (times, lengths, retentions). */
  number(
    name:
      | "createdAtMs"
      | "modifiedAtMs"
      | "inboxedAtMs"
      | "scheduledAtMs"
      | "runningAtMs"
      | "completedAtMs"
      | "executionTimeMs"
      | "journalLength"
      | "commandCount"
      | "completionRetentionMs"
      | "journalRetentionMs",
  ): number {
    return this.numbers[FIELD[name]]!;
  }
}

/** A varint as a number (exact below 2^53, which every field here stays under) and the next offset. */
function readVarint(bytes: Uint8Array, start: number): [number, number] {
  let value = 0;
  let scale = 1;
  let at = start;
  for (;;) {
    if (at >= bytes.length) throw new Error("invocation status: truncated varint");
    const byte = bytes[at++]!;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return [value, at];
    scale *= 128;
  }
}
