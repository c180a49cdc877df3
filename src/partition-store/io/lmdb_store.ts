/**
 * Partition stores on LMDB (the `lmdb` package). One environment per node holds one database per
 * partition, so that the writes of all partitions share each LMDB transaction (and its cost).
 *
 * Durability: the stores are a materialised view of the logs, which are the source of truth; every
 * batch carries its partition's applied LSN, and after a crash each processor replays its log from
 * there. So LMDB runs with `noSync`: no fsync on the hot path. A process crash loses nothing LMDB
 * wrote (the page cache survives), but an operating-system crash could leave a torn B-tree. The
 * environment therefore records the kernel's boot id while it is open and marks a clean close; if the
 * machine restarted while it was open, the stores are discarded and rebuilt from the logs
 * (`openLmdbEnvironment` reports `rebuilt`).
 *
 * Reads are synchronous from the memory map. Until a committed batch is written, its changes sit in
 * an overlay that every read of its partition consults first (read-your-writes).
 *
 * Writes are strictly ordered: one LMDB transaction at a time, carrying every batch of every partition
 * committed since the previous one (merged in order). If a write fails (disk full, read-only disk),
 * nothing after it was submitted, so each store on disk stays a prefix of its applied batches; the
 * write is retried with backoff while reads keep being served from the overlays.
 */

import {
  existsSync,
  mkdirSync,
  openSync,
  fsyncSync,
  closeSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { join } from "node:path";
import { open, type Database, type RootDatabase } from "lmdb";
import { KeelError, describeError, assert } from "../../core/index.js";
import {
  FSM_KEY,
  STORE_KEY_BYTES_MAX,
  prefixEnd,
  type PartitionReader,
  type PartitionTxn,
  type PartitionStore,
} from "../index.js";
import { writeFileDurably } from "../../platform/io/index.js";

/** null marks a deletion inside an overlay. */
type Overlay = Map<string, Uint8Array | null>;

const MAP_SIZE_BYTES = 256 * 1024 ** 3;
/**
 * Transactions start at most this often: durability comes from the log, so waiting lets one LMDB
 * transaction carry many batches of many partitions (its fixed cost is paid on the main thread).
 */
const WRITE_INTERVAL_MS = 10;
const WRITE_RETRY_DELAY_MS_MAX = 5000;
const STATE_FILE = "STATE";
/** A restore writes its entries in transactions of about this size. */
const RESTORE_BATCH_BYTES = 4 * 1024 * 1024;
const ignore = (): void => undefined;

interface EnvironmentState {
  readonly bootId: string;
  readonly clean: boolean;
}

function bootId(): string {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return "unknown";
  }
}

/**
 * Opens the node's store environment in `dir`. When the machine restarted while the environment was
 * open (no clean close, another boot id), the stores are deleted first: they are rebuilt from the logs.
 */
export async function openLmdbEnvironment(
  dir: string,
  onFailure: (error: KeelError) => void,
): Promise<{ environment: LmdbEnvironment; rebuilt: boolean }> {
  mkdirSync(dir, { recursive: true });
  const current = bootId();
  let rebuilt = false;
  const statePath = join(dir, STATE_FILE);
  if (existsSync(statePath)) {
    const state = JSON.parse(readFileSync(statePath, "utf8")) as EnvironmentState;
    if (!state.clean && state.bootId !== current) {
      rmSync(join(dir, "data.mdb"), { force: true });
      rmSync(join(dir, "lock.mdb"), { force: true });
      rebuilt = true;
    }
  }
  await writeFileDurably(
    dir,
    STATE_FILE,
    JSON.stringify({ bootId: current, clean: false } satisfies EnvironmentState),
  );
  return { environment: new LmdbEnvironment(dir, current, onFailure), rebuilt };
}

export class LmdbEnvironment {
  private readonly env: RootDatabase<Buffer, string>;
  private readonly stores: LmdbPartitionStore[] = [];
  private writing: Promise<void> | undefined;
  private degraded: KeelError | undefined;
  private closing = false;
  private closed = false;

  constructor(
    readonly dir: string,
    private readonly currentBootId: string,
    /** Told about each failed write; the environment keeps retrying. */
    private readonly onFailure: (error: KeelError) => void,
  ) {
    this.env = open<Buffer, string>({
      path: dir,
      mapSize: MAP_SIZE_BYTES,
      encoding: "binary",
      compression: false,
      noSync: true,
      maxDbs: 65_536,
    });
  }

