/**
 * The partition store on LMDB (the `lmdb` package): one environment per partition, binary values,
 * ASCII string keys. Batches are committed asynchronously on LMDB's writer thread and are never
 * fsynced on the hot path: the log is the source of truth and the applied LSN is inside each batch,
 * so after a crash the processor replays the log from the last batch LMDB kept.
 *
 * Reads are synchronous from the memory map. Until a committed batch is written, its changes sit in
 * an overlay that every read consults first (read-your-writes).
 */

import { mkdirSync } from "node:fs";
import { open, type Database, type RootDatabase } from "lmdb";
import { KeelError, describeError } from "../core/errors.js";
import { prefixEnd, type PartitionReader, type PartitionTxn } from "../partition/store.js";
import type { PartitionStore } from "../runtime/ports.js";

/** null marks a deletion inside an overlay. */
type Overlay = Map<string, Uint8Array | null>;

const MAP_SIZE_BYTES = 64 * 1024 ** 3;

export class LmdbPartitionStore implements PartitionStore {
  private readonly env: RootDatabase<Buffer, string>;
  private readonly db: Database<Buffer, string>;
  /** Committed batches not yet written, oldest first. */
  private pending: Overlay[] = [];
  private lastWrite: Promise<unknown> = Promise.resolve();
  private failure: Error | undefined;

  constructor(
    readonly path: string,
    private readonly onFailure: (error: Error) => void,
  ) {
    mkdirSync(path, { recursive: true });
    this.env = open<Buffer, string>({
      path,
      mapSize: MAP_SIZE_BYTES,
      encoding: "binary",
      compression: false,
    });
    this.db = this.env;
  }

  private getCommitted(key: string): Uint8Array | undefined {
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const overlay = this.pending[i]!;
      if (overlay.has(key)) return overlay.get(key) ?? undefined;
    }
    const value = this.db.get(key);
    return value === undefined ? undefined : value;
  }

  private scanCommitted(
    prefix: string,
    limit: number,
    startAfter: string | undefined,
    extra?: Overlay,
  ): [string, Uint8Array][] {
    const overlays = extra === undefined ? this.pending : [...this.pending, extra];
    let deletions = 0;
    const touched = new Map<string, Uint8Array | null>();
    for (const overlay of overlays) {
      for (const [key, value] of overlay) {
        if (!key.startsWith(prefix) || (startAfter !== undefined && key <= startAfter)) continue;
        touched.set(key, value);
      }
    }
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
      put: (key, value) => void overlay.set(key, value),
      delete: (key) => void overlay.set(key, null),
      scan: (prefix, limit = Number.POSITIVE_INFINITY, startAfter) =>
        this.scanCommitted(prefix, limit, startAfter, overlay),
    };
    return batch;
  }

  commit(batch: PartitionTxn): void {
    if (this.failure !== undefined) throw this.failure;
    const overlay = (batch as PartitionTxn & { overlay: Overlay }).overlay;
    if (overlay.size === 0) return;
    this.pending.push(overlay);
    const written = this.db.batch(() => {
      for (const [key, value] of overlay) {
        if (value === null) void this.db.remove(key);
        else void this.db.put(key, Buffer.from(value.buffer, value.byteOffset, value.byteLength));
      }
    });
    this.lastWrite = written.then(
      () => {
        const index = this.pending.indexOf(overlay);
        if (index >= 0) this.pending.splice(index, 1);
      },
      (error: unknown) => {
        this.failure = new KeelError(
          "storage",
          `partition store ${this.path}: write failed: ${describeError(error)}`,
          false,
          { cause: error },
        );
        this.onFailure(this.failure);
      },
    );
  }

  async flushed(): Promise<void> {
    await this.lastWrite;
    await this.env.flushed;
  }

  async close(): Promise<void> {
    await this.flushed().catch(() => undefined);
    await this.env.close();
  }
}
