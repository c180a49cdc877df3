/**
 * The `local` loglet provider: one node, records on its own disk, every loglet of the node in one
 * stream of segment files (segment_files.ts) under `<root>`.
 *
 * One stream means one group commit for all partitions: appends of every loglet queued while a flush
 * runs go out together in one durable `writev`. Each frame holds one append of one
 * loglet (its records) or a loglet's metadata (sealed, trim point), encoded as a log-store entry
 * (src/bifrost/loglet_store.ts), so a crash never keeps half an append.
 *
 * Offsets are assigned when a flush starts, from the durable tail of each loglet, and only one flush
 * runs at a time: a failed write (disk full) gives its offsets to the next flush and never leaves a
 * hole. Recovery scans every file (a torn tail of the last one is cut before the first write, as
 * src/platform/io/segment_files.ts decides) and rebuilds each loglet's tail, seal and trim point.
 * Trim persists the trim point first; whole files are unlinked once no loglet needs any frame in them.
 *
 * Why one file of this length: the shared stream (`LocalLogStore`) and its loglets call into each
 * other (the store assigns offsets from each loglet's durable tail and hands back what is durable;
 * a loglet queues its writes on the store), so they stay together rather than import each other.
 */

import { join } from "node:path";
import {
  assert,
  LogletOffset,
  OFFSET_OLDEST,
  KeelError,
  describeError,
  limits,
} from "../../../core/index.js";
import { rm } from "node:fs/promises";
import {
  type Loglet,
  type LogletConfig,
  type LogletEntry,
  type LogletProvider,
  type LogletTail,
  EMPTY_META,
  type LogletMeta,
  type StoreWrite,
  decodeStoreWrite,
  encodeStoreWrite,
  LogStoreIndex,
  sliceRecords,
  logletIdOf,
  type LogletId,
} from "../../index.js";
import {
  SegmentFiles,
  framedBytes,
  writeFileDurably,
  type DamagedTail,
} from "../../../platform/io/index.js";

export interface LocalLogletOptions {
  /** Roll to a new segment file once the active one is larger than this. */
  readonly segmentBytesTarget?: number;
  /** Recently appended records kept in memory per loglet for tail readers. */
  readonly cacheRecordsMax?: number;
  /** Skip fdatasync (benchmarks of upper layers only; never the default). */
  readonly noSync?: boolean;
  /** Told when a torn tail found at open is cut, just before the first write. */
  readonly onTailCut?: (tail: DamagedTail) => void;
  /** Take any damage at the end of the last file for a torn tail (the operator accepts the loss). */
  readonly acceptDamagedTail?: boolean;
}

const READ_BYTES_MAX = 4 * 1024 * 1024;
/** While writes fail, how often a probe checks whether they work again. */
const WRITE_PROBE_INTERVAL_MS = 1000;
const WRITE_PROBE_FILE = "WRITE_PROBE";

type QueuedWrite =
  | {
      readonly kind: "append";
      readonly loglet: LocalLoglet;
      readonly payloads: readonly Uint8Array[];
      readonly bytes: number;
      resolve(last: LogletOffset): void;
      reject(error: unknown): void;
    }
  | {
      readonly kind: "meta";
      readonly loglet: LocalLoglet;
      readonly meta: LogletMeta;
      resolve(): void;
      reject(error: unknown): void;
    };

/** The segment-file stream shared by every local loglet of a node. */
export class LocalLogStore {
  private readonly loglets = new Map<LogletId, LocalLoglet>();
  private readonly index = new LogStoreIndex<number>();
  /** Frame of each loglet's latest durable metadata (kept until its loglet needs no older frame). */
  private readonly metaFrames = new Map<LogletId, number>();
  private queue: QueuedWrite[] = [];
  private flushing: Promise<void> | undefined;
  private collecting: Promise<void> | undefined;
  private closed = false;
  private writeFailure: KeelError | undefined;
  private probeTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(
    readonly dir: string,
    private readonly files: SegmentFiles,
    private readonly options: LocalLogletOptions,
  ) {}

