/**
 * The segment-file engine: an append-only sequence of numbered frames in rolled segment files, with
 * group commit and torn-tail recovery. The `local` loglet stores one record per frame (frame number =
 * loglet offset); a log server stores one entry per frame for all its loglets (src/bifrost/loglet_store.ts).
 *
 * Layout: a directory of files named by the number of their first frame
 * (`00000000000000000001.seg`). A file starts with a 16-byte header (magic, first frame number)
 * followed by frames `u32 payload length | u32 crc32(length, number, payload) | u64 number | payload`.
 *
 * Durability: appends are queued; one flush at a time writes every queued append with a single
 * `writev` to a file opened with O_DSYNC, so the write returns once its data is durable (group commit:
 * one trip to libuv's thread pool instead of a `writev` and an `fdatasync`, each waiting for a turn of
 * a busy event loop), then resolves them in order. Frame numbers are assigned when a flush starts,
 * so a failed write (disk full) gives its numbers to the next flush and never leaves a hole: the file
 * is cut back to its size before the failed write. A file is rolled only between flushes, when
 * everything before is durable, so a later file never holds frames that an earlier file lost.
 *
 * Recovery: the last file is scanned up to the first frame that is incomplete or fails its checksum
 * or number check. One flush at a time writes at the end of the file, so what a crash leaves
 * unfinished is the end of the file (a torn tail). Damage is a torn tail only if no intact later frame
 * follows it and the node did not stop cleanly with the file at its current size (a clean stop
 * records the last file's size in `CLEAN`: every frame then was durable); otherwise recovery refuses
 * (a clear error) rather than cut durable records. A torn tail is not cut at open: it is cut just
 * before the first write (or by `cutDamagedTail`), so that a start the layers above refuse (a
 * partition store that applied records in the damaged frame) leaves the file as it found it.
 * Older files are verified when read.
 * Garbage: whole files are unlinked once every frame in them is dead (`dropFilesBelow`), never the last.
 *
 * Why one file of this length: recovery, appends, reads and garbage collection share the file list,
 * the write cursor and the pending repair of a torn tail; the format and the judgement of damage are
 * pure, in src/wire/frames.ts.
 */

