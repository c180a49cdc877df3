/**
 * Bifrost: virtual logs made of a chain of segments. Each segment is a loglet with a provider and a
 * base LSN; the chain lives in the metadata store, so every node agrees where each segment starts.
 * Appends go to the last segment. Reconfiguration seals the last segment, settles its tail t and
 * compare-and-swaps a new segment starting at LSN base + t - 1 into the chain; the sealed segment
 * keeps serving reads below that point.
 *
 * Segments whose records are all trimmed can be dropped from the chain, which then records its trim
 * point: a node that could never open them (another node's local segments, once a single node grew
 * into a cluster) reads a trim gap there, and starts from a snapshot.
 *
 * Invariants: segment bases strictly increase; every segment but the last is sealed; LSN = base +
 * offset - 1 within a segment; the chain's trim point is below the first segment's base.
 */

import { assert, LogletOffset, Lsn, type Version, KeelError } from "../core/index.js";
import {
  getJson,
  putJson,
  MUST_NOT_EXIST,
  matchesVersion,
  type MetadataStore,
} from "../metadata/index.js";
import type { Loglet, LogletConfig, LogletProvider } from "./loglet.js";

export interface SegmentConfig {
  readonly index: number;
  readonly baseLsn: number;
  readonly loglet: LogletConfig;
}

export interface LogChain {
  readonly logId: number;
  readonly segments: readonly SegmentConfig[];
  /** Records through this LSN are gone with the segments dropped from the chain (0: none). */
  readonly trimPoint?: number;
}

export type LogEntry =
  | { readonly kind: "record"; readonly lsn: Lsn; readonly payload: Uint8Array }
  | { readonly kind: "trimGap"; readonly from: Lsn; readonly to: Lsn };

export const chainKey = (logId: number): string => `bifrost/logs/${logId}`;

interface OpenSegment {
  readonly config: SegmentConfig;
  readonly loglet: Loglet;
}

/** One virtual log. Not shared across processes; several readers and writers may share one object. */
export class VirtualLog {
  private segments: OpenSegment[];
  private chainVersion: Version;
  /** The chain's trim point (records through it went with dropped segments). */
  private droppedThrough: number;
  private unwatchChain: (() => void) | undefined;
  private readonly extensionWaiters = new Set<() => void>();
  /** A seal-and-extend of this object in progress: appends its seal refused wait for it. */
  private extending: Promise<unknown> | undefined;

  constructor(
    private readonly bifrost: Bifrost,
    readonly logId: number,
    segments: OpenSegment[],
    version: Version,
    droppedThrough = 0,
  ) {
    assert(segments.length > 0, "a chain has at least one segment");
    this.segments = segments;
    this.chainVersion = version;
    this.droppedThrough = droppedThrough;
  }

  private get last(): OpenSegment {
    return this.segments[this.segments.length - 1]!;
  }

  /** The highest tail this log learned (its appends, reads of its tail): for a replica's lag. */
  private learnedTail = 1;

  /** The first unwritten LSN as this node last learned it, without asking anyone (may be behind). */
  get knownTail(): Lsn {
    return Lsn(this.learnedTail);
  }

  private learnTail(tail: number): void {
    if (tail > this.learnedTail) this.learnedTail = tail;
  }

  /** The last segment as an append found it: sealed, with no segment after it in the chain. */
  private sealedLast: OpenSegment | undefined;

  /**
   * Whether the last segment is known to be sealed while the chain has nothing after it: a node
   * sealed it to extend the log and did not finish (it crashed, or it lost the placement before).
   * Appends fail until someone extends the log; the partition's leader must.
   */
  get lastSegmentSealed(): boolean {
    return this.sealedLast !== undefined && this.sealedLast === this.last;
  }