  static async open(dir: string, options: LocalLogletOptions = {}): Promise<LocalLogStore> {
    const files = await SegmentFiles.open(dir, {
      ...(options.segmentBytesTarget === undefined
        ? {}
        : { segmentBytesTarget: options.segmentBytesTarget }),
      ...(options.noSync === undefined ? {} : { noSync: options.noSync }),
      ...(options.onTailCut === undefined ? {} : { onTailCut: options.onTailCut }),
      ...(options.acceptDamagedTail === undefined
        ? {}
        : { acceptDamagedTail: options.acceptDamagedTail }),
    });
    const store = new LocalLogStore(dir, files, options);
    await files.scan((frame) => store.recoverFrame(decodeStoreWrite(frame.payload), frame.number));
    return store;
  }

  private recoverFrame(write: StoreWrite, frame: number): void {
    const loglet = this.loglet(write.logletId);
    if (write.kind === "records") {
      this.index.applyRecords(write.logletId, write.first, write.payloads.length, frame);
      loglet.recovered(write.first + write.payloads.length, undefined);
    } else {
      this.index.applyMeta(write.logletId, write.meta);
      this.metaFrames.set(write.logletId, frame);
      loglet.recovered(undefined, write.meta);
    }
  }

  /**
   * Set once a write failed (disk full, a disk refusing writes), until a probe writes a fresh block
   * beside the segment files: small appends may still fit in the last page of a full disk, so a
   * successful append proves little, and an idle node must not wait for traffic (which may wait for
   * the node to report healthy) to learn that writes work again.
   */
  get failure(): KeelError | undefined {
    return this.writeFailure;
  }

  private failed(error: unknown): void {
    this.writeFailure =
      error instanceof KeelError
        ? error
        : new KeelError("storage", `${this.dir}: ${describeError(error)}`, true);
    this.probeTimer ??= setTimeout(() => void this.probeWrites(), WRITE_PROBE_INTERVAL_MS);
    this.probeTimer.unref();
  }

  /** Writes a block to a file beside the segment files; if that works, writes work again. */
  private async probeWrites(): Promise<void> {
    this.probeTimer = undefined;
    if (this.closed || this.writeFailure === undefined) return;
    try {
      await writeFileDurably(this.dir, WRITE_PROBE_FILE, new Uint8Array(4096));
      await rm(join(this.dir, WRITE_PROBE_FILE), { force: true });
      this.writeFailure = undefined;
    } catch {
      this.probeTimer = setTimeout(() => void this.probeWrites(), WRITE_PROBE_INTERVAL_MS);
      this.probeTimer.unref();
    }
  }

  /** A torn tail recovery found at the end of the stream and has not cut yet (see SegmentFiles). */
  get damagedTail(): DamagedTail | undefined {
    return this.files.damagedTail;
  }

  /** Cuts a torn tail found at open now, rather than before the first write. */
  cutDamagedTail(): Promise<DamagedTail | undefined> {
    return this.files.cutDamagedTail();
  }

  /** The loglet of one segment of one log (created empty if it has never been written). */
  loglet(id: LogletId): LocalLoglet {
    let loglet = this.loglets.get(id);
    if (loglet === undefined) {
      loglet = new LocalLoglet(
        this,
        id,
        this.options.cacheRecordsMax ?? limits.logTailCacheRecordsMax,
      );
      this.loglets.set(id, loglet);
    }
    return loglet;
  }

  /** Queues a write; the flush loop writes queued writes of all loglets together. */
  enqueue(write: QueuedWrite): void {
    if (this.closed) {
      write.reject(new KeelError("unavailable", `${this.dir}: the log store is closed`, true));
      return;
    }
    this.queue.push(write);
    this.flushing ??= this.flushLoop();
  }

  private async flushLoop(): Promise<void> {
    // Yield first, so that `flushing` is set before the loop can clear it.
    await Promise.resolve();
    try {
      while (this.queue.length > 0) await this.flush(this.takeBatch());
    } finally {
      this.flushing = undefined;
    }
  }

  private takeBatch(): QueuedWrite[] {
    let records = 0;
    let bytes = 0;
    let taken = 0;
    while (taken < this.queue.length) {
      const next = this.queue[taken]!;
      const n = next.kind === "append" ? next.payloads.length : 1;
      const b = next.kind === "append" ? next.bytes : 64;
      if (
        taken > 0 &&
        (records + n > limits.groupCommitRecordsMax || bytes + b > limits.groupCommitBytesMax)
      )
        break;
      records += n;
      bytes += b;
      taken++;
    }
    return this.queue.splice(0, taken);
  }

