/**
 * The snapshot of a partition store: its FSM entry, then every other entry in key order (older
 * snapshots have the FSM entry in its key's place), at the applied LSN the entries themselves record, in Keel's one frame-and-checksum format (wire/frames.ts): a file header, then
 * frames numbered from 1, each holding up to `SNAPSHOT_FRAME_BYTES` of entries
 * (`u32 key length | key | u32 value length | value`). The manifest says what the data is (cluster,
 * partition, key range, LSN, counts, size) and carries the SHA-256 of the data, so a damaged or
 * swapped snapshot is refused as a whole.
 */

import { Sha256, assert, concatBytes, readU32BE, toHex } from "../core/index.js";
import { FSM_KEY } from "./keys.js";
import type { PartitionStore } from "./store.js";
import { TableReader } from "./tables.js";
import {
  ByteReader,
  ByteWriter,
  DecodeError,
  FILE_HEADER_BYTES,
  FRAME_HEADER_BYTES,
  encodeFrame,
  fileHeader,
  fileHeaderMatches,
  parseFrames,
} from "../wire/index.js";

export const SNAPSHOT_FORMAT_VERSION = 1;
/** Entries are grouped into frames of about this size (a larger single entry gets its own frame). */
const SNAPSHOT_FRAME_BYTES = 1024 * 1024;
const SNAPSHOT_FRAME_BYTES_MAX = 512 * 1024 * 1024;

/** An incremental SHA-256 (core's, or node:crypto's in production: several times faster). */
export interface SnapshotHash {
  update(data: Uint8Array): unknown;
  digest(): Uint8Array;
}
export type SnapshotHashFactory = () => SnapshotHash;
const coreHash: SnapshotHashFactory = () => new Sha256();

export interface SnapshotManifest {
  readonly formatVersion: number;
  readonly snapshotId: string;
  readonly clusterName: string;
  readonly nodeName: string;
  readonly partitionId: number;
  /** The partition's keys, inclusive, as decimal strings (u64). */
  readonly keyRange: { readonly from: string; readonly to: string };
  /** The store holds exactly the records of the partition's log up to this LSN. */
  readonly appliedLsn: number;
  readonly createdAtMs: number;
  readonly entries: number;
  readonly bytes: number;
  /** SHA-256 of the data, in hex. */
  readonly sha256: string;
}

/** What a manifest says of the data: counts and checksum, known once the data is written. */
export interface SnapshotSummary {
  readonly entries: number;
  readonly bytes: number;
  readonly sha256: string;
}

export interface EncodedSnapshot extends SnapshotSummary {
  readonly parts: Uint8Array[];
}

/**
 * Builds snapshot data entry by entry, a frame at a time; the caller takes the encoded parts as they
 * complete (`drain`), so a store larger than memory streams through.
 */
export class SnapshotEncoder {
  private readonly hash: SnapshotHash;
  private parts: Uint8Array[] = [];
  private bytes = 0;
  private frame = new ByteWriter();
  private frameBytes = 0;
  private frames = 0;
  private entries = 0;

  constructor(newHash: SnapshotHashFactory = coreHash) {
    this.hash = newHash();
    this.emit(fileHeader(1));
  }

  /** Adds an entry; true when it completed a frame (time to drain and let other work run). */
  push(key: string, value: Uint8Array): boolean {
    // Keys are ASCII (keys.ts): their length is their size.
    this.frame.string(key).bytes(value);
    this.frameBytes += 8 + key.length + value.length;
    this.entries++;
    if (this.frameBytes < SNAPSHOT_FRAME_BYTES) return false;
    this.flush();
    return true;
  }

  /** The data encoded since the last call. */
  drain(): Uint8Array[] {
    const parts = this.parts;
    this.parts = [];
    return parts;
  }

  /** Ends the data (drain once more for its last frame). */
  finish(): SnapshotSummary {
    this.flush();
    return { entries: this.entries, bytes: this.bytes, sha256: toHex(this.hash.digest()) };
  }

  private flush(): void {
    if (this.frameBytes === 0) return;
    this.emit(encodeFrame(++this.frames, this.frame.finish()));
    this.frame = new ByteWriter();
    this.frameBytes = 0;
  }

