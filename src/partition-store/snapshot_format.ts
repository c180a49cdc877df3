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
export function encodeSnapshot(entries: Iterable<readonly [string, Uint8Array]>): EncodedSnapshot {
  const hash = new Sha256();
  const parts: Uint8Array[] = [];
  let bytes = 0;
  const emit = (part: Uint8Array): void => {
    parts.push(part);
    hash.update(part);
    bytes += part.length;
  };
  emit(fileHeader(1));
  let frame = new ByteWriter();
  let frameBytes = 0;
  let frames = 0;
  let count = 0;
  const flush = (): void => {
    if (frameBytes === 0) return;
    emit(encodeFrame(++frames, frame.finish()));
    frame = new ByteWriter();
    frameBytes = 0;
  };
  for (const [key, value] of entries) {
    // Keys are ASCII (keys.ts): their length is their size.
    frame.string(key).bytes(value);
    frameBytes += 8 + key.length + value.length;
    count++;
    if (frameBytes >= SNAPSHOT_FRAME_BYTES) flush();
  }
  flush();
  return { parts, entries: count, bytes, sha256: toHex(hash.digest()) };
}

/** Encodes a consistent copy of `store` and reads the applied LSN the copy records. */
export function snapshotStore(store: PartitionStore): EncodedSnapshot & { appliedLsn: number } {
  let fsm: Uint8Array | undefined;
  const encoded = encodeSnapshot(
    (function* () {
      for (const entry of store.exportEntries()) {
        if (entry[0] === FSM_KEY) fsm = entry[1];
        yield entry;
      }
    })(),
  );
  const copy = new TableReader({
    get: (key) => (key === FSM_KEY ? fsm : undefined),
    scan: () => [],
  });
  return { ...encoded, appliedLsn: copy.fsm().appliedLsn };
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