  /** Writes one group: offsets assigned now, from each loglet's durable tail. */
  private async flush(batch: QueuedWrite[]): Promise<void> {
    const frames: Uint8Array[] = [];
    const planned: { write: QueuedWrite; first: number }[] = [];
    const nextTail = new Map<LocalLoglet, number>();
    for (const write of batch) {
      if (write.kind === "append") {
        if (write.loglet.isSealed) {
          write.reject(new KeelError("sealed", `${write.loglet.id}: the loglet is sealed`, true));
          continue;
        }
        const first = nextTail.get(write.loglet) ?? write.loglet.durableTail;
        nextTail.set(write.loglet, first + write.payloads.length);
        frames.push(
          encodeStoreWrite({
            kind: "records",
            logletId: write.loglet.id,
            first,
            payloads: write.payloads,
          }),
        );
        planned.push({ write, first });
      } else {
        frames.push(
          encodeStoreWrite({ kind: "meta", logletId: write.loglet.id, meta: write.meta }),
        );
        planned.push({ write, first: 0 });
      }
    }
    if (frames.length === 0) return;
    let last: number;
    try {
      last = await this.files.append(frames);
    } catch (error) {
      this.failed(error);
      for (const { write } of planned) write.reject(error);
      return;
    }
    const firstFrame = last - frames.length + 1;
    let trimmed = false;
    planned.forEach(({ write, first }, i) => {
      const frame = firstFrame + i;
      if (write.kind === "append") {
        this.index.applyRecords(write.loglet.id, first, write.payloads.length, frame);
        write.loglet.appended(first, write.payloads);
        write.resolve(LogletOffset(first + write.payloads.length - 1));
      } else {
        trimmed ||= write.meta.trimPoint > write.loglet.trimmedThrough;
        this.index.applyMeta(write.loglet.id, write.meta);
        this.metaFrames.set(write.loglet.id, frame);
        write.loglet.metaWritten(write.meta);
        write.resolve();
      }
    });
    if (trimmed) void this.collectGarbage();
  }

  /** Reads durable records of a loglet that are no longer cached. */
  async readFromFiles(
    loglet: LocalLoglet,
    from: number,
    toExclusive: number,
    max: number,
  ): Promise<LogletEntry[]> {
    const batches: { first: number; payloads: readonly Uint8Array[] }[] = [];
    let records = 0;
    let bytes = 0;
    for (const batch of this.index.batchesFrom(loglet.id, from, toExclusive)) {
      const [frame] = await this.files.read(batch.location, 1);
      const write = decodeStoreWrite(frame!.payload);
      if (write.kind !== "records" || write.logletId !== loglet.id || write.first !== batch.first) {
        throw new KeelError(
          "storage",
          `${this.dir}: frame ${batch.location} should hold ${loglet.id} at ${batch.first}`,
        );
      }
      batches.push(write);
      records += write.payloads.length;
      for (const p of write.payloads) bytes += p.length;
      if (records >= max || bytes >= READ_BYTES_MAX) break;
    }
    const stored = sliceRecords(batches, from, toExclusive, max, READ_BYTES_MAX);
    if (stored.length === 0) {
      throw new KeelError(
        "storage",
        `${this.dir}: ${loglet.id} offset ${from} is missing below the tail ${toExclusive} (data loss)`,
      );
    }
    return stored.map((r) => ({
      kind: "record",
      offset: LogletOffset(r.offset),
      payload: r.payload,
    }));
  }

  /**
   * Unlinks whole files that hold nothing any loglet still needs; old metadata is rewritten first.
   * A failure is left for the next trim to retry: keeping files loses nothing.
   */
  collectGarbage(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.collecting ??= this.collect()
      .catch(() => undefined)
      .finally(() => (this.collecting = undefined));
    return this.collecting;
  }