  /** Appends a batch; resolves with the LSN of its last record once durable. */
  async append(payloads: readonly Uint8Array[]): Promise<Lsn> {
    assert(payloads.length > 0, "an append carries at least one record");
    for (;;) {
      const segment = this.last;
      try {
        const offset = await segment.loglet.append(payloads);
        const lsn = segment.config.baseLsn + offset - 1;
        this.learnTail(lsn + 1);
        return Lsn(lsn);
      } catch (error) {
        if (!(error instanceof KeelError && error.code === "sealed")) throw error;
        // The segment was sealed by a reconfiguration; move to the next segment once it exists.
        if (this.extending !== undefined) await this.extending.catch(() => undefined);
        const moved = this.last !== segment || (await this.refresh());
        if (!moved) {
          this.sealedLast = segment;
          throw new KeelError("sealed", `log ${this.logId} is sealed and not yet extended`, true);
        }
      }
    }
  }

  /** Reads what is available from `from` on, never crossing a segment boundary in one call. */
  async read(from: Lsn, maxRecords: number): Promise<LogEntry[]> {
    if (from <= this.droppedThrough)
      return [{ kind: "trimGap", from, to: Lsn(this.droppedThrough) }];
    const index = this.segmentIndexOf(from);
    const segment = this.segments[index]!;
    const next = this.segments[index + 1];
    const base = segment.config.baseLsn;
    let max = maxRecords;
    if (next !== undefined) max = Math.min(max, next.config.baseLsn - from);
    if (max <= 0) return [];
    const entries = await segment.loglet.read(LogletOffset(from - base + 1), max);
    return entries.map((entry) =>
      entry.kind === "record"
        ? { kind: "record", lsn: Lsn(base + entry.offset - 1), payload: entry.payload }
        : { kind: "trimGap", from: Lsn(base + entry.from - 1), to: Lsn(base + entry.to - 1) },
    );
  }

  /** The first unwritten LSN. */
  async findTail(): Promise<Lsn> {
    const segment = this.last;
    const tail = await segment.loglet.findTail();
    if (tail.sealed && (await this.refresh())) return this.findTail();
    const lsn = segment.config.baseLsn + tail.offset - 1;
    this.learnTail(lsn);
    return Lsn(lsn);
  }

  /**
   * Resolves with the tail once it is greater than `beyond`. A segment that another node sealed
   * need not tell this node (a replicated loglet's reader learns of a seal only when it asks), so
   * the chain's extension past the last segment ends the wait as well.
   */
  async waitForTail(beyond: Lsn): Promise<Lsn> {
    for (;;) {
      const segment = this.last;
      const base = segment.config.baseLsn;
      const extension = this.extensionOf(segment);
      const tail = await Promise.race([
        segment.loglet.waitForTail(LogletOffset(Math.max(0, beyond - base + 1))),
        extension.promise.then(() => undefined),
      ]);
      extension.cancel();
      if (tail === undefined) continue;
      const tailLsn = Lsn(base + tail.offset - 1);
      this.learnTail(tailLsn);
      if (tailLsn > beyond) return tailLsn;
      if (tail.sealed) await this.waitForExtension(segment);
    }
  }

  /**
   * Resolves when the chain has a segment after `segment`; `cancel` stops waiting. The log watches
   * its chain from the first wait on (one subscription for its lifetime, see `detach`).
   */
  private extensionOf(segment: OpenSegment): { promise: Promise<void>; cancel: () => void } {
    this.unwatchChain ??= this.bifrost.metadata.subscribe(chainKey(this.logId), () => {
      void this.refresh().then(
        () => {
          for (const waiter of [...this.extensionWaiters]) waiter();
        },
        () => undefined,
      );
    });
    let waiter: (() => void) | undefined;
    const promise = new Promise<void>((resolve) => {
      waiter = () => {
        if (this.last.config.index > segment.config.index) resolve();
      };
      this.extensionWaiters.add(waiter);
      waiter();
    });
    return { promise, cancel: () => this.extensionWaiters.delete(waiter!) };
  }

  /** Stops watching the chain (the node is stopping). */
  detach(): void {
    this.unwatchChain?.();
    this.unwatchChain = undefined;
    this.extensionWaiters.clear();
  }

