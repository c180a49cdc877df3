/**
 * The on-disk format of a member's Raft state, and its recovery. Pure: the production adapter
 * (src/metadata-server/io/raft_file_storage.ts) and the simulator's disk twin (src/sim/metadata/) write the
 * same bytes and recover through the same code, so the simulator's torn writes test this recovery.
 *
 * Two files:
 * - the snapshot file holds one frame with the latest snapshot. It is replaced atomically (write a
 *   temporary file, sync, rename), so it is either the old or the new snapshot, never a mix.
 * - the log file is a sequence of frames, appended and synced per ready. A frame is
 *   `u32 payload length | u32 checksum | payload`; a payload is a hard state or a run of entries.
 *   A run of entries replaces every entry at or after its first index (Raft's truncation).
 *   After a snapshot is persisted, the log file is rewritten (atomically) with only the hard state
 *   and the entries after the snapshot.
 *
 * Write order inside one ready: snapshot file (if any), then in the log file the hard state, then
 * the entries, then one sync. A crash may tear the last frames: recovery keeps the longest valid
 * prefix of frames, and the member then rewrites the log file from what it recovered (so a torn
 * tail never sits in front of new frames). Because the hard state is written before the entries, a torn write never leaves
 * entries of a term newer than the recovered term; the recovered commit index is clamped to the
 * recovered log (a commit that names lost entries was never acknowledged to anyone: acknowledgements
 * leave only after the sync).
 */

import { assert, readU32BE, writeU32BE, KeelError, murmur3x86_128 } from "../../core/index.js";
import {
  RAFT_CODEC_FORMAT,
  readEntry,
  readHardState,
  readSnapshot,
  writeEntry,
  writeHardState,
  writeSnapshot,
} from "./codec.js";
import { ByteReader, ByteWriter } from "../../wire/index.js";
import type { RaftRecovered } from "./raft.js";
import {
  EMPTY_HARD_STATE,
  EMPTY_SNAPSHOT,
  LogIndex,
  type Entry,
  type HardState,
  type Snapshot,
} from "./types.js";

const FRAME_HEADER_BYTES = 8;
/** A frame claiming more than this is damage, not data. */
export const STORAGE_FRAME_BYTES_MAX = 256 * 1024 * 1024;

const RECORD_HARD_STATE = 1;
const RECORD_ENTRIES = 2;
const RECORD_SNAPSHOT = 3;

export type LogRecord =
  | { readonly kind: "hardState"; readonly hardState: HardState }
  | { readonly kind: "entries"; readonly entries: readonly Entry[] };

function checksum(payload: Uint8Array): number {
  return murmur3x86_128(payload, payload.length)[0];
}

function frame(payload: Uint8Array): Uint8Array {
  assert(
    payload.length <= STORAGE_FRAME_BYTES_MAX,
    `frame of ${payload.length} bytes is too large`,
  );
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  writeU32BE(out, 0, payload.length);
  writeU32BE(out, 4, checksum(payload));
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/** Splits bytes into the payloads of valid frames; stops at the first torn or damaged frame. */
function readFrames(bytes: Uint8Array): { payloads: Uint8Array[]; validBytes: number } {
  const payloads: Uint8Array[] = [];
  let at = 0;
  while (bytes.length - at >= FRAME_HEADER_BYTES) {
    const length = readU32BE(bytes, at);
    if (length > STORAGE_FRAME_BYTES_MAX || bytes.length - at - FRAME_HEADER_BYTES < length) break;
    const payload = bytes.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length);
    if (checksum(payload) !== readU32BE(bytes, at + 4)) break;
    payloads.push(payload);
    at += FRAME_HEADER_BYTES + length;
  }
  return { payloads, validBytes: at };
}

export function encodeLogRecord(record: LogRecord): Uint8Array {
  const out = new ByteWriter().u32(RAFT_CODEC_FORMAT);
  switch (record.kind) {
    case "hardState":
      out.u53(RECORD_HARD_STATE);
      writeHardState(out, record.hardState);
      break;
    case "entries":
      assert(record.entries.length > 0, "an entries record is not empty");
      out.u53(RECORD_ENTRIES).count(record.entries.length);
      for (const entry of record.entries) writeEntry(out, entry);
      break;
  }
  return frame(out.finish());
}

function decodeLogRecord(payload: Uint8Array): LogRecord {
  const input = new ByteReader(payload, "raft log record");
  input.version(RAFT_CODEC_FORMAT);
  const kind = input.u53();
  let record: LogRecord;
  if (kind === RECORD_HARD_STATE) {
    record = { kind: "hardState", hardState: readHardState(input) };
  } else if (kind === RECORD_ENTRIES) {
    const entries: Entry[] = [];
    for (let n = input.count(); n > 0; n--) entries.push(readEntry(input));
    record = { kind: "entries", entries };
  } else {
    throw new KeelError("storage", `raft log record of unknown kind ${kind}`);
  }
  input.end();
  return record;
}

/** The bytes to append to the log file for one ready: hard state first, then entries. */
export function encodeReadyRecords(
  hardState: HardState | undefined,
  entries: readonly Entry[],
): Uint8Array[] {
  const out: Uint8Array[] = [];
  if (hardState !== undefined) out.push(encodeLogRecord({ kind: "hardState", hardState }));
  if (entries.length > 0) out.push(encodeLogRecord({ kind: "entries", entries }));
  return out;
}

export function encodeSnapshotFile(snapshot: Snapshot): Uint8Array {
  const out = new ByteWriter().u32(RAFT_CODEC_FORMAT).u53(RECORD_SNAPSHOT);
  writeSnapshot(out, snapshot);
  return frame(out.finish());
}