  /** The store of one partition (a database of this environment). */
  partition(partitionId: number): LmdbPartitionStore {
    const db = this.env.openDB<Buffer, string>({
      name: `p${partitionId}`,
      encoding: "binary",
      compression: false,
    });
    const store = new LmdbPartitionStore(this, db, partitionId);
    this.stores.push(store);
    return store;
  }

  /** Set while writes fail; cleared by the next successful write. */
  get failure(): KeelError | undefined {
    return this.degraded;
  }

  /** A store has new pending batches: start writing unless a write is already running. */
  schedule(): void {
    if (this.writing === undefined && !this.closed) this.writing = this.writeLoop();
  }

  private async writeLoop(): Promise<void> {
    let failures = 0;
    try {
      while (!this.closing) {
        const taken = this.stores.map((store) => store.pendingCount);
        if (taken.every((n) => n === 0)) break;
        try {
          await this.env.batch(() => {
            // Each operation's own promise also rejects when the transaction fails; the batch's
            // promise reports that once, so the per-operation ones are deliberately ignored.
            this.stores.forEach((store, i) => store.writePending(taken[i]!, ignore));
          });
        } catch (error) {
          (error as { commitError?: Promise<unknown> }).commitError?.catch(ignore);
          failures++;
          this.degraded = new KeelError(
            "storage",
            `partition stores ${this.dir}: write failed: ${describeError(error)}`,
            true,
            { cause: error },
          );
          this.onFailure(this.degraded);
          await new Promise((resolve) =>
            setTimeout(
              resolve,
              Math.min(WRITE_RETRY_DELAY_MS_MAX, 50 * 2 ** Math.min(failures, 10)),
            ),
          );
          continue;
        }
        failures = 0;
        this.degraded = undefined;
        this.stores.forEach((store, i) => store.dropWritten(taken[i]!));
        await new Promise((resolve) => setTimeout(resolve, WRITE_INTERVAL_MS));
      }
    } finally {
      this.writing = undefined;
    }
  }

  async flushed(): Promise<void> {
    while (this.writing !== undefined) await this.writing;
  }

  /**
   * Writes what it can and closes. A clean close syncs the data file and records it, so that the next
   * open on this boot or any later one trusts the stores.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.degraded !== undefined) this.closing = true;
    await this.flushed().catch(ignore);
    this.closed = true;
    await this.env.close();
    if (this.degraded !== undefined) return;
    for (const file of ["data.mdb"]) {
      const fd = openSync(join(this.dir, file), "r+");
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    await writeFileDurably(
      this.dir,
      STATE_FILE,
      JSON.stringify({ bootId: this.currentBootId, clean: true } satisfies EnvironmentState),
    );
  }
}

export class LmdbPartitionStore implements PartitionStore {
  /** Committed batches not yet written, oldest first. */
  private pending: Overlay[] = [];

  constructor(
    private readonly environment: LmdbEnvironment,
    private readonly db: Database<Buffer, string>,
    readonly partitionId: number,
  ) {}

  get pendingCount(): number {
    return this.pending.length;
  }

  /** Queues the first `count` pending batches, merged in order, into the running LMDB transaction. */
  writePending(count: number, onError: () => void): void {
    if (count === 0) return;
    const merged: Overlay = count === 1 ? this.pending[0]! : new Map<string, Uint8Array | null>();
    if (count > 1)
      for (let i = 0; i < count; i++)
        for (const [key, value] of this.pending[i]!) merged.set(key, value);
    for (const [key, value] of merged) {
      if (value === null) this.db.remove(key).catch(onError);
      else this.db.put(key, bufferOf(value)).catch(onError);
    }
  }

  /** The first `count` pending batches are on disk: reads may go to LMDB for them now. */
  dropWritten(count: number): void {
    this.pending.splice(0, count);
  }