  /** Trims every record with LSN ≤ `through`. */
  async trim(through: Lsn): Promise<void> {
    for (const segment of this.segments) {
      const base = segment.config.baseLsn;
      if (through < base) break;
      await segment.loglet.trim(LogletOffset(through - base + 1));
    }
  }

  /** The last trimmed LSN, or 0. */
  async trimPoint(): Promise<number> {
    let point = this.droppedThrough;
    for (const [i, segment] of this.segments.entries()) {
      // A segment sealed before it took a record (a leader's claim right after another's) holds
      // nothing to trim: the trim point is in the segments after it.
      if (this.segments[i + 1]?.config.baseLsn === segment.config.baseLsn) continue;
      const trimmed = await segment.loglet.trimPoint();
      if (trimmed === 0) break;
      point = segment.config.baseLsn + trimmed - 1;
    }
    return point;
  }

  /**
   * Seals the last segment and starts a new one at its tail, made by `next` for its index. Returns
   * the base LSN of the new segment. If another writer extended the chain meanwhile, adopts that
   * chain instead (the caller sees the last segment is not the one it made).
   */
  async sealAndExtend(
    next: (segmentIndex: number) => LogletConfig | Promise<LogletConfig>,
  ): Promise<Lsn> {
    const extending = this.extend(next);
    this.extending = extending;
    try {
      return await extending;
    } finally {
      if (this.extending === extending) this.extending = undefined;
    }
  }

  private async extend(
    next: (segmentIndex: number) => LogletConfig | Promise<LogletConfig>,
  ): Promise<Lsn> {
    const sealing = this.last;
    const index = sealing.config.index + 1;
    // Made before the seal: the log is not left sealed while the segment is chosen.
    const loglet = await next(index);
    const tail = await sealing.loglet.seal();
    if (this.last.config.index !== sealing.config.index) return Lsn(this.last.config.baseLsn);
    const base = sealing.config.baseLsn + tail.offset - 1;
    const chain: LogChain = {
      ...this.chain,
      segments: [...this.segments.map((s) => s.config), { index, baseLsn: base, loglet }],
    };
    await this.replaceChain(chain);
    return Lsn(this.last.config.baseLsn);
  }

  /**
   * Writes a new chain if the stored one is still the one this log read, and adopts it; when
   * another writer changed it first, adopts theirs instead. True when this chain was written.
   */
  private async replaceChain(chain: LogChain): Promise<boolean> {
    try {
      const version = await putJson(
        this.bifrost.metadata,
        chainKey(this.logId),
        chain,
        matchesVersion(this.chainVersion),
      );
      await this.adopt(chain, version);
      return true;
    } catch (error) {
      if (!(error instanceof KeelError && error.code === "conflict")) throw error;
      await this.refresh();
      return false;
    }
  }

  get chain(): LogChain {
    return {
      logId: this.logId,
      segments: this.segments.map((s) => s.config),
      ...(this.droppedThrough === 0 ? {} : { trimPoint: this.droppedThrough }),
    };
  }

  /**
   * Drops from the chain every sealed segment whose records all lie at or below `through` (trimmed,
   * or covered by a snapshot) and records the chain's trim point; the last segment always stays.
   */
  async dropSegmentsThrough(through: Lsn): Promise<void> {
    for (;;) {
      const keep = this.segments.filter(
        (segment, i) =>
          i === this.segments.length - 1 || this.segments[i + 1]!.config.baseLsn - 1 > through,
      );
      const trimPoint = Math.max(this.droppedThrough, keep[0]!.config.baseLsn - 1);
      if (keep.length === this.segments.length && trimPoint === this.droppedThrough) return;
      const chain: LogChain = { logId: this.logId, segments: keep.map((s) => s.config), trimPoint };
      if (await this.replaceChain(chain)) return;
    }
  }

  /** The metadata version of the chain this log follows. */
  get chainVersionNow(): number {
    return this.chainVersion;
  }