  private async collect(): Promise<void> {
    let oldestBatch = this.files.tail;
    for (const frame of this.index.liveLocations()) oldestBatch = Math.min(oldestBatch, frame);
    for (const [id, frame] of [...this.metaFrames]) {
      if (frame >= oldestBatch) continue;
      await new Promise<void>((resolve, reject) => {
        const loglet = this.loglet(id);
        this.enqueue({ kind: "meta", loglet, meta: loglet.currentMeta(), resolve, reject });
      });
    }
    let oldest = oldestBatch;
    for (const frame of this.metaFrames.values()) oldest = Math.min(oldest, frame);
    await this.files.dropFilesBelow(oldest);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.probeTimer);
    while (this.flushing !== undefined) await this.flushing;
    await this.files.close();
  }
}

export class LocalLoglet implements Loglet {
  /** First offset not yet durable; everything below it is readable. */
  durableTail = OFFSET_OLDEST as number;
  trimmedThrough = 0;
  private sealed = false;
  private sealRequested = false;
  private readonly cache = new Map<number, Uint8Array>();
  private cacheLowest = 1;
  private cacheBytes = 0;
  private waiters: { beyond: number; resolve: (tail: LogletTail) => void }[] = [];
  private sealing: Promise<LogletTail> | undefined;

  constructor(
    private readonly store: LocalLogStore,
    readonly id: LogletId,
    private readonly cacheRecordsMax: number,
  ) {}

  /** A loglet in a store of its own (tests, tools): `dir` holds its segment files. */
  static async open(dir: string, options: LocalLogletOptions = {}): Promise<LocalLoglet> {
    const store = await LocalLogStore.open(dir, options);
    const loglet = store.loglet(logletIdOf(0, 0));
    loglet.ownsStore = true;
    return loglet;
  }

  private ownsStore = false;

  get isSealed(): boolean {
    return this.sealed;
  }

  // ---- driven by the store ----

  recovered(tail: number | undefined, meta: LogletMeta | undefined): void {
    if (tail !== undefined) this.durableTail = Math.max(this.durableTail, tail);
    if (meta !== undefined) {
      this.sealed = meta.sealed;
      this.sealRequested = meta.sealed;
      this.trimmedThrough = Math.max(this.trimmedThrough, meta.trimPoint);
    }
    this.durableTail = Math.max(this.durableTail, this.trimmedThrough + 1);
    this.cacheLowest = this.durableTail;
  }

  appended(first: number, payloads: readonly Uint8Array[]): void {
    assert(
      first === this.durableTail,
      `${this.id}: append at ${first}, tail is ${this.durableTail}`,
    );
    for (let i = 0; i < payloads.length; i++) this.cachePut(first + i, payloads[i]!);
    this.durableTail = first + payloads.length;
    this.notify();
  }

  metaWritten(meta: LogletMeta): void {
    if (meta.sealed) this.sealed = true;
    if (meta.trimPoint > this.trimmedThrough) {
      for (let o = this.cacheLowest; o <= meta.trimPoint; o++) this.cacheDrop(o);
      this.cacheLowest = Math.max(this.cacheLowest, meta.trimPoint + 1);
      this.trimmedThrough = meta.trimPoint;
    }
    this.notify();
  }

  currentMeta(): LogletMeta {
    return {
      ...EMPTY_META,
      sealed: this.sealed || this.sealRequested,
      trimPoint: this.trimmedThrough,
    };
  }

  /** Keeps the newest records within both bounds (always the newest one, however large). */
  private cachePut(offset: number, payload: Uint8Array): void {
    if (this.cache.size === 0) this.cacheLowest = offset;
    this.cache.set(offset, payload);
    this.cacheBytes += payload.length;
    while (
      this.cache.size > this.cacheRecordsMax ||
      (this.cacheBytes > limits.logTailCacheBytesMax && this.cache.size > 1)
    )
      this.cacheDrop(this.cacheLowest++);
  }

  private cacheDrop(offset: number): void {
    const payload = this.cache.get(offset);
    if (payload === undefined) return;
    this.cache.delete(offset);
    this.cacheBytes -= payload.length;
  }

  // ---- the loglet contract ----