  private emit(part: Uint8Array): void {
    this.parts.push(part);
    this.hash.update(part);
    this.bytes += part.length;
  }
}

/** Encodes entries (in key order) as snapshot data, in memory (tests, small stores). */
export function encodeSnapshot(entries: Iterable<readonly [string, Uint8Array]>): EncodedSnapshot {
  const encoder = new SnapshotEncoder();
  for (const [key, value] of entries) encoder.push(key, value);
  const summary = encoder.finish();
  return { ...summary, parts: encoder.drain() };
}

/** A consistent copy of a store being encoded: its data streams out; the summary follows it. */
export interface StoreCopy {
  /** The applied LSN the copy records (0: the store has applied nothing). */
  readonly appliedLsn: number;
  /** The snapshot data, a frame at a time; read it once, promptly (it holds a read transaction). */
  readonly data: AsyncIterable<Uint8Array>;
  /** The counts and checksum of the data, once `data` was read to its end. */
  summary(): SnapshotSummary;
}

/**
 * Encodes a consistent copy of `store`: its FSM entry comes first (so the applied LSN is known before
 * the data is written, which names it), and `pause` is awaited after every frame, so that a large
 * store is copied without holding up the partition's work or memory.
 */
export function copyStore(
  store: PartitionStore,
  pause: () => Promise<void>,
  newHash: SnapshotHashFactory = coreHash,
): StoreCopy {
  const entries = store.exportEntries()[Symbol.iterator]();
  const first = entries.next();
  const fsm = !first.done && first.value[0] === FSM_KEY ? first.value[1] : undefined;
  const copy = new TableReader({
    get: (key) => (key === FSM_KEY ? fsm : undefined),
    scan: () => [],
  });
  const appliedLsn = copy.fsm().appliedLsn;
  const encoder = new SnapshotEncoder(newHash);
  let summary: SnapshotSummary | undefined;
  async function* data(): AsyncGenerator<Uint8Array> {
    try {
      if (!first.done) encoder.push(first.value[0], first.value[1]);
      for (let next = entries.next(); !next.done; next = entries.next()) {
        if (!encoder.push(next.value[0], next.value[1])) continue;
        yield* encoder.drain();
        await pause();
      }
      summary = encoder.finish();
      yield* encoder.drain();
    } finally {
      entries.return?.();
    }
  }
  if (appliedLsn === 0) entries.return?.();
  return {
    appliedLsn,
    data: appliedLsn === 0 ? emptyData() : data(),
    summary() {
      assert(summary !== undefined, "a copy's summary is known once its data was read");
      return summary;
    },
  };
}

async function* emptyData(): AsyncGenerator<Uint8Array> {}

/**
 * Reads snapshot data as it arrives, checking it against its manifest: every frame's checksum and
 * number as it completes, and at the end the size, the SHA-256 and the count of entries. `push`
 * returns the entries of the frames it completed; `finish` throws DecodeError when anything disagrees.
 */
export class SnapshotDecoder {
  private readonly hash: SnapshotHash;
  /** Bytes received but not yet parsed, and how many parsing needs before it can progress. */
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private needed = FILE_HEADER_BYTES;
  private bytes = 0;
  private headerRead = false;
  private nextFrame = 1;
  private entries = 0;

  constructor(
    private readonly manifest: SnapshotManifest,
    newHash: SnapshotHashFactory = coreHash,
  ) {
    this.hash = newHash();
  }