  /** Re-reads the chain; true when it now has more segments than before. */
  async refresh(): Promise<boolean> {
    const stored = await getJson<LogChain>(this.bifrost.metadata, chainKey(this.logId));
    if (stored === undefined || stored.version === this.chainVersion) return false;
    const before = this.segments.length;
    await this.adopt(stored.value, stored.version);
    return this.segments.length > before;
  }

  /** Waits until the chain has a segment after `sealed` (this or another writer is reconfiguring). */
  private async waitForExtension(sealed: OpenSegment): Promise<void> {
    const extended = (): boolean => this.last.config.index > sealed.config.index;
    while (!extended()) {
      let unsubscribe: (() => void) | undefined;
      const changed = new Promise<void>((resolve) => {
        unsubscribe = this.bifrost.metadata.subscribe(chainKey(this.logId), () => resolve());
      });
      try {
        await this.refresh();
        if (!extended()) await changed;
      } finally {
        unsubscribe?.();
      }
    }
  }

  private async adopt(chain: LogChain, version: Version): Promise<void> {
    const opened: OpenSegment[] = [];
    for (const config of chain.segments) {
      const existing = this.segments.find((s) => s.config.index === config.index);
      opened.push(
        existing ?? { config, loglet: await this.bifrost.openLoglet(this.logId, config) },
      );
    }
    for (let i = 1; i < opened.length; i++) {
      assert(
        opened[i]!.config.baseLsn >= opened[i - 1]!.config.baseLsn,
        "segment bases never decrease",
      );
    }
    this.segments = opened;
    this.chainVersion = version;
    this.droppedThrough = chain.trimPoint ?? 0;
  }

  private segmentIndexOf(lsn: Lsn): number {
    for (let i = this.segments.length - 1; i > 0; i--) {
      if (this.segments[i]!.config.baseLsn <= lsn) return i;
    }
    return 0;
  }
}

export class Bifrost {
  private readonly logs = new Map<number, Promise<VirtualLog>>();

  constructor(
    readonly metadata: MetadataStore,
    private readonly providers: ReadonlyMap<string, LogletProvider>,
    private readonly initialLoglet: (logId: number) => LogletConfig | Promise<LogletConfig>,
  ) {}

  /** Opens a log, creating its chain with one segment at LSN 1 when it does not exist yet. */
  log(logId: number): Promise<VirtualLog> {
    let log = this.logs.get(logId);
    if (log === undefined) {
      log = this.openLog(logId);
      this.logs.set(logId, log);
      log.catch(() => this.logs.delete(logId));
    }
    return log;
  }

  async openLoglet(logId: number, config: SegmentConfig): Promise<Loglet> {
    const provider = this.providers.get(config.loglet.provider);
    if (provider === undefined) {
      // The chain names a kind of loglet this node was not built with (a newer node wrote it).
      throw new KeelError(
        "unavailable",
        `log ${logId}: this node has no loglet provider '${config.loglet.provider}'`,
      );
    }
    return provider.open(logId, config.index, config.loglet);
  }

  async close(): Promise<void> {
    for (const log of this.logs.values())
      void log.then(
        (l) => l.detach(),
        () => undefined,
      );
    for (const provider of this.providers.values()) await provider.close();
  }

  private async openLog(logId: number): Promise<VirtualLog> {
    let stored = await getJson<LogChain>(this.metadata, chainKey(logId));
    if (stored === undefined) {
      const chain: LogChain = {
        logId,
        segments: [{ index: 0, baseLsn: 1, loglet: await this.initialLoglet(logId) }],
      };
      try {
        const version = await putJson(this.metadata, chainKey(logId), chain, MUST_NOT_EXIST);
        stored = { value: chain, version };
      } catch (error) {
        if (!(error instanceof KeelError && error.code === "conflict")) throw error;
        stored = await getJson<LogChain>(this.metadata, chainKey(logId));
        if (stored === undefined) throw error;
      }
    }
    const segments: OpenSegment[] = [];
    for (const config of stored.value.segments) {
      segments.push({ config, loglet: await this.openLoglet(logId, config) });
    }
    return new VirtualLog(this, logId, segments, stored.version, stored.value.trimPoint ?? 0);
  }
}
