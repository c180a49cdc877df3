/**
 * The file-backed store of a log server: every loglet of the node in one segment-file engine
 * (segment_files.ts), one frame per write (a batch of records, or a loglet's metadata, encoded by
 * src/bifrost/loglet_store.ts). One ordered stream means one durable write per group commit for all loglets, and
 * writes complete in the order they were issued — the log server relies on both.
 *
 * The index (which frame holds which batch, each loglet's latest metadata) lives in memory and is
 * rebuilt at open by scanning every file. A batch is one frame, so a crash never keeps half of one.
 *
 * Recent batches stay in memory too (`RECENT_BATCHES_BYTES_MAX`, oldest out first): replicas of a
 * partition follow its log closely, so most reads ask for what was written a moment ago, and need not
 * open, read and close a segment file each.
 *
 * Garbage: after a trim, the oldest frame still needed is the oldest live batch or the oldest
 * latest-metadata frame; metadata frames older than every live batch are written again (the latest
 * issued version, so replay order stays right), then whole files below that frame are unlinked.
 */

import { describeError, KeelError } from "../../core/index.js";
import {
  type LogletMeta,
  type RecoveredLoglet,
  type StoreWrite,
  type StoredRecord,
  decodeStoreWrite,
  encodeStoreWrite,
  LogStoreIndex,
  sliceRecords,
  type LogletId,
} from "../../bifrost/index.js";
import type { LogServerStore } from "../index.js";
import { SegmentFiles, type SegmentFilesOptions } from "../../platform/io/index.js";

/** The bytes of recently written batches kept in memory for readers following the tail. */
const RECENT_BATCHES_BYTES_MAX = 32 * 1024 * 1024;

interface RecordsWrite {
  readonly logletId: LogletId;
  readonly first: number;
  readonly payloads: readonly Uint8Array[];
}

export class FileLogServerStore implements LogServerStore {
  /** Batches located by the frame that holds them. */
  private readonly index = new LogStoreIndex<number>();
  /** Recently written batches by frame, oldest first (a Map keeps insertion order). */
  private readonly recent = new Map<number, { write: RecordsWrite; bytes: number }>();
  private recentBytes = 0;
  /** Frame of each loglet's latest durable metadata. */
  private readonly metaFrames = new Map<LogletId, number>();
  /** Latest metadata issued per loglet (durable or not): what a rewrite must carry. */
  private readonly issuedMeta = new Map<LogletId, LogletMeta>();
  private collecting = false;
  private failed: Error | undefined;

  private constructor(private readonly files: SegmentFiles) {}

  static async open(
    dir: string,
    options: Omit<SegmentFilesOptions, "firstFrameIfEmpty"> = {},
  ): Promise<{ store: FileLogServerStore; recovered: Map<LogletId, RecoveredLoglet> }> {
    const files = await SegmentFiles.open(dir, options);
    const store = new FileLogServerStore(files);
    await files.scan((frame) => {
      const write = decodeStoreWrite(frame.payload);
      store.apply(write, frame.number);
      if (write.kind === "meta") store.issuedMeta.set(write.logletId, write.meta);
    });
    return { store, recovered: store.index.recovered() };
  }

  private apply(write: StoreWrite, frame: number): void {
    if (write.kind === "records") {
      this.index.applyRecords(write.logletId, write.first, write.payloads.length, frame);
    } else {
      this.index.applyMeta(write.logletId, write.meta);
      this.metaFrames.set(
        write.logletId,
        Math.max(this.metaFrames.get(write.logletId) ?? 0, frame),
      );
    }
  }

  write(write: StoreWrite, done: (error: Error | undefined) => void): void {
    if (this.failed !== undefined) return done(this.failed);
    const trims =
      write.kind === "meta" &&
      write.meta.trimPoint > (this.issuedMeta.get(write.logletId)?.trimPoint ?? 0);
    if (write.kind === "meta") this.issuedMeta.set(write.logletId, write.meta);
    this.files.append([encodeStoreWrite(write)]).then(
      (frame) => {
        this.apply(write, frame);
        if (write.kind === "records") this.remember(frame, write);
        done(undefined);
        if (trims) this.collectGarbage();
      },
      (error: unknown) => {
        this.failed = error instanceof Error ? error : new Error(describeError(error));
        done(this.failed);
      },
    );
  }

  read(
    logletId: LogletId,
    from: number,
    toExclusive: number,
    recordsMax: number,
    bytesMax: number,
    done: (result: readonly StoredRecord[] | Error) => void,
  ): void {
    this.readBatches(logletId, from, toExclusive, recordsMax, bytesMax).then(
      done,
      (error: unknown) => done(error instanceof Error ? error : new Error(describeError(error))),
    );
  }

  private async readBatches(
    logletId: LogletId,
    from: number,
    toExclusive: number,
    recordsMax: number,
    bytesMax: number,
  ): Promise<StoredRecord[]> {
    const batches: { first: number; payloads: readonly Uint8Array[] }[] = [];
    let records = 0;
    let bytes = 0;
    for (const batch of this.index.batchesFrom(logletId, from, toExclusive)) {
      const write =
        this.recent.get(batch.location)?.write ?? (await this.readFrame(batch.location));
      if (write === undefined || write.logletId !== logletId || write.first !== batch.first) {
        throw new KeelError(
          "storage",
          `log store: frame ${batch.location} should hold ${logletId} at ${batch.first}`,
        );
      }
      batches.push(write);
      records += write.payloads.length;
      for (const p of write.payloads) bytes += p.length;
      if (records >= recordsMax || bytes >= bytesMax) break;
    }
    return sliceRecords(batches, from, toExclusive, recordsMax, bytesMax);
  }

  private async readFrame(location: number): Promise<RecordsWrite | undefined> {
    const [frame] = await this.files.read(location, 1);
    const write = decodeStoreWrite(frame!.payload);
    return write.kind === "records" ? write : undefined;
  }

  private remember(frame: number, write: RecordsWrite): void {
    let bytes = 0;
    for (const payload of write.payloads) bytes += payload.length;
    if (bytes > RECENT_BATCHES_BYTES_MAX) return;
    this.recent.set(frame, { write, bytes });
    this.recentBytes += bytes;
    for (const [oldest, entry] of this.recent) {
      if (this.recentBytes <= RECENT_BATCHES_BYTES_MAX) break;
      this.recent.delete(oldest);
      this.recentBytes -= entry.bytes;
    }
  }

  private collectGarbage(): void {
    if (this.collecting) return;
    this.collecting = true;
    this.collect()
      .catch((error: unknown) => {
        this.failed = error instanceof Error ? error : new Error(describeError(error));
      })
      .finally(() => (this.collecting = false));
  }

  private async collect(): Promise<void> {
    let oldestBatch = this.files.tail;
    for (const frame of this.index.liveLocations()) oldestBatch = Math.min(oldestBatch, frame);
    for (const [id, frame] of [...this.metaFrames]) {
      if (frame >= oldestBatch) continue;
      const meta = this.issuedMeta.get(id)!;
      const rewritten = await this.files.append([
        encodeStoreWrite({ kind: "meta", logletId: id, meta }),
      ]);
      this.metaFrames.set(id, Math.max(this.metaFrames.get(id) ?? 0, rewritten));
    }
    let oldest = oldestBatch;
    for (const frame of this.metaFrames.values()) oldest = Math.min(oldest, frame);
    await this.files.dropFilesBelow(oldest);
  }

  async close(): Promise<void> {
    await this.files.close();
  }
}