  push(chunk: Uint8Array): [string, Uint8Array][] {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (this.bytes > this.manifest.bytes)
      throw new DecodeError(
        `snapshot data exceeds the ${this.manifest.bytes} bytes of its manifest`,
      );
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    // Small chunks wait until a whole frame is there: each byte is copied about once.
    if (this.pendingBytes < this.needed) return [];
    let buffer = this.pending.length === 1 ? chunk : concatBytes(this.pending);
    let position = this.bytes - buffer.length;
    if (!this.headerRead) {
      if (!fileHeaderMatches(buffer, 1)) throw new DecodeError("snapshot data has no file header");
      this.headerRead = true;
      buffer = buffer.subarray(FILE_HEADER_BYTES);
      position += FILE_HEADER_BYTES;
    }
    const out: [string, Uint8Array][] = [];
    const parsed = parseFrames(
      buffer,
      this.nextFrame,
      position,
      SNAPSHOT_FRAME_BYTES_MAX,
      (_n, _p, payload) => {
        this.nextFrame++;
        const reader = new ByteReader(payload, "snapshot frame");
        // Copies: an entry must not keep a whole chunk alive.
        while (!reader.atEnd()) out.push([reader.string(), reader.bytes().slice()]);
      },
    );
    if (!parsed.valid)
      throw new DecodeError(`snapshot data is damaged at byte ${position + parsed.consumed}`);
    const rest = buffer.slice(parsed.consumed);
    this.pending = rest.length === 0 ? [] : [rest];
    this.pendingBytes = rest.length;
    this.needed =
      rest.length < FRAME_HEADER_BYTES
        ? FRAME_HEADER_BYTES
        : FRAME_HEADER_BYTES + readU32BE(rest, 0);
    this.entries += out.length;
    return out;
  }

  finish(): void {
    const { manifest } = this;
    if (this.bytes !== manifest.bytes) {
      throw new DecodeError(
        `snapshot data of ${this.bytes} bytes, the manifest says ${manifest.bytes}`,
      );
    }
    const digest = toHex(this.hash.digest());
    if (digest !== manifest.sha256) {
      throw new DecodeError(
        `snapshot data's SHA-256 is ${digest}, the manifest says ${manifest.sha256}`,
      );
    }
    if (!this.headerRead) throw new DecodeError("snapshot data has no file header");
    if (this.pendingBytes > 0)
      throw new DecodeError(`snapshot data is damaged at byte ${this.bytes - this.pendingBytes}`);
    if (this.entries !== manifest.entries) {
      throw new DecodeError(
        `snapshot holds ${this.entries} entries, the manifest says ${manifest.entries}`,
      );
    }
  }
}

/**
 * The entries of snapshot data as it streams in; the iteration throws DecodeError at the end when the
 * data disagrees with its manifest, so a consumer commits only once it completed.
 */
export async function* readSnapshot(
  data: AsyncIterable<Uint8Array>,
  manifest: SnapshotManifest,
  newHash: SnapshotHashFactory = coreHash,
): AsyncGenerator<[string, Uint8Array]> {
  const decoder = new SnapshotDecoder(manifest, newHash);
  for await (const chunk of data) yield* decoder.push(chunk);
  decoder.finish();
}

/** The entries of snapshot data held whole in memory, checked against its manifest. */
export function decodeSnapshot(
  data: Uint8Array,
  manifest: SnapshotManifest,
): [string, Uint8Array][] {
  const decoder = new SnapshotDecoder(manifest);
  const entries = decoder.push(data);
  decoder.finish();
  return entries;
}

/** A manifest read from JSON, with every field checked; throws DecodeError otherwise. */
export function parseSnapshotManifest(text: string): SnapshotManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new DecodeError("a snapshot manifest is not JSON");
  }
  if (typeof value !== "object" || value === null) {
    throw new DecodeError("a snapshot manifest is not a JSON object");
  }
  const m = value as Record<string, unknown>;
  const isCount = (v: unknown): v is number =>
    typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
  const range = m.keyRange as Record<string, unknown> | undefined;
  const valid =
    m.formatVersion === SNAPSHOT_FORMAT_VERSION &&
    typeof m.snapshotId === "string" &&
    typeof m.clusterName === "string" &&
    typeof m.nodeName === "string" &&
    isCount(m.partitionId) &&
    typeof range === "object" &&
    range !== null &&
    typeof range.from === "string" &&
    typeof range.to === "string" &&
    isCount(m.appliedLsn) &&
    isCount(m.createdAtMs) &&
    isCount(m.entries) &&
    isCount(m.bytes) &&
    typeof m.sha256 === "string" &&
    /^[0-9a-f]{64}$/.test(m.sha256);
  if (!valid)
    throw new DecodeError("a snapshot manifest lacks a field or has one of the wrong type");
  return m as unknown as SnapshotManifest;
}