import { constants } from "node:fs";
import { open, mkdir, readFile, readdir, rm, stat, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { assert, KeelError, describeError, limits } from "../../core/index.js";
import { fsyncDir, writeFileDurably } from "./durable_files.js";
import {
  FILE_HEADER_BYTES,
  FRAME_HEADER_BYTES,
  fileHeader,
  frameHeader,
  judgeLastFile,
  parseFrames,
} from "../../wire/index.js";

/** Written at a clean close: the last file's name and size, all of it durable. */
const CLEAN_FILE = "CLEAN";
const SEGMENT_FILE_SUFFIX = ".seg";
const READ_CHUNK_BYTES = 1024 * 1024;

export interface SegmentFilesOptions {
  /** Roll to a new file once the active one is larger than this. */
  readonly segmentBytesTarget?: number;
  /** Skip fdatasync (benchmarks of upper layers only; never the default). */
  readonly noSync?: boolean;
  /** The number of the first frame when the directory holds no file yet. */
  readonly firstFrameIfEmpty?: number;
  /** Told when a torn tail found at open is cut (before the first write). */
  readonly onTailCut?: (tail: DamagedTail) => void;
  /**
   * Treat any damage in the last file as a torn tail, even where durable frames are known to sit in
   * or behind it: the operator accepts losing them (`keel-replay --accept-damaged-tail`).
   */
  readonly acceptDamagedTail?: boolean;
}

interface SegmentFile {
  readonly first: number;
  readonly path: string;
  /** Byte position of each frame; index = number − first. Undefined until scanned. */
  positions: number[] | undefined;
  size: number;
}

interface PendingAppend {
  readonly payloads: readonly Uint8Array[];
  readonly bytes: number;
  resolve(last: number): void;
  reject(error: unknown): void;
}

export interface Frame {
  readonly number: number;
  readonly payload: Uint8Array;
}

/** A damaged end of the last file that recovery judged a torn write, not yet cut. */
export interface DamagedTail {
  readonly path: string;
  /** Where the first damaged frame starts (the file is cut to this size). */
  readonly at: number;
  /** The number the first damaged frame would have. */
  readonly frame: number;
  /** Bytes from `at` to the end of the file. */
  readonly bytes: number;
}

export function describeDamagedTail(tail: DamagedTail): string {
  return `${tail.path}: frame ${tail.frame} at byte ${tail.at} is damaged (${tail.bytes} bytes to the end of the file)`;
}

/** The bytes `payloads` take once framed, or the error for a payload over the record limit. */
export function framedBytes(payloads: readonly Uint8Array[]): number | KeelError {
  let bytes = 0;
  for (const payload of payloads) {
    if (payload.length > limits.logRecordBytesMax) {
      return new KeelError(
        "payload_too_large",
        `record of ${payload.length} bytes exceeds ${limits.logRecordBytesMax}`,
      );
    }
    bytes += payload.length + FRAME_HEADER_BYTES;
  }
  return bytes;
}

const fileName = (first: number): string =>
  `${String(first).padStart(20, "0")}${SEGMENT_FILE_SUFFIX}`;

export class SegmentFiles {
  private files: SegmentFile[] = [];
  private active: { file: SegmentFile; handle: FileHandle } | undefined;
  /** Number of the next frame; every frame below it is durable. */
  private next = 1;
  private queue: PendingAppend[] = [];
  /** The running flush loop, if any; resolves when the queue has drained. */
  private flushing: Promise<void> | undefined;
  private closed = false;
  /** A torn tail found at open, cut before the first write. */
  private pendingCut: DamagedTail | undefined;
  /** A damaged header of a last file that never held a durable frame: rewritten before the first write. */
  private pendingHeader: SegmentFile | undefined;
  /** Whether this process wrote a frame: only a writer records a clean close (readers change nothing). */
  private wrote = false;
  private readonly segmentBytesTarget: number;
  private readonly noSync: boolean;
  private readonly onTailCut: ((tail: DamagedTail) => void) | undefined;
  private readonly acceptDamage: boolean;

  private constructor(
    readonly dir: string,
    options: SegmentFilesOptions,
  ) {
    this.segmentBytesTarget = options.segmentBytesTarget ?? limits.segmentBytesTarget;
    this.noSync = options.noSync ?? false;
    this.onTailCut = options.onTailCut;
    this.acceptDamage = options.acceptDamagedTail ?? false;
    this.next = options.firstFrameIfEmpty ?? 1;
  }

  /** Opens (creating) the directory and recovers its last file. */
  static async open(dir: string, options: SegmentFilesOptions = {}): Promise<SegmentFiles> {
    const engine = new SegmentFiles(dir, options);
    await engine.recover();
    return engine;
  }

  /** The number of the next frame to be written: every frame below it is durable. */
  get tail(): number {
    return this.next;
  }

  // ---- recovery ----

  private async recover(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const names = (await readdir(this.dir)).filter((n) => n.endsWith(SEGMENT_FILE_SUFFIX)).sort();
    for (const name of names) {
      const first = Number(name.slice(0, -SEGMENT_FILE_SUFFIX.length));
      const path = join(this.dir, name);
      this.files.push({ first, path, positions: undefined, size: (await stat(path)).size });
    }
    const last = this.files[this.files.length - 1];
    if (last !== undefined) this.next = await this.scanLast(last);
  }

  /**
   * Reads the last file whole and judges its end (src/wire/frames.ts), writing nothing: a torn tail
   * is noted (cut before the first write), damage that cannot be a torn write is refused. Returns
   * the first unwritten number.
   */
  private async scanLast(file: SegmentFile): Promise<number> {
    const cleanSize = await this.cleanCloseSize(file);
    const bytes = new Uint8Array(await readFile(file.path));
    file.size = bytes.length;
    const judged = judgeLastFile(bytes, file.first, limits.logRecordBytesMax, cleanSize);
    if (judged.kind === "damaged" && !this.acceptDamage) {
      const where = judged.headerDamaged
        ? `the header of ${file.path} is damaged`
        : `${file.path}: frame ${judged.damagedFrame} at byte ${judged.end} is corrupt`;
      const keep = Math.max(judged.end, FILE_HEADER_BYTES);
      throw new KeelError(
        "storage",
        `${where}, but ${judged.reason}, and cutting it would lose durable records; refusing to ` +
          `recover (the file is untouched). Restore the file, or accept losing frames ` +
          `${judged.damagedFrame} and later with 'truncate -s ${keep} ${file.path}'`,
      );
    }
    const frames = judged.kind === "damaged" ? [] : judged.frames;
    if (judged.kind !== "intact") {
      if (judged.headerDamaged) {
        // A file is created with its header written and synced before any frame: with a damaged
        // header and no durable frame behind it, a crash interrupted its creation.
        this.pendingHeader = file;
        file.positions = [];
        file.size = FILE_HEADER_BYTES;
        return file.first;
      }
      this.pendingCut = {
        path: file.path,
        at: judged.end,
        frame: judged.damagedFrame,
        bytes: file.size - judged.end,
      };
    }
    if (judged.kind === "damaged") {
      // Accepted damage: the frames before it stay.
      const kept: number[] = [];
      parseFrames(
        bytes.subarray(FILE_HEADER_BYTES),
        file.first,
        FILE_HEADER_BYTES,
        limits.logRecordBytesMax,
        (_number, position) => kept.push(position),
      );
      file.positions = kept;
    } else {
      file.positions = frames.map((f) => f.position);
    }
    file.size = judged.end;
    return file.first + kept(file).length;
  }

  /** The size `CLEAN` recorded for `file` if the last stop was clean and left it at its current size. */
  private async cleanCloseSize(file: SegmentFile): Promise<number | undefined> {
    let recorded: { file?: unknown; size?: unknown };
    try {
      recorded = JSON.parse(await readFile(join(this.dir, CLEAN_FILE), "utf8")) as typeof recorded;
    } catch {
      return undefined;
    }
    const name = fileName(file.first);
    return recorded.file === name && recorded.size === file.size ? file.size : undefined;
  }

  /** The torn tail recovery found in the last file and has not cut yet, if any. */
  get damagedTail(): DamagedTail | undefined {
    return this.pendingCut;
  }

  /**
   * Cuts the torn tail found at open (and rewrites a damaged header of a file that held no durable
   * frame). Runs before the first write; returns what it cut.
   */
  async cutDamagedTail(): Promise<DamagedTail | undefined> {
    const header = this.pendingHeader;
    if (header !== undefined) {
      const handle = await open(header.path, "r+");
      try {
        await handle.truncate(0);
        await handle.write(bufferOf(fileHeader(header.first)), 0, FILE_HEADER_BYTES, 0);
        await handle.sync();
      } finally {
        await handle.close();
      }
      this.pendingHeader = undefined;
    }
    const cut = this.pendingCut;
    if (cut === undefined) return undefined;
    const handle = await open(cut.path, "r+");
    try {
      await handle.truncate(cut.at);
      await handle.sync();
    } finally {
      await handle.close();
    }
    this.pendingCut = undefined;
    this.onTailCut?.(cut);
    return cut;
  }

  /** Reads a whole file, returning frame positions and the end of the last valid frame. */
  private async scanFile(
    handle: FileHandle,
    file: SegmentFile,
    onFrame?: (number: number, payload: Buffer) => void,
  ): Promise<{ positions: number[]; end: number }> {
    const positions: number[] = [];
    let position = FILE_HEADER_BYTES;
    let carry = Buffer.alloc(0);
    let expected = file.first;
    for (;;) {
      const chunk = Buffer.allocUnsafe(READ_CHUNK_BYTES);
      const { bytesRead } = await handle.read(chunk, 0, READ_CHUNK_BYTES, position + carry.length);
      if (bytesRead === 0) break;
      const buffer =
        carry.length === 0
          ? chunk.subarray(0, bytesRead)
          : Buffer.concat([carry, chunk.subarray(0, bytesRead)]);
      const { consumed, valid } = parseFrames(
        buffer,
        expected,
        position,
        limits.logRecordBytesMax,
        (number, at, payload) => {
          positions.push(at);
          expected = number + 1;
          onFrame?.(number, Buffer.from(payload.buffer, payload.byteOffset, payload.length));
        },
      );
      position += consumed;
      carry = Buffer.from(buffer.subarray(consumed));
      if (!valid) return { positions, end: position };
    }
    return { positions, end: position };
  }

  /**
   * Calls `onFrame` for every frame on disk, oldest first (a log store rebuilding its index). Damage
   * in a file other than the last (whose torn tail `open` already cut) cannot be a torn write: every
   * frame after it was durable, so the scan refuses instead of skipping them.
   */
  async scan(onFrame: (frame: Frame) => void): Promise<void> {
    for (const file of this.files) {
      const handle = await open(file.path, "r");
      try {
        const { positions, end } = await this.scanFile(handle, file, (number, payload) =>
          onFrame({ number, payload: new Uint8Array(payload) }),
        );
        if (end < file.size) {
          throw new KeelError(
            "storage",
            `${file.path}: frame ${file.first + positions.length} at byte ${end} is corrupt or ` +
              `missing, and ${file.size - end} bytes of durable frames follow it in the file; ` +
              `refusing to recover. Restore the file from a replica or backup`,
          );
        }
        file.positions ??= positions;
      } finally {
        await handle.close();
      }
    }
  }

  // ---- appends ----

  /** Appends frames; resolves with the number of the last once they are durable. */
  append(payloads: readonly Uint8Array[]): Promise<number> {
    if (this.closed)
      return Promise.reject(
        new KeelError("unavailable", `${this.dir}: segment files are closed`, true),
      );
    assert(payloads.length > 0, "an append writes at least one frame");
    const bytes = framedBytes(payloads);
    if (bytes instanceof KeelError) return Promise.reject(bytes);
    return new Promise((resolve, reject) => {
      this.queue.push({ payloads, bytes, resolve, reject });
      this.flushing ??= this.flushLoop();
      // flushLoop yields before its first step, so `flushing` is set before the loop can clear it.
    });
  }

  /** Resolves once every append queued so far is settled. */
  async drain(): Promise<void> {
    while (this.flushing !== undefined) await this.flushing;
  }

  private async flushLoop(): Promise<void> {
    await Promise.resolve();
    try {
      while (this.queue.length > 0) {
        const batch = this.takeBatch();
        await this.flush(batch);
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private takeBatch(): PendingAppend[] {
    const batch: PendingAppend[] = [];
    let records = 0;
    let bytes = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      if (
        batch.length > 0 &&
        (records + next.payloads.length > limits.groupCommitRecordsMax ||
          bytes + next.bytes > limits.groupCommitBytesMax)
      ) {
        break;
      }
      batch.push(this.queue.shift()!);
      records += next.payloads.length;
      bytes += next.bytes;
    }
    return batch;
  }

  private async flush(batch: PendingAppend[]): Promise<void> {
    let active: { file: SegmentFile; handle: FileHandle };
    try {
      active = await this.activeFile();
    } catch (error) {
      const failure = new KeelError(
        "storage",
        `${this.dir}: cannot open segment file: ${describeError(error)}`,
        true,
        { cause: error },
      );
      for (const append of batch) append.reject(failure);
      return;
    }
    const { file, handle } = active;
    const positions = file.positions!;
    const buffers: Buffer[] = [];
    const newPositions: number[] = [];
    let number = this.next;
    let position = file.size;
    for (const append of batch) {
      for (const payload of append.payloads) {
        buffers.push(bufferOf(frameHeader(number, payload)), bufferOf(payload));
        newPositions.push(position);
        position += FRAME_HEADER_BYTES + payload.length;
        number++;
      }
    }
    try {
      // One writev syscall per flush: with O_DSYNC every syscall waits for the disk.
      await writeAll(
        handle,
        buffers.length > WRITEV_BUFFERS_MAX ? [Buffer.concat(buffers)] : buffers,
        file.size,
      );
    } catch (error) {
      const failure = new KeelError(
        "storage",
        `${this.dir}: append failed: ${describeError(error)}`,
        true,
        { cause: error },
      );
      await this.rollBack(handle, file);
      for (const append of batch) append.reject(failure);
      return;
    }
    for (const p of newPositions) positions.push(p);
    file.size = position;
    this.wrote = true;
    let last = this.next - 1;
    for (const append of batch) {
      last += append.payloads.length;
      append.resolve(last);
    }
    this.next = last + 1;
  }

  /**
   * After a failed write or fsync, cut the file back to its last durable size. If even that fails (a
   * disk that refuses writes), nothing is lost: the next flush writes at the same position again, and
   * recovery truncates whatever partial bytes remain.
   */
  private async rollBack(handle: FileHandle, file: SegmentFile): Promise<void> {
    try {
      await handle.truncate(file.size);
    } catch {
      // Best effort, see above.
    }
  }

  /** How appended files are opened: every write is durable when it returns, unless sync is off. */
  private get appendFlags(): number {
    return constants.O_RDWR | (this.noSync ? 0 : constants.O_DSYNC);
  }

  /** The file the next flush writes to: the last one if it continues at `next` and has room. */
  private async activeFile(): Promise<{ file: SegmentFile; handle: FileHandle }> {
    await this.cutDamagedTail();
    const continues = (file: SegmentFile): boolean =>
      file.size < this.segmentBytesTarget &&
      file.positions !== undefined &&
      file.first + file.positions.length === this.next;
    if (this.active !== undefined && continues(this.active.file)) return this.active;
    if (this.active !== undefined) {
      await this.active.handle.close();
      this.active = undefined;
    }
    const last = this.files[this.files.length - 1];
    if (last !== undefined && last.size < this.segmentBytesTarget && last.first <= this.next) {
      const handle = await open(last.path, this.appendFlags);
      if (last.positions === undefined)
        last.positions = (await this.scanFile(handle, last)).positions;
      if (continues(last)) {
        this.active = { file: last, handle };
        return this.active;
      }
      await handle.close();
    }
    const file: SegmentFile = {
      first: this.next,
      path: join(this.dir, fileName(this.next)),
      positions: [],
      size: FILE_HEADER_BYTES,
    };
    const handle = await open(file.path, this.appendFlags | constants.O_CREAT | constants.O_TRUNC);
    try {
      await handle.write(bufferOf(fileHeader(file.first)), 0, FILE_HEADER_BYTES, 0);
      await handle.sync();
      await fsyncDir(this.dir);
    } catch (error) {
      await handle.close();
      await rm(file.path, { force: true });
      throw error;
    }
    this.files.push(file);
    this.active = { file, handle };
    return this.active;
  }

  /** Moves the next frame number forward (frames below it will never be written). */
  skipTo(number: number): void {
    assert(this.queue.length === 0 && this.flushing === undefined, "skip only when idle");
    if (number > this.next) this.next = number;
  }

  // ---- reads ----

  /** Frames from `from` on, in order, at most `max` and about READ_CHUNK_BYTES (at least one). */
  async read(from: number, max: number): Promise<Frame[]> {
    assert(from < this.next, `${this.dir}: frame ${from} is not written yet (next ${this.next})`);
    const file = this.fileContaining(from);
    if (file === undefined) {
      throw new KeelError("storage", `${this.dir}: no segment file holds frame ${from}`);
    }
    // A handle of its own: the writer may roll and close the active file while this read runs.
    const handle = await open(file.path, "r");
    try {
      if (file.positions === undefined)
        file.positions = (await this.scanFile(handle, file)).positions;
      const positions = file.positions;
      const index = from - file.first;
      if (index >= positions.length) {
        throw new KeelError(
          "storage",
          `${file.path}: frame ${from} is missing or corrupt (intact frames end at ` +
            `${file.first + positions.length - 1}); the log cannot be read past it`,
        );
      }
      // Read whole frames only, at most READ_CHUNK_BYTES unless the first frame alone is larger.
      let count = Math.min(max, positions.length - index);
      const start = positions[index]!;
      const endOf = (n: number): number =>
        index + n < positions.length ? positions[index + n]! : file.size;
      while (count > 1 && endOf(count) - start > READ_CHUNK_BYTES)
        count = Math.max(1, Math.floor(count / 2));
      const length = endOf(count) - start;
      const buffer = Buffer.allocUnsafe(length);
      const { bytesRead } = await handle.read(buffer, 0, length, start);
      const out: Frame[] = [];
      const { valid } = parseFrames(
        buffer.subarray(0, bytesRead),
        from,
        start,
        limits.logRecordBytesMax,
        (number, _position, payload) => {
          if (out.length < count) out.push({ number, payload: new Uint8Array(payload) });
        },
      );
      // Bytes after the frames asked for may be damaged (the end of a damaged older file).
      if ((!valid && out.length < count) || out.length === 0) {
        throw new KeelError(
          "storage",
          `${file.path}: frame ${from + out.length} is corrupt; the log cannot be read past it`,
        );
      }
      return out;
    } finally {
      await handle.close();
    }
  }

  private fileContaining(number: number): SegmentFile | undefined {
    for (let i = this.files.length - 1; i >= 0; i--) {
      if (this.files[i]!.first <= number) return this.files[i];
    }
    return undefined;
  }

  // ---- garbage ----

  /** Unlinks every file whose frames are all below `number`, never the last one. */
  async dropFilesBelow(number: number): Promise<void> {
    let removed = false;
    while (this.files.length > 1) {
      const second = this.files[1]!;
      if (second.first > number) break;
      const first = this.files.shift()!;
      await rm(first.path, { force: true });
      removed = true;
    }
    if (removed) await fsyncDir(this.dir);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.drain();
    if (this.active !== undefined) await this.active.handle.close();
    this.active = undefined;
    await this.recordCleanClose();
  }

  /**
   * Records the last file's size once everything in it is durable, so that damage found within it at
   * the next open is known not to be a torn write. Skipped while a torn tail is still uncut (the file
   * is not as the engine would leave it), when sync is off (nothing is known to be durable), and by
   * a process that only read (offline tools leave the directory as they found it).
   */
  private async recordCleanClose(): Promise<void> {
    const last = this.files[this.files.length - 1];
    if (last === undefined || this.noSync || !this.wrote) return;
    try {
      const { size } = await stat(last.path);
      if (size !== last.size) return;
      await writeFileDurably(
        this.dir,
        CLEAN_FILE,
        JSON.stringify({ file: fileName(last.first), size }),
      );
    } catch {
      // A full or failing disk: the next open treats the end of the file as a crash would leave it.
    }
  }
}

/** Buffers one writev takes (IOV_MAX on Linux); libuv splits longer lists into several syscalls. */
const WRITEV_BUFFERS_MAX = 1024;

async function writeAll(handle: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  let at = position;
  let pending = buffers;
  // writev may write less than asked; continue with the remainder.
  while (pending.length > 0) {
    const total = pending.reduce((n, b) => n + b.length, 0);
    const { bytesWritten } = await handle.writev(pending, at);
    at += bytesWritten;
    if (bytesWritten === total) return;
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const buffer of pending) {
      if (skip >= buffer.length) {
        skip -= buffer.length;
        continue;
      }
      rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
      skip = 0;
    }
    pending = rest;
  }
}

/** A view of `bytes` as a Buffer (no copy), as Node's file APIs take. */
function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

function kept(file: SegmentFile): number[] {
  assert(file.positions !== undefined, "a scanned file knows its frames");
  return file.positions;
}
