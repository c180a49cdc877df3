/**
 * The `local` loglet provider: one node, records on its own disk.
 *
 * Layout: `<root>/log-<logId>/seg-<segmentIndex>/` holds segment files named by the offset of their
 * first record (`00000000000000000001.seg`), a `trim` file with the persisted trim point and, once
 * sealed, a `sealed` file with the final tail.
 *
 * A segment file starts with a 16-byte header (magic, first offset) followed by frames:
 * `u32 payload length | u32 crc32(length, offset, payload) | u64 offset | payload`.
 *
 * Durability: appends are queued; one flush at a time writes every queued batch with a single
 * `writev` and makes it durable with `fdatasync` (group commit). Offsets are assigned when a flush
 * starts, so a failed write (disk full) gives its offsets to the next flush and never leaves a hole:
 * the file is truncated back to its size before the failed write.
 *
 * Recovery: the last segment file is scanned and truncated at the first frame that is incomplete or
 * fails its checksum or offset check (a torn tail). Older files are verified when read.
 * Trim: the trim point is persisted first, then files wholly at or below it are unlinked.
 */

import { open, mkdir, readdir, rename, rm, stat, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { assert } from "../core/assert.js";
import { LogletOffset, OFFSET_OLDEST } from "../core/brand.js";
import { KeelError, describeError } from "../core/errors.js";
import { limits } from "../core/limits.js";
import type {
  Loglet,
  LogletConfig,
  LogletEntry,
  LogletProvider,
  LogletTail,
} from "../log/loglet.js";

const FILE_MAGIC = Buffer.from("KEELLOG1");
const FILE_HEADER_BYTES = 16;
const FRAME_HEADER_BYTES = 16;
const SEGMENT_FILE_SUFFIX = ".seg";
const READ_CHUNK_BYTES = 1024 * 1024;

export interface LocalLogletOptions {
  /** Roll to a new segment file once the active one is larger than this. */
  readonly segmentBytesTarget?: number;
  /** Recently appended records kept in memory for tail readers. */
  readonly cacheRecordsMax?: number;
  /** Skip fdatasync (benchmarks of upper layers only; never the default). */
  readonly noSync?: boolean;
}

interface SegmentFile {
  readonly firstOffset: number;
  readonly path: string;
  /** Byte position of each frame; index = offset - firstOffset. Undefined until scanned. */
  positions: number[] | undefined;
  size: number;
}

interface PendingAppend {
  readonly payloads: readonly Uint8Array[];
  readonly bytes: number;
  resolve(last: LogletOffset): void;
  reject(error: unknown): void;
}

function frameOf(offset: number, payload: Uint8Array): Buffer[] {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(payload.length, 0);
  header.writeBigUInt64BE(BigInt(offset), 8);
  let crc = crc32(header.subarray(0, 4));
  crc = crc32(header.subarray(8, 16), crc);
  crc = crc32(payload, crc);
  header.writeUInt32BE(crc, 4);
  return [header, Buffer.from(payload.buffer, payload.byteOffset, payload.length)];
}

/** Parses frames from `buffer`; stops at the first incomplete or invalid frame. */
function parseFrames(
  buffer: Buffer,
  expectedOffset: number,
  basePosition: number,
  onFrame: (offset: number, position: number, payload: Buffer) => void,
): { consumed: number; valid: boolean } {
  let at = 0;
  let offset = expectedOffset;
  while (buffer.length - at >= FRAME_HEADER_BYTES) {
    const length = buffer.readUInt32BE(at);
    const storedCrc = buffer.readUInt32BE(at + 4);
    const frameOffset = buffer.readBigUInt64BE(at + 8);
    if (length > limits.logRecordBytesMax || frameOffset !== BigInt(offset))
      return { consumed: at, valid: false };
    if (buffer.length - at - FRAME_HEADER_BYTES < length) return { consumed: at, valid: true };
    const payload = buffer.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length);
    let crc = crc32(buffer.subarray(at, at + 4));
    crc = crc32(buffer.subarray(at + 8, at + 16), crc);
    crc = crc32(payload, crc);
    if (crc !== storedCrc) return { consumed: at, valid: false };
    onFrame(offset, basePosition + at, payload);
    at += FRAME_HEADER_BYTES + length;
    offset++;
  }
  return { consumed: at, valid: true };
}

