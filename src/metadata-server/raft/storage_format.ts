/**
 * The on-disk format of a member's Raft state, and its recovery. Pure: the production adapter
 * (src/metadata-server/io/raft_file_storage.ts) and the simulator's disk twin (src/sim/metadata/) write the
 * same bytes and recover through the same code, so the simulator's torn writes test this recovery.
 *
 * Two files:
 * - the snapshot file holds one frame with the latest snapshot. It is replaced atomically (write a
 *   temporary file, sync, rename), so it is either the old or the new snapshot, never a mix.
 * - the log file is a sequence of frames in Keel's one frame format (src/wire/frames.ts), appended
 *   and synced per ready; a payload is a hard state or a run of entries.
 *   A run of entries replaces every entry at or after its first index (Raft's truncation).
 *   After a snapshot is persisted, the log file is rewritten (atomically) with only the hard state
 *   and the entries after the snapshot.
 *
 * Write order inside one ready: snapshot file (if any), then in the log file the entries, then the
 * hard state, then one sync. A crash may tear the last frames: recovery keeps the frames before the
 * torn tail (and refuses damage that is not one), and the member then rewrites the log file from
 * what it recovered (so a torn tail never sits in front of new frames).
 *
 * Why entries before the hard state: a hard state's commit index must only ever name entries that
 * are durable in front of it. A ready that replaces a divergent suffix (entries 37.. of term 8 over
 * 37..41 of term 7) often also raises the commit to 37; written the other way round, a tear that
 * kept the hard state but lost the entries left commit 37 naming the old term-7 entry, which the
 * member then applied (simulation seed 1687768873). Written in this order, a tear keeps at most
 * entries without the hard state that followed them: their term may then be above the recovered
 * term, and recovery raises the term to theirs with no vote (a vote in that term was never sent:
 * votes leave only after the sync, and a synced hard state is never torn).
 */

import { assert, concatBytes, KeelError } from "../../core/index.js";
import {
  RAFT_CODEC_FORMAT,
  readEntry,
  readHardState,
  readSnapshot,
  writeEntry,
  writeHardState,
  writeSnapshot,
} from "./codec.js";
import {
  ByteReader,
  ByteWriter,
  encodeFrame,
  fileHeader,
  judgeLastFile,
} from "../../wire/index.js";
import type { RaftRecovered } from "./raft.js";
import {
  EMPTY_HARD_STATE,
  EMPTY_SNAPSHOT,
  LogIndex,
  NO_MEMBER,
  Term,
  type Entry,
  type HardState,
  type Snapshot,
} from "./types.js";

/** A frame claiming more than this is damage, not data. */
export const STORAGE_FRAME_BYTES_MAX = 256 * 1024 * 1024;

const RECORD_HARD_STATE = 1;
const RECORD_ENTRIES = 2;
const RECORD_SNAPSHOT = 3;

export type LogRecord =
  | { readonly kind: "hardState"; readonly hardState: HardState }
  | { readonly kind: "entries"; readonly entries: readonly Entry[] };

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
  return out.finish();
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

export function encodeSnapshotFile(snapshot: Snapshot): Uint8Array {
  const out = new ByteWriter().u32(RAFT_CODEC_FORMAT).u53(RECORD_SNAPSHOT);
  writeSnapshot(out, snapshot);
  return concatBytes([fileHeader(1), encodeFrame(1, out.finish())]);
}

function decodeSnapshotFile(bytes: Uint8Array): Snapshot {
  const judged = judgeLastFile(bytes, 1, STORAGE_FRAME_BYTES_MAX);
  const payload = judged.kind === "intact" ? judged.frames[0]?.payload : undefined;
  if (payload === undefined || judged.kind !== "intact" || judged.frames.length !== 1) {
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
  const payloads = logPayloads(logBytes);
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
  const logTerm = Math.max(snapshot.term, entries.at(-1)?.term ?? 0);
  if (logTerm > hardState.term) {
    // The hard state written after these entries was torn off (see the write order above).
    return { hardState: { term: Term(logTerm), vote: NO_MEMBER, commit }, snapshot, entries };
  }
  return { hardState: { ...hardState, commit }, snapshot, entries };
}

/**
 * The records of the log file. It is written whole (atomically) at every open and after snapshots,
 * then appended to: a crash can tear only its last appends, which are cut (a torn tail); damage that
 * intact frames follow, or a damaged header, means durable entries are gone, and the member refuses
 * to start rather than forget what it voted for or acknowledged.
 */
function logPayloads(bytes: Uint8Array | undefined): Uint8Array[] {
  if (bytes === undefined) return [];
  const judged = judgeLastFile(bytes, 1, STORAGE_FRAME_BYTES_MAX);
  if (judged.kind === "intact") return judged.frames.map((f) => f.payload);
  if (judged.kind === "torn" && !judged.headerDamaged) return judged.frames.map((f) => f.payload);
  const where = judged.headerDamaged
    ? "its header is damaged"
    : `frame ${judged.damagedFrame} at byte ${judged.end} is corrupt`;
  const why = judged.kind === "damaged" ? `, but ${judged.reason}` : "";
  throw new KeelError("storage", `the raft log file: ${where}${why}; refusing to recover`);
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

/** What storage must make durable for one ready, in this order: snapshot, entries, hard state. */
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
  /** The number of the next frame of the log file (frames are numbered from 1 in each rewrite). */
  private nextFrame = 1;

  constructor(recovered: RaftRecovered) {
    this.hardState = recovered.hardState;
    this.snapshot = recovered.snapshot;
    this.entries = [...recovered.entries];
  }

  /** The whole log file, written from scratch (on open, and after a snapshot). */
  logFile(): Uint8Array[] {
    this.nextFrame = 1;
    return [fileHeader(1), ...this.records(this.hardState, this.entries)];
  }

  /** The frames to append for one ready: entries first, then the hard state (see the write order). */
  private records(hardState: HardState | undefined, entries: readonly Entry[]): Uint8Array[] {
    const out: Uint8Array[] = [];
    const frame = (record: LogRecord): void => {
      out.push(encodeFrame(this.nextFrame++, encodeLogRecord(record)));
    };
    if (entries.length > 0) frame({ kind: "entries", entries });
    if (hardState !== undefined) frame({ kind: "hardState", hardState });
    return out;
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
    const logAppend = this.records(work.hardState, work.entries);
    return { snapshotFile, logRewrite, logAppend };
  }
}
