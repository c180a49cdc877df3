/**
 * A simulated node's disks and the ports over them: loglets, partition stores and the metadata
 * store. What a disk holds survives a crash; each port object belongs to one incarnation of the node
 * and is killed with it.
 *
 * - Loglets: an append becomes durable (and readable, and acknowledged) after a seeded latency, in
 *   group commits. A crash loses the appends in flight, except a random prefix of them that reached
 *   the disk unacknowledged (the writer never heard, the next incarnation reads them).
 * - Partition stores: a committed batch is visible at once but reaches the disk after a delay, in
 *   commit order, as LMDB's commits without sync do; a crash keeps a random prefix of the unwritten
 *   batches. Durability comes from the log, so the next incarnation replays what was lost.
 * - Metadata: one memory store that survives crashes (the single-node file store's semantics,
 *   without its latency); each incarnation sees it through a handle that goes silent when it dies.
 *
 * A killed port never answers again: its promises stay pending and its callbacks never run, as a
 * dead process's would not, so what the dead incarnation left half done stays half done.
 */

import {
  assert,
  KeelError,
  LogletOffset,
  OFFSET_OLDEST,
  type Prng,
  type Version,
} from "../../core/index.js";
import type {
  Loglet,
  LogletConfig,
  LogletEntry,
  LogletProvider,
  LogletTail,
} from "../../bifrost/index.js";
import {
  MemoryPartitionStore,
  applyWrites,
  bufferedBatch,
  replaceContent,
  collectEntries,
  fsmFirst,
  writesOf,
  type BatchWrites,
  type PartitionReader,
  type PartitionStore,
  type PartitionTxn,
} from "../../partition-store/index.js";
import type {
  MemoryMetadataStore,
  MetadataStore,
  Precondition,
  VersionedValue,
} from "../../metadata/index.js";
import type { SimScheduler } from "../scheduler.js";

/** The promise of a dead process: it never settles. */
function never<T>(): Promise<T> {
  return new Promise<T>(() => undefined);
}

// ---- loglets ----

interface DurableLoglet {
  /** records[i] holds offset trimmedThrough + 1 + i. */
  readonly records: Uint8Array[];
  trimmedThrough: number;
  sealed: boolean;
}

/** What the log disk holds: every loglet's durable records, by `log/segment`. */
export class SimLogDisk {
  readonly loglets = new Map<string, DurableLoglet>();

  loglet(logId: number, segmentIndex: number): DurableLoglet {
    const key = `${logId}/${segmentIndex}`;
    let loglet = this.loglets.get(key);
    if (loglet === undefined) {
      loglet = { records: [], trimmedThrough: 0, sealed: false };
      this.loglets.set(key, loglet);
    }
    return loglet;
  }
}

export interface SimLogLatency {
  readonly appendMinMs: number;
  readonly appendMaxMs: number;
  /** The chance that an append in flight at a crash reached the disk anyway (each, in order). */
  readonly inFlightSurvivesCrash: number;
}

export const SIM_LOGLET_PROVIDER = "sim";

/** One incarnation's loglets on the shared log disk. */
export class SimLogletProvider implements LogletProvider {
  readonly name = SIM_LOGLET_PROVIDER;
  private readonly opened = new Map<string, SimLoglet>();

  constructor(
    private readonly disk: SimLogDisk,
    private readonly scheduler: SimScheduler,
    private readonly prng: Prng,
    private readonly latency: SimLogLatency,
  ) {}

  open(logId: number, segmentIndex: number, _config: LogletConfig): Promise<Loglet> {
    const key = `${logId}/${segmentIndex}`;
    let loglet = this.opened.get(key);
    if (loglet === undefined) {
      loglet = new SimLoglet(
        this.disk.loglet(logId, segmentIndex),
        this.scheduler,
        this.prng,
        this.latency,
      );
      this.opened.set(key, loglet);
    }
    return Promise.resolve(loglet);
  }