export async function fsyncDir(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Replaces `dir/name` atomically and durably: write a temporary file, sync, rename, sync the dir. */
export async function writeFileDurably(
  dir: string,
  name: string,
  content: string | Uint8Array,
): Promise<void> {
  const tmp = join(dir, `${name}.tmp`);
  const handle = await open(tmp, "w");
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, join(dir, name));
  await fsyncDir(dir);
}

async function readNumberFile(path: string): Promise<number | undefined> {
  try {
    const handle = await open(path, "r");
    try {
      const text = (await handle.readFile("utf8")).trim();
      const value = Number(text);
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new KeelError("storage", `${path}: expected a non-negative integer, found '${text}'`);
      }
      return value;
    } finally {
      await handle.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

const fileName = (firstOffset: number): string =>
  `${String(firstOffset).padStart(20, "0")}${SEGMENT_FILE_SUFFIX}`;

export class LocalLoglet implements Loglet {
  private files: SegmentFile[] = [];
  private active: { file: SegmentFile; handle: FileHandle } | undefined;
  /** First offset not yet durable; everything below it is readable. */
  private durableTail = 1;
  private trimmedThrough = 0;
  private sealedAt: number | undefined;
  private queue: PendingAppend[] = [];
  /** The running flush loop, if any; resolves when the queue has drained. */
  private flushing: Promise<void> | undefined;
  private closed = false;
  private failure: KeelError | undefined;
  private readonly cache = new Map<number, Uint8Array>();
  private cacheLowest = 1;
  private waiters: { beyond: number; resolve: (tail: LogletTail) => void }[] = [];
  private readonly segmentBytesTarget: number;
  private readonly cacheRecordsMax: number;
  private readonly noSync: boolean;
  private sealing: Promise<LogletTail> | undefined;

  private constructor(
    readonly dir: string,
    options: LocalLogletOptions,
  ) {
    this.segmentBytesTarget = options.segmentBytesTarget ?? limits.segmentBytesTarget;
    this.cacheRecordsMax = options.cacheRecordsMax ?? 4096;
    this.noSync = options.noSync ?? false;
  }

  static async open(dir: string, options: LocalLogletOptions = {}): Promise<LocalLoglet> {
    const loglet = new LocalLoglet(dir, options);
    await loglet.recover();
    return loglet;
  }

  // ---- recovery ----

  private async recover(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    this.trimmedThrough = (await readNumberFile(join(this.dir, "trim"))) ?? 0;
    this.sealedAt = await readNumberFile(join(this.dir, "sealed"));
    const names = (await readdir(this.dir)).filter((n) => n.endsWith(SEGMENT_FILE_SUFFIX)).sort();
    for (const name of names) {
      const firstOffset = Number(name.slice(0, -SEGMENT_FILE_SUFFIX.length));
      const path = join(this.dir, name);
      this.files.push({ firstOffset, path, positions: undefined, size: (await stat(path)).size });
    }
    await this.dropTrimmedFiles();
    const last = this.files[this.files.length - 1];
    if (last === undefined) {
      this.durableTail = Math.max(OFFSET_OLDEST, this.trimmedThrough + 1);
    } else {
      this.durableTail = await this.scanAndRepairLast(last);
      if (this.durableTail <= this.trimmedThrough) this.durableTail = this.trimmedThrough + 1;
    }
    if (this.sealedAt !== undefined) {
      assert(
        this.sealedAt <= this.durableTail,
        `${this.dir}: sealed tail beyond the stored records`,
      );
      this.durableTail = this.sealedAt;
    }
    this.cacheLowest = this.durableTail;
  }

  /** Scans the last file, truncating a torn or corrupt tail. Returns the first unwritten offset. */
  private async scanAndRepairLast(file: SegmentFile): Promise<number> {
    const handle = await open(file.path, "r+");
    try {
      const header = Buffer.alloc(FILE_HEADER_BYTES);
      const { bytesRead } = await handle.read(header, 0, FILE_HEADER_BYTES, 0);
      const headerValid =
        bytesRead === FILE_HEADER_BYTES &&
        header.subarray(0, 8).equals(FILE_MAGIC) &&
        header.readBigUInt64BE(8) === BigInt(file.firstOffset);
      if (!headerValid) {
        // The file was created but its header never became durable: nothing in it was acknowledged.
        await handle.truncate(0);
        await handle.write(this.fileHeader(file.firstOffset), 0, FILE_HEADER_BYTES, 0);
        await handle.sync();
        file.positions = [];
        file.size = FILE_HEADER_BYTES;
        return file.firstOffset;
      }
      const { positions, end } = await this.scanFile(handle, file);
      if (end < file.size) {
        await handle.truncate(end);
        await handle.sync();
      }
      file.positions = positions;
      file.size = end;
      return file.firstOffset + positions.length;
    } finally {
      await handle.close();
    }
  }

  /** Reads a whole file, returning frame positions and the end of the last valid frame. */
  private async scanFile(
    handle: FileHandle,
    file: SegmentFile,
  ): Promise<{ positions: number[]; end: number }> {
    const positions: number[] = [];
    let position = FILE_HEADER_BYTES;
    let carry = Buffer.alloc(0);
    let expected = file.firstOffset;
    for (;;) {
      const chunk = Buffer.allocUnsafe(READ_CHUNK_BYTES);
      const { bytesRead } = await handle.read(chunk, 0, READ_CHUNK_BYTES, position + carry.length);
      if (bytesRead === 0) break;
      const buffer =
        carry.length === 0
          ? chunk.subarray(0, bytesRead)
          : Buffer.concat([carry, chunk.subarray(0, bytesRead)]);
      const { consumed, valid } = parseFrames(buffer, expected, position, (offset, at) => {
        positions.push(at);
        expected = offset + 1;
      });
      position += consumed;
      carry = Buffer.from(buffer.subarray(consumed));
      if (!valid) return { positions, end: position };
    }
    return { positions, end: position };
  }

  private fileHeader(firstOffset: number): Buffer {
    const header = Buffer.alloc(FILE_HEADER_BYTES);
    FILE_MAGIC.copy(header, 0);
    header.writeBigUInt64BE(BigInt(firstOffset), 8);
    return header;
  }

  // ---- appends ----

  append(payloads: readonly Uint8Array[]): Promise<LogletOffset> {
    if (this.closed)
      return Promise.reject(new KeelError("unavailable", `${this.dir}: loglet is closed`, true));
    if (this.sealedAt !== undefined || this.sealing !== undefined) {
      return Promise.reject(new KeelError("sealed", `${this.dir}: loglet is sealed`, true));
    }
    if (payloads.length === 0) return Promise.reject(new KeelError("bad_request", "empty append"));
    let bytes = 0;
    for (const payload of payloads) {
      if (payload.length > limits.logRecordBytesMax) {
        return Promise.reject(
          new KeelError(
            "payload_too_large",
            `record of ${payload.length} bytes exceeds ${limits.logRecordBytesMax}`,
          ),
        );
      }
      bytes += payload.length + FRAME_HEADER_BYTES;
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ payloads, bytes, resolve, reject });
      this.flushing ??= this.flushLoop();
      // flushLoop yields before its first step, so `flushing` is set before the loop can clear it.
    });
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
    if (this.failure !== undefined) {
      for (const append of batch) append.reject(this.failure);
      return;
    }
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
    let offset = this.durableTail;
    let position = file.size;
    for (const append of batch) {
      for (const payload of append.payloads) {
        const frame = frameOf(offset, payload);
        buffers.push(frame[0]!, frame[1]!);
        newPositions.push(position);
        position += FRAME_HEADER_BYTES + payload.length;
        offset++;
      }
    }
    try {
      await writeAll(handle, buffers, file.size);
      if (!this.noSync) await handle.datasync();
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
    let next = this.durableTail;
    for (const append of batch) {
      for (const payload of append.payloads) this.cachePut(next++, payload);
      append.resolve(LogletOffset(next - 1));
    }
    this.durableTail = next;
    this.notify();
  }

  /** After a failed write, cut the file back to its last durable size, or poison the loglet. */
  private async rollBack(handle: FileHandle, file: SegmentFile): Promise<void> {
    try {
      await handle.truncate(file.size);
      await handle.sync();
    } catch (error) {
      this.failure = new KeelError(
        "storage",
        `${this.dir}: could not roll back a failed write (${describeError(error)}); the loglet must be reopened`,
        false,
      );
    }
  }

  private async activeFile(): Promise<{ file: SegmentFile; handle: FileHandle }> {
    if (this.active !== undefined && this.active.file.size < this.segmentBytesTarget)
      return this.active;
    if (this.active !== undefined) {
      await this.active.handle.close();
      this.active = undefined;
    }
    const last = this.files[this.files.length - 1];
    if (
      last !== undefined &&
      last.size < this.segmentBytesTarget &&
      last.firstOffset <= this.durableTail
    ) {
      const handle = await open(last.path, "r+");
      if (last.positions === undefined)
        last.positions = (await this.scanFile(handle, last)).positions;
      this.active = { file: last, handle };
      return this.active;
    }
    const file: SegmentFile = {
      firstOffset: this.durableTail,
      path: join(this.dir, fileName(this.durableTail)),
      positions: [],
      size: FILE_HEADER_BYTES,
    };
    const handle = await open(file.path, "w+");
    try {
      await handle.write(this.fileHeader(file.firstOffset), 0, FILE_HEADER_BYTES, 0);
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

  private cachePut(offset: number, payload: Uint8Array): void {
    this.cache.set(offset, payload);
    while (this.cache.size > this.cacheRecordsMax) {
      this.cache.delete(this.cacheLowest);
      this.cacheLowest++;
    }
    if (this.cache.size === 1) this.cacheLowest = offset;
  }

  // ---- reads ----

  async read(from: LogletOffset, maxRecords: number): Promise<LogletEntry[]> {
    let at = Math.max(from, OFFSET_OLDEST);
    if (at <= this.trimmedThrough) {
      return [{ kind: "trimGap", from: LogletOffset(at), to: LogletOffset(this.trimmedThrough) }];
    }
    const out: LogletEntry[] = [];
    while (at < this.durableTail && out.length < maxRecords) {
      const cached = this.cache.get(at);
      if (cached === undefined) break;
      out.push({ kind: "record", offset: LogletOffset(at), payload: cached });
      at++;
    }
    if (out.length > 0 || at >= this.durableTail) return out;
    return this.readFromFiles(at, Math.min(maxRecords, this.durableTail - at));
  }

  private async readFromFiles(from: number, maxRecords: number): Promise<LogletEntry[]> {
    const file = this.fileContaining(from);
    if (file === undefined) {
      throw new KeelError(
        "storage",
        `${this.dir}: no segment file holds offset ${from} (tail ${this.durableTail})`,
      );
    }
    // A handle of its own: the writer may roll and close the active file while this read runs.
    const handle = await open(file.path, "r");
    try {
      if (file.positions === undefined)
        file.positions = (await this.scanFile(handle, file)).positions;
      const positions = file.positions;
      const index = from - file.firstOffset;
      if (index >= positions.length) {
        throw new KeelError(
          "storage",
          `${this.dir}: offset ${from} missing from ${file.path} (data loss)`,
        );
      }
      // Read whole frames only, at most READ_CHUNK_BYTES unless the first frame alone is larger.
      let count = Math.min(maxRecords, positions.length - index);
      const start = positions[index]!;
      const endOf = (n: number): number =>
        index + n < positions.length ? positions[index + n]! : file.size;
      while (count > 1 && endOf(count) - start > READ_CHUNK_BYTES)
        count = Math.max(1, Math.floor(count / 2));
      const length = endOf(count) - start;
      const buffer = Buffer.allocUnsafe(length);
      const { bytesRead } = await handle.read(buffer, 0, length, start);
      const out: LogletEntry[] = [];
      const { valid } = parseFrames(
        buffer.subarray(0, bytesRead),
        from,
        start,
        (offset, _position, payload) => {
          if (out.length < count)
            out.push({
              kind: "record",
              offset: LogletOffset(offset),
              payload: Buffer.from(payload),
            });
        },
      );
      if (!valid || out.length === 0) {
        throw new KeelError(
          "storage",
          `${this.dir}: corrupt frame at offset ${from} in ${file.path}`,
        );
      }
      return out;
    } finally {
      await handle.close();
    }
  }

  private fileContaining(offset: number): SegmentFile | undefined {
    for (let i = this.files.length - 1; i >= 0; i--) {
      if (this.files[i]!.firstOffset <= offset) return this.files[i];
    }
    return undefined;
  }

  // ---- tail, seal, trim ----

  waitForTail(beyond: LogletOffset): Promise<LogletTail> {
    if (this.durableTail > beyond || this.sealedAt !== undefined)
      return Promise.resolve(this.tailNow());
    return new Promise((resolve) => this.waiters.push({ beyond, resolve }));
  }

  findTail(): Promise<LogletTail> {
    return Promise.resolve(this.tailNow());
  }

  seal(): Promise<LogletTail> {
    if (this.sealedAt !== undefined) return Promise.resolve(this.tailNow());
    this.sealing ??= this.doSeal();
    return this.sealing;
  }

  private async doSeal(): Promise<LogletTail> {
    // Appends queued before the seal still complete; then the tail is fixed.
    while (this.flushing !== undefined) await this.flushing;
    await writeFileDurably(this.dir, "sealed", String(this.durableTail));
    this.sealedAt = this.durableTail;
    this.notify();
    return this.tailNow();
  }

  async trim(through: LogletOffset): Promise<void> {
    const target = Math.min(through, this.durableTail - 1);
    if (target <= this.trimmedThrough) return;
    await writeFileDurably(this.dir, "trim", String(target));
    this.trimmedThrough = target;
    for (let o = this.cacheLowest; o <= target; o++) this.cache.delete(o);
    this.cacheLowest = Math.max(this.cacheLowest, target + 1);
    await this.dropTrimmedFiles();
  }

  /** Unlinks files whose every record is trimmed, never the active one. */
  private async dropTrimmedFiles(): Promise<void> {
    let removed = false;
    while (this.files.length > 1) {
      const next = this.files[1]!;
      if (next.firstOffset - 1 > this.trimmedThrough) break;
      const first = this.files.shift()!;
      await rm(first.path, { force: true });
      removed = true;
    }
    if (removed) await fsyncDir(this.dir);
  }

  trimPoint(): Promise<number> {
    return Promise.resolve(this.trimmedThrough);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing !== undefined) await this.flushing;
    if (this.active !== undefined) await this.active.handle.close();
    this.active = undefined;
  }

  private tailNow(): LogletTail {
    return { offset: LogletOffset(this.durableTail), sealed: this.sealedAt !== undefined };
  }

  private notify(): void {
    if (this.waiters.length === 0) return;
    const sealed = this.sealedAt !== undefined;
    const ready = this.waiters.filter((w) => this.durableTail > w.beyond || sealed);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => !(this.durableTail > w.beyond || sealed));
    const tail = this.tailNow();
    for (const waiter of ready) waiter.resolve(tail);
  }
}

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

export class LocalLogletProvider implements LogletProvider {
  readonly name = "local";
  private readonly loglets = new Map<string, Promise<LocalLoglet>>();

  constructor(
    private readonly root: string,
    private readonly options: LocalLogletOptions = {},
  ) {}

  openLoglet(logId: number, segmentIndex: number): Promise<LocalLoglet> {
    const dir = join(this.root, `log-${logId}`, `seg-${segmentIndex}`);
    let loglet = this.loglets.get(dir);
    if (loglet === undefined) {
      loglet = LocalLoglet.open(dir, this.options);
      this.loglets.set(dir, loglet);
      loglet.catch(() => this.loglets.delete(dir));
    }
    return loglet;
  }

  /** `config.params` carries nothing for local loglets: the directory follows from log and segment. */
  open(logId: number, segmentIndex: number, _config: LogletConfig): Promise<Loglet> {
    return this.openLoglet(logId, segmentIndex);
  }

  async close(): Promise<void> {
    const loglets = await Promise.allSettled(this.loglets.values());
    for (const result of loglets) if (result.status === "fulfilled") await result.value.close();
    this.loglets.clear();
  }
}