  private getCommitted(key: string): Uint8Array | undefined {
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const overlay = this.pending[i]!;
      if (overlay.has(key)) return overlay.get(key) ?? undefined;
    }
    return this.db.get(key);
  }

  private scanCommitted(
    prefix: string,
    limit: number,
    startAfter: string | undefined,
    extra?: Overlay,
  ): [string, Uint8Array][] {
    const overlays = extra === undefined ? this.pending : [...this.pending, extra];
    const touched = new Map<string, Uint8Array | null>();
    for (const overlay of overlays) {
      for (const [key, value] of overlay) {
        if (!key.startsWith(prefix) || (startAfter !== undefined && key <= startAfter)) continue;
        touched.set(key, value);
      }
    }
    let deletions = 0;
    for (const value of touched.values()) if (value === null) deletions++;
    const start = startAfter !== undefined && startAfter >= prefix ? startAfter : prefix;
    const merged = new Map<string, Uint8Array>();
    const fetch = Number.isFinite(limit) ? limit + deletions + 1 : undefined;
    for (const { key, value } of this.db.getRange({
      start,
      end: prefixEnd(prefix),
      ...(fetch === undefined ? {} : { limit: fetch }),
    })) {
      if (startAfter !== undefined && key <= startAfter) continue;
      merged.set(key, value);
    }
    if (touched.size === 0) return [...merged].slice(0, limit);
    for (const [key, value] of touched) {
      if (value === null) merged.delete(key);
      else merged.set(key, value);
    }
    return [...merged].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).slice(0, limit);
  }

  reader(): PartitionReader {
    return {
      get: (key) => this.getCommitted(key),
      scan: (prefix, limit = Number.POSITIVE_INFINITY, startAfter) =>
        this.scanCommitted(prefix, limit, startAfter),
    };
  }

  beginBatch(): PartitionTxn {
    const overlay: Overlay = new Map();
    const batch: PartitionTxn & { overlay: Overlay } = {
      overlay,
      get: (key) => (overlay.has(key) ? (overlay.get(key) ?? undefined) : this.getCommitted(key)),
      put: (key, value) => {
        // A longer key could never be written: every later write of every partition would wait on it.
        assert(key.length <= STORE_KEY_BYTES_MAX, `store key of ${key.length} bytes`);
        overlay.set(key, value);
      },
      delete: (key) => void overlay.set(key, null),
      scan: (prefix, limit = Number.POSITIVE_INFINITY, startAfter) =>
        this.scanCommitted(prefix, limit, startAfter, overlay),
    };
    return batch;
  }

  commit(batch: PartitionTxn): void {
    const overlay = (batch as PartitionTxn & { overlay: Overlay }).overlay;
    if (overlay.size === 0) return;
    this.pending.push(overlay);
    this.environment.schedule();
  }

  flushed(): Promise<void> {
    return this.environment.flushed();
  }

  /**
   * What LMDB holds, in one read transaction (batches still pending are not in it yet): the FSM
   * entry first, then the rest in key order.
   */
  *exportEntries(): Iterable<[string, Uint8Array]> {
    const transaction = this.db.useReadTransaction();
    try {
      const fsm = this.db.get(FSM_KEY, { transaction });
      if (fsm !== undefined) yield [FSM_KEY, new Uint8Array(fsm)];
      for (const { key, value } of this.db.getRange({ transaction })) {
        if (key !== FSM_KEY) yield [key, new Uint8Array(value)];
      }
    } finally {
      transaction.done();
    }
  }

  async replaceAll(
    entries: Iterable<readonly [string, Uint8Array]> | AsyncIterable<readonly [string, Uint8Array]>,
  ): Promise<void> {
    await this.environment.flushed();
    assert(this.pending.length === 0, "a store is replaced only before its processor starts");
    // Written a batch at a time (a snapshot may be larger than memory), the FSM entry last: until it
    // is, the store has applied nothing and is restored again at the next start.
    this.db.clearSync();
    let fsm: Uint8Array | undefined;
    let batch: (readonly [string, Uint8Array])[] = [];
    let batchBytes = 0;
    const write = (): void => {
      const writing = batch;
      this.db.transactionSync(() => {
        for (const [key, value] of writing) this.db.putSync(key, bufferOf(value));
      });
      batch = [];
      batchBytes = 0;
    };
    try {
      for await (const entry of entries) {
        if (entry[0] === FSM_KEY) {
          fsm = entry[1];
          continue;
        }
        batch.push(entry);
        batchBytes += entry[0].length + entry[1].length;
        if (batchBytes >= RESTORE_BATCH_BYTES) write();
      }
      write();
    } catch (error) {
      this.db.clearSync();
      throw error;
    }
    if (fsm !== undefined) this.db.putSync(FSM_KEY, bufferOf(fsm));
  }

  /** Partition stores close with their environment. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** The bytes as a Buffer (LMDB's value type), without a copy. */
function bufferOf(value: Uint8Array): Buffer {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}
