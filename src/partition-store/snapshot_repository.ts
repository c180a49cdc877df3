/**
 * Partition snapshots in an object store:
 * `<partition>/lsn_<LSN, 20 digits>-<snapshot id>/data` and `.../manifest.json`. The manifest is
 * written after the data and deleted before it, so a listed snapshot always has its data; keys sort
 * by LSN. A snapshot that cannot be read back whole (missing data, a checksum that disagrees) is
 * skipped for an older one, and said so in the log.
 */

import { describeError } from "../core/index.js";
import type { ObjectStore } from "../object-store/index.js";
import type { Logger } from "../platform/index.js";
import {
  decodeSnapshot,
  parseSnapshotManifest,
  type EncodedSnapshot,
  type SnapshotManifest,
} from "./snapshot_format.js";

const MANIFEST = "manifest.json";
const DATA = "data";

function directoryOf(manifest: SnapshotManifest): string {
  const lsn = String(manifest.appliedLsn).padStart(20, "0");
  return `${manifest.partitionId}/lsn_${lsn}-${manifest.snapshotId}`;
}

export interface RestoredSnapshot {
  readonly manifest: SnapshotManifest;
  readonly entries: [string, Uint8Array][];
}

export class SnapshotRepository {
  constructor(
    private readonly store: ObjectStore,
    private readonly logger: Logger,
  ) {}

  get description(): string {
    return this.store.description;
  }

  async save(manifest: SnapshotManifest, snapshot: EncodedSnapshot): Promise<void> {
    const directory = directoryOf(manifest);
    await this.store.put(`${directory}/${DATA}`, snapshot.parts);
    await this.store.put(`${directory}/${MANIFEST}`, [
      new TextEncoder().encode(JSON.stringify(manifest, null, 2)),
    ]);
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
   * The newest snapshot of the cluster's partition at or after `minLsn` that reads back whole;
   * undefined when none does.
   */
  async restore(
    clusterName: string,
    partitionId: number,
    minLsn: number,
  ): Promise<RestoredSnapshot | undefined> {
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
        const data = await this.store.get(key);
        if (data === undefined) throw new Error("its data is missing");
        return { manifest, entries: decodeSnapshot(data, manifest) };
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