  append(payloads: readonly Uint8Array[]): Promise<LogletOffset> {
    if (this.sealRequested)
      return Promise.reject(new KeelError("sealed", `${this.id}: the loglet is sealed`, true));
    if (payloads.length === 0) return Promise.reject(new KeelError("bad_request", "empty append"));
    const bytes = framedBytes(payloads);
    if (bytes instanceof KeelError) return Promise.reject(bytes);
    return new Promise((resolve, reject) =>
      this.store.enqueue({ kind: "append", loglet: this, payloads, bytes, resolve, reject }),
    );
  }

  async read(from: LogletOffset, maxRecords: number): Promise<LogletEntry[]> {
    const at = Math.max(from, OFFSET_OLDEST);
    if (at <= this.trimmedThrough) {
      return [{ kind: "trimGap", from: LogletOffset(at), to: LogletOffset(this.trimmedThrough) }];
    }
    const out: LogletEntry[] = [];
    for (let o = at; o < this.durableTail && out.length < maxRecords; o++) {
      const cached = this.cache.get(o);
      if (cached === undefined) break;
      out.push({ kind: "record", offset: LogletOffset(o), payload: cached });
    }
    if (out.length > 0 || at >= this.durableTail) return out;
    return this.store.readFromFiles(this, at, this.durableTail, maxRecords);
  }

  waitForTail(beyond: LogletOffset): Promise<LogletTail> {
    if (this.durableTail > beyond || this.sealed) return Promise.resolve(this.tailNow());
    return new Promise((resolve) => this.waiters.push({ beyond, resolve }));
  }

  findTail(): Promise<LogletTail> {
    return Promise.resolve(this.tailNow());
  }

  /** Appends queued before the seal still land; everything after fails with "sealed". */
  seal(): Promise<LogletTail> {
    if (this.sealed) return Promise.resolve(this.tailNow());
    this.sealRequested = true;
    this.sealing ??= new Promise<void>((resolve, reject) =>
      this.store.enqueue({ kind: "meta", loglet: this, meta: this.currentMeta(), resolve, reject }),
    ).then(() => this.tailNow());
    return this.sealing;
  }

  async trim(through: LogletOffset): Promise<void> {
    const target = Math.min(through, this.durableTail - 1);
    if (target <= this.trimmedThrough) return;
    await new Promise<void>((resolve, reject) =>
      this.store.enqueue({
        kind: "meta",
        loglet: this,
        meta: { ...this.currentMeta(), trimPoint: target },
        resolve,
        reject,
      }),
    );
    await this.store.collectGarbage();
  }

  trimPoint(): Promise<number> {
    return Promise.resolve(this.trimmedThrough);
  }

  async close(): Promise<void> {
    if (this.ownsStore) await this.store.close();
  }

  private tailNow(): LogletTail {
    return { offset: LogletOffset(this.durableTail), sealed: this.sealed };
  }

  private notify(): void {
    if (this.waiters.length === 0) return;
    const ready = this.waiters.filter((w) => this.durableTail > w.beyond || this.sealed);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => !(this.durableTail > w.beyond || this.sealed));
    const tail = this.tailNow();
    for (const waiter of ready) waiter.resolve(tail);
  }
}

/** The `local` provider: every loglet of the node in one LocalLogStore at `root`. */
export class LocalLogletProvider implements LogletProvider {
  readonly name = "local";
  private store: Promise<LocalLogStore> | undefined;
  private opened: LocalLogStore | undefined;

  constructor(
    private readonly root: string,
    private readonly options: LocalLogletOptions = {},
  ) {}

  /** `config.params` carries nothing for local loglets: the loglet follows from log and segment. */
  async open(logId: number, segmentIndex: number, _config: LogletConfig): Promise<Loglet> {
    return (await this.logStore()).loglet(logletIdOf(logId, segmentIndex));
  }

  /** Why the last write to the log failed, while no write has succeeded since. */
  get failure(): KeelError | undefined {
    return this.opened?.failure;
  }

  /** The node's write-ahead stream, opened (and recovered) on first use. */
  logStore(): Promise<LocalLogStore> {
    this.store ??= LocalLogStore.open(join(this.root), this.options).then((store) => {
      this.opened = store;
      return store;
    });
    return this.store;
  }

  async close(): Promise<void> {
    if (this.store !== undefined) await (await this.store).close();
    this.store = undefined;
    this.opened = undefined;
  }
}