function decodeSnapshotFile(bytes: Uint8Array): Snapshot {
  const { payloads, validBytes } = readFrames(bytes);
  const payload = payloads[0];
  if (payload === undefined || payloads.length !== 1 || validBytes !== bytes.length) {
    // The snapshot file is replaced atomically: damage here is not a torn write.
    throw new KeelError("storage", "the raft snapshot file is damaged");
  }
  const input = new ByteReader(payload, "raft snapshot");
  input.version(RAFT_CODEC_FORMAT);
  if (input.u53() !== RECORD_SNAPSHOT) {
    throw new KeelError("storage", "the raft snapshot file holds no snapshot");
  }
  const snapshot = readSnapshot(input);
  input.end();
  return snapshot;
}

/** Rebuilds a member's Raft state from the two files (undefined when a file does not exist). */
export function recoverStorage(
  snapshotBytes: Uint8Array | undefined,
  logBytes: Uint8Array | undefined,
): RaftRecovered {
  const snapshot = snapshotBytes === undefined ? EMPTY_SNAPSHOT : decodeSnapshotFile(snapshotBytes);
  const { payloads } = readFrames(logBytes ?? new Uint8Array(0));
  let hardState = EMPTY_HARD_STATE;
  let entries: Entry[] = [];
  for (const payload of payloads) {
    const record = decodeLogRecord(payload);
    if (record.kind === "hardState") {
      hardState = record.hardState;
      continue;
    }
    const first = record.entries[0]!;
    const last = entries.at(-1);
    if (last !== undefined && first.index > last.index + 1) {
      throw new KeelError("storage", `raft log has a gap before entry ${first.index}`);
    }
    entries = entries.filter((e) => e.index < first.index).concat(record.entries);
  }
  entries = entriesAfterSnapshot(entries, snapshot);
  const lastIndex = snapshot.index + entries.length;
  const commit = LogIndex(Math.min(Math.max(hardState.commit, snapshot.index), lastIndex));
  const term = hardState.term >= snapshot.term ? hardState.term : snapshot.term;
  return { hardState: { ...hardState, term, commit }, snapshot, entries };
}

/**
 * Keeps the entries that continue the snapshot. Entries at or below it are covered by it; if the log
 * disagrees with the snapshot at its index (the snapshot came from a leader and replaced a divergent
 * log), or leaves a gap after it, none of the log is kept.
 */
function entriesAfterSnapshot(entries: Entry[], snapshot: Snapshot): Entry[] {
  if (snapshot.index === 0) return entries;
  const atSnapshot = entries.find((e) => e.index === snapshot.index);
  if (atSnapshot !== undefined && atSnapshot.term !== snapshot.term) return [];
  const after = entries.filter((e) => e.index > snapshot.index);
  if (after.length > 0 && after[0]!.index !== snapshot.index + 1) return [];
  return after;
}

/** What storage must make durable for one ready, in this order: snapshot, hard state, entries. */
export interface PersistWork {
  readonly snapshot: Snapshot | undefined;
  readonly hardState: HardState | undefined;
  /** Replaces stored entries from entries[0].index onwards. */
  readonly entries: readonly Entry[];
}

/**
 * The file operations that make one PersistWork durable, in order: replace the snapshot file
 * (atomically, synced) if `snapshotFile` is set; replace the log file with `logRewrite` if set;
 * append `logAppend`; sync the log file.
 */
export interface StorageWrites {
  readonly snapshotFile: Uint8Array | undefined;
  readonly logRewrite: readonly Uint8Array[] | undefined;
  readonly logAppend: readonly Uint8Array[];
}

/**
 * Tracks what the two files hold (the hard state, the snapshot and the entries after it) and plans
 * the writes for each PersistWork. Shared by the production adapter and the simulator's disk twin,
 * so both lay out bytes identically.
 */
export class StoragePlanner {
  private hardState: HardState;
  private snapshot: Snapshot;
  private entries: Entry[];

  constructor(recovered: RaftRecovered) {
    this.hardState = recovered.hardState;
    this.snapshot = recovered.snapshot;
    this.entries = [...recovered.entries];
  }

  /** The whole log file, written from scratch (on open, and after a snapshot). */
  logFile(): Uint8Array[] {
    return encodeReadyRecords(this.hardState, this.entries);
  }

  plan(work: PersistWork): StorageWrites {
    let snapshotFile: Uint8Array | undefined;
    let logRewrite: Uint8Array[] | undefined;
    if (work.snapshot !== undefined) {
      assert(work.snapshot.index >= this.snapshot.index, "snapshots only move forward");
      this.snapshot = work.snapshot;
      this.entries = entriesAfterSnapshot(this.entries, work.snapshot);
      snapshotFile = encodeSnapshotFile(work.snapshot);
      logRewrite = this.logFile();
    }
    if (work.hardState !== undefined) this.hardState = work.hardState;
    const first = work.entries[0];
    if (first !== undefined) {
      const last = this.snapshot.index + this.entries.length;
      assert(first.index > this.snapshot.index, `entry ${first.index} is covered by the snapshot`);
      assert(first.index <= last + 1, `entry ${first.index} leaves a gap after ${last}`);
      this.entries = this.entries.filter((e) => e.index < first.index).concat(work.entries);
    }
    const logAppend = encodeReadyRecords(work.hardState, work.entries);
    return { snapshotFile, logRewrite, logAppend };
  }
}