  /** The process died: appends in flight are lost but for a random prefix that reached the disk. */
  crash(): void {
    for (const loglet of this.opened.values()) loglet.crash();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

class SimLoglet implements Loglet {
  private alive = true;
  private readonly inFlight: {
    readonly payloads: readonly Uint8Array[];
    readonly resolve: (offset: LogletOffset) => void;
  }[] = [];
  private flushArmed = false;
  private waiters: { beyond: number; resolve: (tail: LogletTail) => void }[] = [];

  constructor(
    private readonly durable: DurableLoglet,
    private readonly scheduler: SimScheduler,
    private readonly prng: Prng,
    private readonly latency: SimLogLatency,
  ) {}

  private get tail(): number {
    return this.durable.trimmedThrough + 1 + this.durable.records.length;
  }

  private tailNow(): LogletTail {
    return { offset: LogletOffset(this.tail), sealed: this.durable.sealed };
  }

  append(payloads: readonly Uint8Array[]): Promise<LogletOffset> {
    if (!this.alive) return never();
    if (this.durable.sealed)
      return Promise.reject(new KeelError("sealed", "the loglet is sealed", true));
    return new Promise((resolve) => {
      this.inFlight.push({ payloads: payloads.map((p) => p.slice()), resolve });
      this.armFlush();
    });
  }

  read(from: LogletOffset, maxRecords: number): Promise<LogletEntry[]> {
    if (!this.alive) return never();
    const out: LogletEntry[] = [];
    let at = Math.max(from, OFFSET_OLDEST);
    const trimmed = this.durable.trimmedThrough;
    if (at <= trimmed) {
      out.push({ kind: "trimGap", from: LogletOffset(at), to: LogletOffset(trimmed) });
      return Promise.resolve(out);
    }
    while (at < this.tail && out.length < maxRecords) {
      const payload = this.durable.records[at - trimmed - 1]!;
      out.push({ kind: "record", offset: LogletOffset(at), payload });
      at++;
    }
    return Promise.resolve(out);
  }

  waitForTail(beyond: LogletOffset): Promise<LogletTail> {
    if (!this.alive) return never();
    if (this.tail > beyond || this.durable.sealed) return Promise.resolve(this.tailNow());
    return new Promise((resolve) => this.waiters.push({ beyond, resolve }));
  }

  findTail(): Promise<LogletTail> {
    if (!this.alive) return never();
    return Promise.resolve(this.tailNow());
  }

  seal(): Promise<LogletTail> {
    if (!this.alive) return never();
    this.durable.sealed = true;
    this.notify();
    return Promise.resolve(this.tailNow());
  }

  trim(through: LogletOffset): Promise<void> {
    if (!this.alive) return never();
    const target = Math.min(through, this.tail - 1);
    if (target > this.durable.trimmedThrough) {
      this.durable.records.splice(0, target - this.durable.trimmedThrough);
      this.durable.trimmedThrough = target;
    }
    return Promise.resolve();
  }

  trimPoint(): Promise<number> {
    if (!this.alive) return never();
    return Promise.resolve(this.durable.trimmedThrough);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  crash(): void {
    if (!this.alive) return;
    this.alive = false;
    for (const append of this.inFlight) {
      if (!this.prng.chance(this.latency.inFlightSurvivesCrash)) break;
      this.write(append.payloads);
    }
    this.inFlight.length = 0;
    this.waiters = [];
  }

  /** One group commit: every append issued since it was armed becomes durable, in order. */
  private armFlush(): void {
    if (this.flushArmed) return;
    this.flushArmed = true;
    const { appendMinMs, appendMaxMs } = this.latency;
    const delay = appendMinMs + this.prng.nextInt(appendMaxMs - appendMinMs + 1);
    this.scheduler.schedule(delay, () => {
      this.flushArmed = false;
      if (!this.alive) return;
      for (const append of this.inFlight.splice(0)) {
        if (this.durable.sealed) continue; // refused: the writer learns it at its next append
        append.resolve(this.write(append.payloads));
      }
      this.notify();
    });
  }

  private write(payloads: readonly Uint8Array[]): LogletOffset {
    assert(!this.durable.sealed, "a sealed loglet takes no records");
    for (const payload of payloads) this.durable.records.push(payload);
    return LogletOffset(this.tail - 1);
  }

  private notify(): void {
    const tail = this.tail;
    const sealed = this.durable.sealed;
    const ready = this.waiters.filter((w) => tail > w.beyond || sealed);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => !(tail > w.beyond || sealed));
    for (const waiter of ready) waiter.resolve(this.tailNow());
  }
}

// ---- partition stores ----

/** What the store disk holds: every partition's written batches. */
export class SimStoreDisk {
  readonly partitions = new Map<number, MemoryPartitionStore>();

  partition(partitionId: number): MemoryPartitionStore {
    let store = this.partitions.get(partitionId);
    if (store === undefined) {
      store = new MemoryPartitionStore();
      this.partitions.set(partitionId, store);
    }
    return store;
  }
}

/**
 * One incarnation's partition store: reads see every committed batch at once (as the LMDB store's
 * do), the disk gets them later, in order.
 */
export class SimPartitionStore implements PartitionStore {
  private alive = true;
  private readonly memory = new MemoryPartitionStore();
  private readonly unwritten: BatchWrites[] = [];
  private lastWriteAt = 0;
  private flushWaiters: (() => void)[] = [];

  constructor(
    private readonly disk: MemoryPartitionStore,
    private readonly scheduler: SimScheduler,
    private readonly prng: Prng,
    private readonly writeDelayMaxMs: number,
  ) {
    for (const [key, value] of disk.dump()) this.memory.put(key, value);
  }

  reader(): PartitionReader {
    return this.memory;
  }

  beginBatch(): PartitionTxn {
    return bufferedBatch(this.memory);
  }

  exportEntries(): Iterable<[string, Uint8Array]> {
    return fsmFirst(this.memory.dump());
  }

  async replaceAll(
    entries: Iterable<readonly [string, Uint8Array]> | AsyncIterable<readonly [string, Uint8Array]>,
  ): Promise<void> {
    await this.flushed();
    const copy = await collectEntries(entries, () => {
      replaceContent(this.memory, []);
      replaceContent(this.disk, []);
    });
    replaceContent(this.memory, copy);
    replaceContent(this.disk, copy);
  }

  commit(batch: PartitionTxn): void {
    if (!this.alive) return;
    const writes = writesOf(batch);
    applyWrites(this.memory, writes);
    this.unwritten.push(writes);
    const now = this.scheduler.now;
    const at = Math.max(this.lastWriteAt, now + this.prng.nextInt(this.writeDelayMaxMs + 1));
    this.lastWriteAt = at;
    // Events at one time run in the order they were scheduled, so batches are written in order.
    this.scheduler.schedule(at - now, () => {
      if (!this.alive) return;
      applyWrites(this.disk, this.unwritten.shift()!);
      if (this.unwritten.length === 0) {
        for (const wake of this.flushWaiters.splice(0)) wake();
      }
    });
  }

  flushed(): Promise<void> {
    if (!this.alive) return never();
    if (this.unwritten.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.flushWaiters.push(resolve));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** The process died: a random prefix of the unwritten batches reached the disk. */
  crash(): void {
    if (!this.alive) return;
    this.alive = false;
    const kept = this.prng.nextInt(this.unwritten.length + 1);
    for (const writes of this.unwritten.slice(0, kept)) applyWrites(this.disk, writes);
    this.unwritten.length = 0;
    this.flushWaiters = [];
  }
}

// ---- metadata ----

/** One incarnation's handle on the metadata store that outlives it. */
export class SimMetadataHandle implements MetadataStore {
  private alive = true;
  private readonly subscriptions = new Set<() => void>();

  constructor(private readonly store: MemoryMetadataStore) {}

  get(key: string): Promise<VersionedValue | undefined> {
    return this.alive ? this.store.get(key) : never();
  }

  put(key: string, value: Uint8Array, precondition: Precondition): Promise<Version> {
    return this.alive ? this.store.put(key, value, precondition) : never();
  }

  delete(key: string, precondition: Precondition): Promise<void> {
    return this.alive ? this.store.delete(key, precondition) : never();
  }

  subscribe(key: string, listener: (value: VersionedValue | undefined) => void): () => void {
    const unsubscribe = this.store.subscribe(key, (value) => {
      if (this.alive) listener(value);
    });
    this.subscriptions.add(unsubscribe);
    return () => {
      this.subscriptions.delete(unsubscribe);
      unsubscribe();
    };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  kill(): void {
    this.alive = false;
    for (const unsubscribe of this.subscriptions) unsubscribe();
    this.subscriptions.clear();
  }
}
