/**
 * The snapshot of a partition store: every entry in key order, at the applied LSN the entries
 * themselves record, in Keel's one frame-and-checksum format (wire/frames.ts): a file header, then
 * frames numbered from 1, each holding up to `SNAPSHOT_FRAME_BYTES` of entries
 * (`u32 key length | key | u32 value length | value`). The manifest says what the data is (cluster,
 * partition, key range, LSN, counts, size) and carries the SHA-256 of the data, so a damaged or
 * swapped snapshot is refused as a whole.
 */

import { Sha256, toHex } from "../core/index.js";
import { FSM_KEY } from "./keys.js";
import type { PartitionStore } from "./store.js";
import { TableReader } from "./tables.js";
import {
  ByteReader,
  ByteWriter,
  DecodeError,
  FILE_HEADER_BYTES,
  encodeFrame,
  fileHeader,
  fileHeaderMatches,
  parseFrames,
} from "../wire/index.js";

export const SNAPSHOT_FORMAT_VERSION = 1;
/** Entries are grouped into frames of about this size (a larger single entry gets its own frame). */
const SNAPSHOT_FRAME_BYTES = 1024 * 1024;
const SNAPSHOT_FRAME_BYTES_MAX = 512 * 1024 * 1024;

export interface SnapshotManifest {
  readonly formatVersion: number;
  readonly snapshotId: string;
  readonly clusterName: string;
  readonly nodeName: string;
  readonly partitionId: number;
  /** The partition's keys, inclusive, as decimal strings (u64). */
  readonly keyRange: { readonly from: string; readonly to: string };
  /** The store holds exactly the records of the partition's log up to this LSN. */
  readonly appliedLsn: number;
  readonly createdAtMs: number;
  readonly entries: number;
  readonly bytes: number;
  /** SHA-256 of the data, in hex. */
  readonly sha256: string;
}

export interface EncodedSnapshot {
  readonly parts: Uint8Array[];
  readonly entries: number;
  readonly bytes: number;
  readonly sha256: string;
}

/** Encodes a store's entries (in key order) as snapshot data. */
/** Builds snapshot data entry by entry (in key order), a frame at a time. */
export class SnapshotEncoder {
  private readonly hash = new Sha256();
  private readonly parts: Uint8Array[] = [];
  private bytes = 0;
  private frame = new ByteWriter();
  private frameBytes = 0;
  private frames = 0;
  private entries = 0;

  constructor() {
    this.emit(fileHeader(1));
  }

  /** Adds an entry; true when it completed a frame (a good moment to let other work run). */
  push(key: string, value: Uint8Array): boolean {
    // Keys are ASCII (keys.ts): their length is their size.
    this.frame.string(key).bytes(value);
    this.frameBytes += 8 + key.length + value.length;
    this.entries++;
    if (this.frameBytes < SNAPSHOT_FRAME_BYTES) return false;
    this.flush();
    return true;
  }

  finish(): EncodedSnapshot {
    this.flush();
    return {
      parts: this.parts,
      entries: this.entries,
      bytes: this.bytes,
      sha256: toHex(this.hash.digest()),
    };
  }

  private flush(): void {
    if (this.frameBytes === 0) return;
    this.emit(encodeFrame(++this.frames, this.frame.finish()));
    this.frame = new ByteWriter();
    this.frameBytes = 0;
  }

  private emit(part: Uint8Array): void {
    this.parts.push(part);
    this.hash.update(part);
    this.bytes += part.length;
  }
}

/** Encodes a store's entries (in key order) as snapshot data. */
export function encodeSnapshot(entries: Iterable<readonly [string, Uint8Array]>): EncodedSnapshot {
  const encoder = new SnapshotEncoder();
  for (const [key, value] of entries) encoder.push(key, value);
  return encoder.finish();
}

/**
 * Encodes a consistent copy of `store` and reads the applied LSN the copy records. `pause` is awaited
 * after every frame, so that a large store is copied without holding up the partition's work.
 */
export async function snapshotStore(
  store: PartitionStore,
  pause: () => Promise<void>,
): Promise<EncodedSnapshot & { appliedLsn: number }> {
  let fsm: Uint8Array | undefined;
  const encoder = new SnapshotEncoder();
  for (const [key, value] of store.exportEntries()) {
    if (key === FSM_KEY) fsm = value;
    if (encoder.push(key, value)) await pause();
  }
  const copy = new TableReader({
    get: (key) => (key === FSM_KEY ? fsm : undefined),
    scan: () => [],
  });
  return { ...encoder.finish(), appliedLsn: copy.fsm().appliedLsn };
}

/**
 * The entries of snapshot data, checked against its manifest (size, SHA-256, every frame's checksum
 * and number, the count of entries). Throws DecodeError when anything disagrees.
 */
export function decodeSnapshot(
  data: Uint8Array,
  manifest: SnapshotManifest,
): [string, Uint8Array][] {
  if (data.length !== manifest.bytes) {
    throw new DecodeError(
      `snapshot data of ${data.length} bytes, the manifest says ${manifest.bytes}`,
    );
  }
  const digest = toHex(new Sha256().update(data).digest());
  if (digest !== manifest.sha256) {
    throw new DecodeError(
      `snapshot data's SHA-256 is ${digest}, the manifest says ${manifest.sha256}`,
    );
  }
  if (!fileHeaderMatches(data, 1)) throw new DecodeError("snapshot data has no file header");
  const entries: [string, Uint8Array][] = [];
  const body = data.subarray(FILE_HEADER_BYTES);
  const parsed = parseFrames(
    body,
    1,
    FILE_HEADER_BYTES,
    SNAPSHOT_FRAME_BYTES_MAX,
    (_n, _p, payload) => {
      const reader = new ByteReader(payload, "snapshot frame");
      while (!reader.atEnd()) entries.push([reader.string(), reader.bytes()]);
    },
  );
  if (!parsed.valid || parsed.consumed !== body.length) {
    throw new DecodeError(
      `snapshot data is damaged at byte ${FILE_HEADER_BYTES + parsed.consumed}`,
    );
  }
  if (entries.length !== manifest.entries) {
    throw new DecodeError(
      `snapshot holds ${entries.length} entries, the manifest says ${manifest.entries}`,
    );
  }
  return entries;
}

/** A manifest read from JSON, with every field checked; throws DecodeError otherwise. */
export function parseSnapshotManifest(text: string): SnapshotManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new DecodeError("a snapshot manifest is not JSON");
  }
  if (typeof value !== "object" || value === null) {
    throw new DecodeError("a snapshot manifest is not a JSON object");
  }
  const m = value as Record<string, unknown>;
  const isCount = (v: unknown): v is number =>
    typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
  const range = m.keyRange as Record<string, unknown> | undefined;
  const valid =
    m.formatVersion === SNAPSHOT_FORMAT_VERSION &&
    typeof m.snapshotId === "string" &&
    typeof m.clusterName === "string" &&
    typeof m.nodeName === "string" &&
    isCount(m.partitionId) &&
    typeof range === "object" &&
    range !== null &&
    typeof range.from === "string" &&
    typeof range.to === "string" &&
    isCount(m.appliedLsn) &&
    isCount(m.createdAtMs) &&
    isCount(m.entries) &&
    isCount(m.bytes) &&
    typeof m.sha256 === "string" &&
    /^[0-9a-f]{64}$/.test(m.sha256);
  if (!valid)
    throw new DecodeError("a snapshot manifest lacks a field or has one of the wrong type");
  return m as unknown as SnapshotManifest;
}
