/**
 * The simulator's twins of the metadata store's ports (src/metadata-server/ports.ts): a transport
 * over SimNetwork that encodes every envelope (so the codec runs under simulation too), a ticker on
 * the SimScheduler, and Raft storage on a SimDisk that uses the production on-disk format and
 * planner, so crashes with lost and torn writes exercise the real recovery code.
 *
 * Invariants: a crashed process's callbacks never run, a paused one's run in order when it resumes,
 * and a persist completes (sync, then `done`) only after a simulated disk latency.
 */

import { concatBytes, assert } from "../../core/index.js";
import {
  type RaftRecovered,
  StoragePlanner,
  recoverStorage,
  type PersistWork,
  decodeEnvelope,
  encodeEnvelope,
  type Envelope,
  type MetadataTransport,
  type RaftStorage,
  type Ticker,
} from "../../metadata-server/index.js";
import type { SimDisk } from "../disk.js";
import type { SimNetwork } from "../network.js";
import type { SimScheduler } from "../scheduler.js";

export const SNAPSHOT_FILE = "raft-snapshot";
export const LOG_FILE = "raft-log";

/** Maps the metadata store's string addresses to the simulated network's node numbers. */
export class SimAddressBook {
  private readonly numbers = new Map<string, number>();

  register(address: string, node: number): void {
    assert(!this.numbers.has(address), `address ${address} registered twice`);
    this.numbers.set(address, node);
  }

  nodeOf(address: string): number | undefined {
    return this.numbers.get(address);
  }
}

/**
 * One incarnation of a simulated process. After a crash it is dead for good (a restart is a new
 * incarnation): its callbacks never run again. While paused (a stall: garbage collection, a stopped
 * VM) it runs nothing; messages and disk completions wait and run in order when it resumes, and
 * timer ticks that fell in the pause are lost, as with a real process.
 */
export class SimProcess {
  private dead = false;
  private pausedUntil = 0;
  private queue: (() => void)[] = [];

  constructor(private readonly scheduler: SimScheduler) {}

  get isAlive(): boolean {
    return !this.dead;
  }

  get isPaused(): boolean {
    return this.scheduler.now < this.pausedUntil;
  }

  kill(): void {
    this.dead = true;
    this.queue = [];
  }

  pause(durationMs: number): void {
    if (this.dead) return;
    const until = this.scheduler.now + durationMs;
    if (until <= this.pausedUntil) return;
    this.pausedUntil = until;
    this.scheduler.schedule(durationMs, () => this.resumeIfDue());
  }

  /** Runs `work` now, later (when paused), or never (when dead). */
  gate(work: () => void): void {
    if (this.dead) return;
    if (this.isPaused) this.queue.push(work);
    else work();
  }

  private resumeIfDue(): void {
    if (this.dead || this.isPaused) return;
    const queued = this.queue;
    this.queue = [];
    for (const work of queued) {
      if (this.dead) return;
      work();
    }
  }
}

export class SimTransport implements MetadataTransport {
  private readonly node: number;

  constructor(
    readonly address: string,
    private readonly book: SimAddressBook,
    private readonly network: SimNetwork<Uint8Array>,
    private readonly process: SimProcess,
  ) {
    const node = book.nodeOf(address);
    assert(node !== undefined, `unknown simulated address ${address}`);
    this.node = node;
  }

  send(to: string, envelope: Envelope): void {
    if (!this.process.isAlive) return;
    const target = this.book.nodeOf(to);
    if (target === undefined) return;
    this.network.send(this.node, target, encodeEnvelope(envelope));
  }

  onReceive(handler: (envelope: Envelope) => void): void {
    this.network.attach(this.node, (_from, bytes) => {
      this.process.gate(() => handler(decodeEnvelope(bytes)));
    });
  }

  close(): void {
    this.network.detach(this.node);
  }
}

export class SimTicker implements Ticker {
  constructor(
    private readonly scheduler: SimScheduler,
    private readonly process: SimProcess,
    /** Delay of the first tick, so that nodes do not tick in lockstep. */
    private readonly phaseMs: number,
  ) {}

  every(intervalMs: number, onTick: () => void): () => void {
    let stopped = false;
    const loop = (): void => {
      if (stopped || !this.process.isAlive) return;
      if (!this.process.isPaused) onTick();
      this.scheduler.schedule(intervalMs, loop);
    };
    this.scheduler.schedule(this.phaseMs, loop);
    return () => {
      stopped = true;
    };
  }
}

/** Opens a member's Raft storage on a simulated disk: recovers, then rewrites the log file. */
export function openSimRaftStorage(
  disk: SimDisk,
  scheduler: SimScheduler,
  process: SimProcess,
  persistLatencyMs: () => number,
): { storage: RaftStorage; recovered: RaftRecovered } {
  const recovered = recoverStorage(disk.read(SNAPSHOT_FILE), disk.read(LOG_FILE));
  const planner = new StoragePlanner(recovered);
  disk.write(LOG_FILE, concatBytes(planner.logFile()));
  disk.sync(LOG_FILE);
  return {
    storage: new SimRaftStorage(disk, scheduler, process, persistLatencyMs, planner),
    recovered,
  };
}

/** Writes a freshly provisioned member's state, durably. */
export function provisionSimDisk(disk: SimDisk, state: RaftRecovered): void {
  const planner = new StoragePlanner(state);
  disk.write(
    SNAPSHOT_FILE,
    planner.plan({ snapshot: state.snapshot, hardState: undefined, entries: [] }).snapshotFile!,
  );
  disk.sync(SNAPSHOT_FILE);
  disk.write(LOG_FILE, concatBytes(planner.logFile()));
  disk.sync(LOG_FILE);
}

class SimRaftStorage implements RaftStorage {
  constructor(
    private readonly disk: SimDisk,
    private readonly scheduler: SimScheduler,
    private readonly process: SimProcess,
    private readonly persistLatencyMs: () => number,
    private readonly planner: StoragePlanner,
  ) {}

  persist(work: PersistWork, done: (error: Error | undefined) => void): void {
    const writes = this.planner.plan(work);
    if (writes.snapshotFile !== undefined) {
      // The snapshot file is replaced atomically and synced before the log is touched.
      this.disk.write(SNAPSHOT_FILE, writes.snapshotFile);
      this.disk.sync(SNAPSHOT_FILE);
    }
    if (writes.logRewrite !== undefined) this.disk.write(LOG_FILE, concatBytes(writes.logRewrite));
    for (const bytes of writes.logAppend) this.disk.append(LOG_FILE, bytes);
    this.scheduler.schedule(this.persistLatencyMs(), () => {
      if (!this.process.isAlive) return;
      // The disk finishes on its own time; the process notices when it runs.
      this.disk.sync(LOG_FILE);
      this.process.gate(() => done(undefined));
    });
  }

  close(): void {}
}
