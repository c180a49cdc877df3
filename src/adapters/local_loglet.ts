/**
 * The `local` loglet provider: one node, records on its own disk.
 *
 * Layout: `<root>/log-<logId>/seg-<segmentIndex>/` holds segment files named by the offset of their
 * first record (`00000000000000000001.seg`), a `trim` file with the persisted trim point and, once
 * sealed, a `sealed` file with the final tail.
 *
 * The files are those of the segment-file engine (segment_files.ts), one record per frame, frame
 * number = loglet offset: frames with CRC32, group commit with `writev` + `fdatasync`, offsets
 * assigned at flush time (a failed write leaves no hole), torn-tail recovery of the last file.
 *
 * Trim: the trim point is persisted first, then files wholly at or below it are unlinked.
 */

import { join } from "node:path";
import { assert } from "../core/assert.js";
import { LogletOffset, OFFSET_OLDEST } from "../core/brand.js";
import { KeelError } from "../core/errors.js";
import type {
  Loglet,
  LogletConfig,
  LogletEntry,
  LogletProvider,
  LogletTail,
} from "../log/loglet.js";
import { readNumberFile, SegmentFiles, writeFileDurably } from "./segment_files.js";

export interface LocalLogletOptions {
  /** Roll to a new segment file once the active one is larger than this. */
  readonly segmentBytesTarget?: number;
  /** Recently appended records kept in memory for tail readers. */
  readonly cacheRecordsMax?: number;
  /** Skip fdatasync (benchmarks of upper layers only; never the default). */
  readonly noSync?: boolean;
}

export class LocalLoglet implements Loglet {
  /** First offset not yet durable; everything below it is readable. */
  private durableTail = 1;
  private trimmedThrough = 0;
  private sealedAt: number | undefined;
  private closed = false;
  private readonly cache = new Map<number, Uint8Array>();
  private cacheLowest = 1;
  private waiters: { beyond: number; resolve: (tail: LogletTail) => void }[] = [];
  private readonly cacheRecordsMax: number;
  private sealing: Promise<LogletTail> | undefined;

  private constructor(
    readonly dir: string,
    private readonly files: SegmentFiles,
    options: LocalLogletOptions,
  ) {
    this.cacheRecordsMax = options.cacheRecordsMax ?? 4096;
  }

  static async open(dir: string, options: LocalLogletOptions = {}): Promise<LocalLoglet> {
    // The trim point is read first: an empty directory continues right after it.
    const trimmedThrough = (await readNumberFile(join(dir, "trim"))) ?? 0;
    const files = await SegmentFiles.open(dir, {
      ...(options.segmentBytesTarget === undefined
        ? {}
        : { segmentBytesTarget: options.segmentBytesTarget }),
      ...(options.noSync === undefined ? {} : { noSync: options.noSync }),
      firstFrameIfEmpty: trimmedThrough + 1,
    });
    const loglet = new LocalLoglet(dir, files, options);
    await loglet.recover(trimmedThrough);
    return loglet;
  }

  // ---- recovery ----

  private async recover(trimmedThrough: number): Promise<void> {
    this.trimmedThrough = trimmedThrough;
    this.sealedAt = await readNumberFile(join(this.dir, "sealed"));
    await this.files.dropFilesBelow(this.trimmedThrough + 1);
    if (this.files.tail <= this.trimmedThrough) this.files.skipTo(this.trimmedThrough + 1);
    this.durableTail = Math.max(OFFSET_OLDEST, this.files.tail);
    if (this.sealedAt !== undefined) {
      assert(
        this.sealedAt <= this.durableTail,
        `${this.dir}: sealed tail beyond the stored records`,
      );
      this.durableTail = this.sealedAt;
    }
    this.cacheLowest = this.durableTail;
  }

  // ---- appends ----

  append(payloads: readonly Uint8Array[]): Promise<LogletOffset> {
    if (this.closed)
      return Promise.reject(new KeelError("unavailable", `${this.dir}: loglet is closed`, true));
    if (this.sealedAt !== undefined || this.sealing !== undefined) {
      return Promise.reject(new KeelError("sealed", `${this.dir}: loglet is sealed`, true));
    }
    if (payloads.length === 0) return Promise.reject(new KeelError("bad_request", "empty append"));
    return this.files.append(payloads).then((last) => {
      let offset = last - payloads.length + 1;
      for (const payload of payloads) this.cachePut(offset++, payload);
      this.durableTail = Math.max(this.durableTail, last + 1);
      this.notify();
      return LogletOffset(last);
    });
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
    const frames = await this.files.read(at, Math.min(maxRecords, this.durableTail - at));
    return frames.map((frame) => ({
      kind: "record",
      offset: LogletOffset(frame.number),
      payload: frame.payload,
    }));
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
    await this.files.drain();
    this.durableTail = Math.max(this.durableTail, this.files.tail);
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
    await this.files.dropFilesBelow(target + 1);
  }

  trimPoint(): Promise<number> {
    return Promise.resolve(this.trimmedThrough);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.files.close();
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
