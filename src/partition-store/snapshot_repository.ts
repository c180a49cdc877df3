/**
 * Partition snapshots in an object store:
 * `<partition>/lsn_<LSN, 20 digits>-<snapshot id>/data` and `.../manifest.json`. The manifest is
 * written after the data and deleted before it, so a listed snapshot always has its data; keys sort
 * by LSN. Data streams both ways (a frame at a time out of the store, a chunk at a time back into
 * it), so a snapshot may be larger than memory. A snapshot that cannot be read back whole (missing
 * data, a checksum that disagrees) is skipped for an older one, and said so in the log.
 */

import { describeError } from "../core/index.js";
import type { ObjectStore } from "../object-store/index.js";
import type { Logger } from "../platform/index.js";
import {
  parseSnapshotManifest,
  readSnapshot,
  type SnapshotHashFactory,
  type SnapshotManifest,
  type SnapshotSummary,
} from "./snapshot_format.js";

const MANIFEST = "manifest.json";
const DATA = "data";

function directoryOf(
  manifest: Pick<SnapshotManifest, "appliedLsn" | "partitionId" | "snapshotId">,
): string {
  const lsn = String(manifest.appliedLsn).padStart(20, "0");
  return `${manifest.partitionId}/lsn_${lsn}-${manifest.snapshotId}`;
}

/** A manifest before its data is written: the data's counts and checksum come from the data. */
export type SnapshotHeading = Omit<SnapshotManifest, keyof SnapshotSummary>;

/** Snapshot data to save: its parts, and its summary once they were all read. */
export interface SnapshotData {
  readonly data: Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
  summary(): SnapshotSummary;
}

export class SnapshotRepository {
  constructor(
    private readonly store: ObjectStore,
    private readonly logger: Logger,
    /** The data's checksum, written and checked (node:crypto's in production). */
    readonly newHash?: SnapshotHashFactory,
  ) {}

  get description(): string {
    return this.store.description;
  }

  /** Writes the data, then the manifest that completes `heading` with the data's summary. */
  async save(heading: SnapshotHeading, snapshot: SnapshotData): Promise<SnapshotManifest> {
    const directory = directoryOf(heading);
    await this.store.put(`${directory}/${DATA}`, snapshot.data);
    const manifest: SnapshotManifest = { ...heading, ...snapshot.summary() };
    await this.store.put(`${directory}/${MANIFEST}`, [
      new TextEncoder().encode(JSON.stringify(manifest, null, 2)),
    ]);
    return manifest;
  }

  /** The partition's snapshots whose manifests can be read, newest first. */
  async list(partitionId: number): Promise<SnapshotManifest[]> {
    const keys = await this.store.list(`${partitionId}/`);
    const manifests: SnapshotManifest[] = [];
    for (const key of keys.filter((k) => k.endsWith(`/${MANIFEST}`)).reverse()) {
      const bytes = await this.store.get(key);
      if (bytes === undefined) continue; // pruned meanwhile
      try {
        const manifest = parseSnapshotManifest(new TextDecoder().decode(bytes));
        if (manifest.partitionId === partitionId) manifests.push(manifest);
      } catch (error) {
        this.logger.warn("skipping a snapshot whose manifest cannot be read", {
          key: `${this.store.description}/${key}`,
          error: describeError(error),
        });
      }
    }
    return manifests;
  }

  /**
   * Gives `apply` the entries of the newest snapshot of the cluster's partition at or after `minLsn`
   * that reads back whole, and returns its manifest; undefined when none does. The entries stream:
   * their iteration throws at its end when the data disagrees with its manifest (then `apply` must
   * not have committed anything, and an older snapshot is tried).
   */
  async restore(
    clusterName: string,
    partitionId: number,
    minLsn: number,
    apply: (entries: AsyncIterable<[string, Uint8Array]>) => Promise<void>,
  ): Promise<SnapshotManifest | undefined> {
    for (const manifest of await this.list(partitionId)) {
      if (manifest.appliedLsn < minLsn) break;
      if (manifest.clusterName !== clusterName) {
        this.logger.warn("skipping a snapshot of another cluster", {
          snapshot: manifest.snapshotId,
          cluster: manifest.clusterName,
        });
        continue;
      }
      const key = `${directoryOf(manifest)}/${DATA}`;
      try {
        const data = await this.store.read(key);
        if (data === undefined) throw new Error("its data is missing");
        await apply(readSnapshot(data, manifest, this.newHash));
        return manifest;
      } catch (error) {
        this.logger.warn("skipping a snapshot that cannot be restored", {
          key: `${this.store.description}/${key}`,
          error: describeError(error),
        });
      }
    }
    return undefined;
  }

  close(): void {
    this.store.close();
  }

  /** Deletes all but the newest `keep` snapshots of the partition; returns how many it deleted. */
  async prune(partitionId: number, keep: number): Promise<number> {
    const old = (await this.list(partitionId)).slice(Math.max(1, keep));
    for (const manifest of old) {
      const directory = directoryOf(manifest);
      await this.store.delete(`${directory}/${MANIFEST}`);
      await this.store.delete(`${directory}/${DATA}`);
    }
    return old.length;
  }
}
