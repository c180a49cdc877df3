/**
 * Fault injection on a stopped node's files, for the recovery tests: find the last file of the
 * node's write-ahead stream (one stream for every partition's local loglet) and its frames, append
 * torn or corrupt frames, cut files, flip bytes, and read each partition store's applied LSN without
 * replaying anything. The frame format is re-implemented here from its description in
 * src/platform/io/segment_files.ts (an independent reader, so a test does not trust the code it checks);
 * frame payloads (which loglet, which records) are decoded with the log-store codec.
 */

import {
  appendFileSync,
  closeSync,
  openSync,
  readFileSync,
  readdirSync,
  truncateSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { dataDirLayout } from "../../src/node/io/data_dir.js";
import { openLmdbEnvironment } from "../../src/partition-store/io/lmdb_store.js";
import { decodeStoreWrite } from "../../src/bifrost/loglet_store.js";
import { TableReader } from "../../src/partition-store/tables.js";

const FILE_HEADER_BYTES = 16;
const FRAME_HEADER_BYTES = 16;

export interface FrameInFile {
  readonly number: number;
  /** Byte position of the frame's header. */
  readonly at: number;
  /** Byte position right after the frame. */
  readonly end: number;
  readonly payload: Buffer;
}

/** The last segment file of the node's write-ahead stream. */
export function lastSegmentFile(dataDir: string): string {
  const root = dataDirLayout(dataDir).localLogletRoot;
  const files = readdirSync(root)
    .filter((n) => n.endsWith(".seg"))
    .sort();
  return join(root, files[files.length - 1]!);
}

/** Records of one partition's log in a frame: LSNs `first..last` (one segment per log: LSN = offset). */
export interface RecordsFrame extends FrameInFile {
  readonly partition: number;
  readonly first: number;
  readonly last: number;
}

/** The intact frames of a file that hold records, with the partition and LSNs they hold. */
export function recordFramesOf(file: string): RecordsFrame[] {
  const out: RecordsFrame[] = [];
  for (const frame of framesOf(file)) {
    const write = decodeStoreWrite(frame.payload);
    if (write.kind !== "records") continue;
    const [logId, segmentIndex] = write.logletId.split("_").map(Number) as [number, number];
    if (segmentIndex !== 0) throw new Error(`log ${logId} has moved on to segment ${segmentIndex}`);
    out.push({
      ...frame,
      partition: logId,
      first: write.first,
      last: write.first + write.payloads.length - 1,
    });
  }
  return out;
}

/** The frame of `file` holding record `lsn` of `partition`, if that file has it. */
export function frameHolding(
  file: string,
  partition: number,
  lsn: number,
): RecordsFrame | undefined {
  return recordFramesOf(file).find(
    (f) => f.partition === partition && f.first <= lsn && lsn <= f.last,
  );
}

/** The intact frames of a segment file, in order, up to the first damaged one. */
export function framesOf(file: string): FrameInFile[] {
  const bytes = readFileSync(file);
  let number = Number(bytes.readBigUInt64BE(8));
  const out: FrameInFile[] = [];
  for (let at = FILE_HEADER_BYTES; bytes.length - at >= FRAME_HEADER_BYTES;) {
    const length = bytes.readUInt32BE(at);
    const end = at + FRAME_HEADER_BYTES + length;
    if (end > bytes.length || Number(bytes.readBigUInt64BE(at + 8)) !== number) break;
    const payload = bytes.subarray(at + FRAME_HEADER_BYTES, end);
    if (
      checksum(bytes.subarray(at, at + FRAME_HEADER_BYTES), payload) !== bytes.readUInt32BE(at + 4)
    )
      break;
    out.push({ number, at, end, payload });
    at = end;
    number++;
  }
  return out;
}

function checksum(header: Buffer, payload: Buffer): number {
  return crc32(payload, crc32(header.subarray(8, 16), crc32(header.subarray(0, 4))));
}

/** One frame as the engine writes it; `corrupt` spoils its checksum. */
export function encodeFrame(number: number, payload: Buffer, corrupt = false): Buffer {
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.writeUInt32BE(payload.length, 0);
  header.writeBigUInt64BE(BigInt(number), 8);
  header.writeUInt32BE((checksum(header, payload) ^ (corrupt ? 0x5a5a5a5a : 0)) >>> 0, 4);
  return Buffer.concat([header, payload]);
}

export function appendBytes(file: string, bytes: Buffer): void {
  appendFileSync(file, bytes);
}

export function cutFile(file: string, size: number): void {
  truncateSync(file, size);
}

/** Inverts the byte at `position` (a bit rot that no torn write produces). */
export function flipByte(file: string, position: number): void {
  const fd = openSync(file, "r+");
  try {
    const byte = readFileSync(file).subarray(position, position + 1);
    writeSync(fd, Buffer.from([~byte[0]! & 0xff]), 0, 1, position);
  } finally {
    closeSync(fd);
  }
}

/** Each partition store's applied LSN, read without replaying anything. */
export async function storeAppliedLsns(dataDir: string, partitions: number): Promise<number[]> {
  const { environment } = await openLmdbEnvironment(
    dataDirLayout(dataDir).partitionStores,
    (error) => {
      throw error;
    },
  );
  try {
    const out: number[] = [];
    for (let p = 0; p < partitions; p++)
      out.push(new TableReader(environment.partition(p).reader()).fsm().appliedLsn);
    return out;
  } finally {
    await environment.close();
  }
}
