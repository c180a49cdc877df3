/**
 * The partition store on LMDB (the `lmdb` package): one environment per partition, binary values,
 * ASCII string keys. Batches are committed asynchronously on LMDB's writer thread and are never
 * fsynced on the hot path: the log is the source of truth and the applied LSN is inside each batch,
 * so after a crash the processor replays the log from the last batch LMDB kept.
 *
 * Reads are synchronous from the memory map. Until a committed batch is written, its changes sit in
 * an overlay that every read consults first (read-your-writes).
 *
 * Writes are strictly ordered: one LMDB transaction at a time, carrying every batch committed since
 * the previous one (merged in order). If a write fails (disk full, read-only disk), nothing after it
 * was submitted, so the store on disk stays a prefix of the applied batches; the write is retried with
 * backoff while reads keep being served from the overlays, and writing resumes when the disk does.
 */

import { mkdirSync } from "node:fs";
import { open, type Database, type RootDatabase } from "lmdb";
import { KeelError, describeError } from "../core/errors.js";
import { prefixEnd, type PartitionReader, type PartitionTxn } from "../partition/store.js";
import type { PartitionStore } from "../runtime/ports.js";

/** null marks a deletion inside an overlay. */
type Overlay = Map<string, Uint8Array | null>;

const MAP_SIZE_BYTES = 64 * 1024 ** 3;
const WRITE_RETRY_DELAY_MS_MAX = 5000;
const ignore = (): void => undefined;

export class LmdbPartitionStore implements PartitionStore {
  private readonly env: RootDatabase<Buffer, string>;
  private readonly db: Database<Buffer, string>;
  /** Committed batches not yet written, oldest first. */
  private pending: Overlay[] = [];
  private writing: Promise<void> | undefined;
  private degraded: KeelError | undefined;
  private closing = false;

  constructor(
    readonly path: string,
    /** Told about each failed write; the store keeps retrying. */
    private readonly onFailure: (error: KeelError) => void,
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
    const overlay = (batch as PartitionTxn & { overlay: Overlay }).overlay;
    if (overlay.size === 0) return;
    this.pending.push(overlay);
    if (this.writing === undefined) this.writing = this.writeLoop();
  }

  /** Writes pending overlays in order, one merged LMDB transaction at a time, retrying failures. */
  private async writeLoop(): Promise<void> {
    let failures = 0;
    try {
      while (this.pending.length > 0 && !this.closing) {
        const taken = this.pending.slice();
        const merged: Overlay = new Map();
        for (const overlay of taken) for (const [key, value] of overlay) merged.set(key, value);
        try {
          await this.db.batch(() => {
            // Each operation's own promise also rejects when the transaction fails; the batch's
            // promise reports that once, so the per-operation ones are deliberately ignored.
            for (const [key, value] of merged) {
              if (value === null) this.db.remove(key).catch(ignore);
              else
                this.db
                  .put(key, Buffer.from(value.buffer, value.byteOffset, value.byteLength))
                  .catch(ignore);
            }
          });
        } catch (error) {
          (error as { commitError?: Promise<unknown> }).commitError?.catch(ignore);
          failures++;
          this.degraded = new KeelError(
            "storage",
            `partition store ${this.path}: write failed: ${describeError(error)}`,
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
        this.pending.splice(0, taken.length);
      }
    } finally {
      this.writing = undefined;
    }
  }

  /** Set while writes fail; cleared by the next successful write. */
  get failure(): KeelError | undefined {
    return this.degraded;
  }

  async flushed(): Promise<void> {
    while (this.writing !== undefined) await this.writing;
    await this.env.flushed;
  }

  /** Writes what it can and closes; batches that cannot be written are replayed from the log. */
  async close(): Promise<void> {
    if (this.degraded !== undefined) this.closing = true;
    await this.flushed().catch(() => undefined);
    await this.env.close();
  }
}
