/**
 * Partition snapshots on a node: taking them (every `intervalRecords` applied records of a partition
 * this node leads, and on demand), keeping the newest `retained`, trimming each log through the
 * oldest snapshot kept (so every kept snapshot can still be restored and followed by the log), and
 * restoring a partition whose store is behind its log's trim point before its processor starts.
 *
 * A snapshot is a consistent copy of the store (`PartitionStore.exportEntries`) at the applied LSN the
 * copy records, so taking one never stops the partition. In a cluster, the leader of a partition
 * takes its snapshots, and trimming also waits for the partition's replicas (`trimLimit`).
 */

import { NO_METRICS, type KeelMetrics } from "../observability/index.js";
import {
  KeelError,
  Lsn,
  PartitionId,
  describeError,
  formatUlid,
  type PartitionTable,
} from "../core/index.js";
import {
  SNAPSHOT_FORMAT_VERSION,
  TableReader,
  copyStore,
  type PartitionStore,
  type SnapshotManifest,
  type SnapshotRepository,
} from "../partition-store/index.js";
import type { VirtualLog } from "../bifrost/index.js";
import type { Clock, Entropy, Logger } from "../platform/index.js";
import type { PartitionProcessor } from "./partition_processor.js";

/** How long a partition whose automatic snapshot failed waits before the next attempt. */
const SNAPSHOT_RETRY_MS = 30_000;

export interface SnapshotSettings {
  /** Applied records of a partition between automatic snapshots; 0 takes them on demand only. */
  readonly intervalRecords: number;
  /** Snapshots kept per partition (at least 1). */
  readonly retained: number;
  /**
   * The destination is one every node of a cluster reaches (the operator named it): a replica on
   * another node can start from these snapshots, so logs may be trimmed below them in a cluster.
   */
  readonly everyNodeReaches?: boolean;
}

export interface SnapshotDeps {
  readonly repository: SnapshotRepository;
  readonly settings: SnapshotSettings;
  readonly clusterName: string;
  readonly nodeName: string;
  readonly table: PartitionTable;
  readonly clock: Clock;
  readonly entropy: Entropy;
  readonly logger: Logger;
  /** Where snapshots taken are counted and timed (default: nowhere). */
  readonly metrics?: Pick<KeelMetrics, "snapshots" | "startTimer">;
  /**
   * The LSN a partition's log may be trimmed through besides what the snapshots allow: in a cluster,
   * what its replicas elsewhere have applied (a log trimmed past a running replica would stop it).
   * Without it, the snapshots alone decide (one node).
   */
  readonly trimLimit?: (processor: PartitionProcessor) => Promise<number>;
}

export class PartitionSnapshots {
  /** Each partition's newest snapshot. */
  private readonly newest = new Map<number, SnapshotManifest>();
  private readonly taking = new Map<number, Promise<SnapshotManifest>>();
  /** Why the last snapshot failed, until one succeeds (for `keel status`). */
  private failure: string | undefined;
  /** When each partition's last automatic snapshot failed: the next waits `SNAPSHOT_RETRY_MS`. */
  private readonly failedAtMs = new Map<number, number>();

  constructor(private readonly deps: SnapshotDeps) {}

  get description(): string {
    return this.deps.repository.description;
  }

  /** Why snapshots fail now (the last one failed), if they do. */
  get problem(): string | undefined {
    return this.failure;
  }

  /** The partition's newest snapshot, if it has one. */
  latest(partitionId: number): SnapshotManifest | undefined {
    return this.newest.get(partitionId);
  }

  /**
   * Before the partition's processor recovers: when its store has not applied what its log no longer
   * holds, replaces the store with the newest readable snapshot that covers the gap; refuses the
   * start when there is none.
   */
  async prepare(partitionId: number, store: PartitionStore, log: VirtualLog): Promise<void> {
    let unreadable: unknown;
    try {
      const [newest] = await this.deps.repository.list(partitionId);
      if (newest !== undefined) this.newest.set(partitionId, newest);
    } catch (error) {
      unreadable = error;
    }
    const trimPoint = await log.trimPoint();
    const applied = new TableReader(store.reader()).fsm().appliedLsn;
    if (unreadable !== undefined) {
      const reason = `cannot read the snapshots in ${this.description}: ${describeError(unreadable)}`;
      if (applied < trimPoint) {
        throw new KeelError(
          "storage",
          `partition ${partitionId}: its log is trimmed through LSN ${trimPoint} but its store has applied only ${applied}, and it ${reason}`,
        );
      }
      // Nothing to restore: the node starts, and says what is wrong until a snapshot succeeds.
      this.failure = `partition ${partitionId}: ${reason}`;
      this.deps.logger.warn("snapshots are unavailable", { error: this.failure });
      return;
    }
    if (applied >= trimPoint) return;
    const { repository, clusterName, logger } = this.deps;
    const restored = await repository.restore(clusterName, partitionId, trimPoint, (entries) =>
      store.replaceAll(entries),
    );
    if (restored === undefined) {
      throw new KeelError(
        "storage",
        `partition ${partitionId}: its log is trimmed through LSN ${trimPoint} but its store has applied only ${applied}, and ${repository.description} holds no readable snapshot at or after LSN ${trimPoint}`,
      );
    }
    logger.info("restored a partition from its snapshot", {
      partition: partitionId,
      snapshot: restored.snapshotId,
      lsn: restored.appliedLsn,
      entries: restored.entries,
    });
  }

  /** Takes a snapshot of a partition now (one at a time per partition), keeps the newest, trims. */
  create(processor: PartitionProcessor): Promise<SnapshotManifest> {
    const partitionId = processor.partitionId;
    const running = this.taking.get(partitionId);
    if (running !== undefined) return running;
    const taking = this.take(processor).then(
      (manifest) => {
        this.failure = undefined;
        return manifest;
      },
      (error: unknown) => {
        if (error instanceof KeelError) throw error;
        // The destination failed (full, unwritable, unreachable): the node goes on without it.
        this.failure = `partition ${partitionId} to ${this.description}: ${describeError(error)}`;
        throw new KeelError("unavailable", `snapshot of ${this.failure}`, true, { cause: error });
      },
    );
    void taking.catch(() => undefined).finally(() => this.taking.delete(partitionId));
    this.taking.set(partitionId, taking);
    return taking;
  }

  /** Snapshots every led partition that applied `intervalRecords` records since its newest. */
  tick(processors: readonly PartitionProcessor[]): void {
    const interval = this.deps.settings.intervalRecords;
    if (interval === 0) return;
    for (const processor of processors) {
      const partitionId = processor.partitionId;
      if (!processor.isLeader || this.taking.has(partitionId)) continue;
      const failedAt = this.failedAtMs.get(partitionId);
      if (failedAt !== undefined && this.deps.clock.nowMs() - failedAt < SNAPSHOT_RETRY_MS)
        continue;
      const since = processor.appliedLsn - (this.newest.get(partitionId)?.appliedLsn ?? 0);
      if (since < interval) continue;
      this.create(processor).then(
        () => this.failedAtMs.delete(partitionId),
        (error: unknown) => {
          this.failedAtMs.set(partitionId, this.deps.clock.nowMs());
          this.deps.logger.warn("partition snapshot failed; retrying later", {
            partition: partitionId,
            destination: this.description,
            retryInMs: SNAPSHOT_RETRY_MS,
            error: describeError(error),
          });
        },
      );
    }
  }

  /** Waits for the snapshots being taken, then releases the destination's connections. */
  async close(): Promise<void> {
    await this.settled();
    this.deps.repository.close();
  }

  /** Resolves once no snapshot is being taken. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.taking.values()]);
  }

  /** The snapshots kept of a partition, newest first. */
  list(partitionId: number): Promise<SnapshotManifest[]> {
    return this.deps.repository.list(partitionId);
  }

  private async take(processor: PartitionProcessor): Promise<SnapshotManifest> {
    const { repository, settings, table, clock, entropy, logger } = this.deps;
    const partitionId = processor.partitionId;
    const metrics = this.deps.metrics ?? NO_METRICS;
    const started = metrics.startTimer();
    // Between frames, the I/O already due runs: a large store's copy does not stall the node.
    const copy = copyStore(
      processor.store,
      () => new Promise<void>((resolve) => clock.deferAfterIo(resolve)),
      repository.newHash,
    );
    if (copy.appliedLsn === 0) {
      throw new KeelError("unavailable", `partition ${partitionId} has applied nothing yet`, true);
    }
    const createdAtMs = clock.nowMs();
    const random = new Uint8Array(10);
    entropy.fill(random);
    const range = table.rangeOf(PartitionId(partitionId));
    const heading = {
      formatVersion: SNAPSHOT_FORMAT_VERSION,
      snapshotId: `snap_${formatUlid(createdAtMs, random)}`,
      clusterName: this.deps.clusterName,
      nodeName: this.deps.nodeName,
      partitionId,
      keyRange: { from: String(range.start), to: String(range.end) },
      appliedLsn: copy.appliedLsn,
      createdAtMs,
    };
    const manifest = await repository.save(heading, copy);
    if (manifest.appliedLsn >= (this.newest.get(partitionId)?.appliedLsn ?? 0)) {
      this.newest.set(partitionId, manifest);
    }
    await repository.prune(partitionId, settings.retained);
    // Through the oldest snapshot kept: any kept snapshot plus the log after it rebuilds the store.
    const kept = await repository.list(partitionId);
    const trimThrough = Math.min(
      kept[kept.length - 1]?.appliedLsn ?? 0,
      (await this.deps.trimLimit?.(processor)) ?? Number.MAX_SAFE_INTEGER,
    );
    if (trimThrough > 0) await processor.log.trim(Lsn(trimThrough));
    metrics.snapshots.snapshotTaken(manifest.bytes, started);
    logger.info("partition snapshot", {
      partition: partitionId,
      snapshot: manifest.snapshotId,
      lsn: manifest.appliedLsn,
      entries: manifest.entries,
      bytes: manifest.bytes,
      logTrimmedThrough: trimThrough,
    });
    return manifest;
  }
}
