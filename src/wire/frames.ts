/**
 * Keel's one frame-and-checksum format for durable files, and the one judgement of a damaged end.
 * Used by the segment files (src/platform/io/segment_files.ts: the local loglet and the log servers'
 * stores), Raft's log file (src/metadata-server/raft/storage_format.ts) and the simulator's disks, so
 * the simulator exercises the recovery code production runs.
 *
 * A file starts with a 16-byte header (magic `KEELLOG1`, u64 number of its first frame) followed by
 * frames `u32 payload length | u32 crc32(length, number, payload) | u64 number | payload`; numbers
 * are consecutive, so a frame from elsewhere in a file (or another file) is never taken for the next.
 *
 * Judging the end of the last file (`judgeLastFile`): a crash leaves at most one unfinished write at
 * the end of the file, so damage is a torn tail only if no intact frame numbered after it follows
 * (searched byte by byte) and the file is not known to have been complete (a clean close recorded its
 * size); otherwise the frames behind the damage were durable, and cutting it would lose them.
 */

import { crc32, readU32BE, writeU32BE } from "../core/index.js";

const MAGIC = new TextEncoder().encode("KEELLOG1");
export const FILE_HEADER_BYTES = 16;
export const FRAME_HEADER_BYTES = 16;

function readU53(bytes: Uint8Array, at: number): number {
  return readU32BE(bytes, at) * 2 ** 32 + readU32BE(bytes, at + 4);
}

function writeU53(bytes: Uint8Array, at: number, value: number): void {
  writeU32BE(bytes, at, Math.floor(value / 2 ** 32));
  writeU32BE(bytes, at + 4, value >>> 0);
}

/** The header of a file whose first frame is `first`. */
export function fileHeader(first: number): Uint8Array {
  const header = new Uint8Array(FILE_HEADER_BYTES);
  header.set(MAGIC, 0);
  writeU53(header, 8, first);
  return header;
}

/** Whether `bytes` start with the header of a file whose first frame is `first`. */
export function fileHeaderMatches(bytes: Uint8Array, first: number): boolean {
  if (bytes.length < FILE_HEADER_BYTES) return false;
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC[i]) return false;
  return readU53(bytes, 8) === first;
}

/** The checksum of the frame whose header starts at `at` of `header`: length, number, payload. */
function frameChecksum(header: Uint8Array, at: number, payload: Uint8Array): number {
  const crc = crc32(header.subarray(at + 8, at + 16), crc32(header.subarray(at, at + 4)));
  return crc32(payload, crc);
}

/** The 16-byte header of frame `number` holding `payload` (written before it, e.g. by writev). */
export function frameHeader(number: number, payload: Uint8Array): Uint8Array {
  const header = new Uint8Array(FRAME_HEADER_BYTES);
  writeU32BE(header, 0, payload.length);
  writeU53(header, 8, number);
  writeU32BE(header, 4, frameChecksum(header, 0, payload));
  return header;
}

/** Frame `number` holding `payload`, header and payload in one array. */
export function encodeFrame(number: number, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  frame.set(frameHeader(number, payload), 0);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/**
 * Parses consecutive frames from `buffer`, the first numbered `expected`; `onFrame` gets each one with
 * its position (`basePosition` + offset). Stops at the first frame that is incomplete (`valid`: more
 * bytes may complete it) or invalid (`valid` false: wrong number, implausible length, bad checksum).
 */
export function parseFrames(
  buffer: Uint8Array,
  expected: number,
  basePosition: number,
  frameBytesMax: number,
  onFrame: (number: number, position: number, payload: Uint8Array) => void,
): { consumed: number; valid: boolean } {
  let at = 0;
  let number = expected;
  while (buffer.length - at >= FRAME_HEADER_BYTES) {
    const length = readU32BE(buffer, at);
    if (length > frameBytesMax || readU53(buffer, at + 8) !== number)
      return { consumed: at, valid: false };
    if (buffer.length - at - FRAME_HEADER_BYTES < length) return { consumed: at, valid: true };
    const payload = buffer.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length);
    if (frameChecksum(buffer, at, payload) !== readU32BE(buffer, at + 4))
      return { consumed: at, valid: false };
    onFrame(number, basePosition + at, payload);
    at += FRAME_HEADER_BYTES + length;
    number++;
  }
  return { consumed: at, valid: true };
}

/**
 * The first complete frame with a matching checksum and a number in `[numberMin, numberMax]` that
 * starts anywhere in `buffer` (byte by byte: after damage, frame boundaries are unknown).
 */
export function findIntactFrame(
  buffer: Uint8Array,
  numberMin: number,
  numberMax: number,
  frameBytesMax: number,
): { number: number; at: number } | undefined {
  for (let at = 0; buffer.length - at >= FRAME_HEADER_BYTES; at++) {
    const length = readU32BE(buffer, at);
    if (length > frameBytesMax || buffer.length - at - FRAME_HEADER_BYTES < length) continue;
    const number = readU53(buffer, at + 8);
    if (number < numberMin || number > numberMax) continue;
    const payload = buffer.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length);
    if (frameChecksum(buffer, at, payload) === readU32BE(buffer, at + 4)) return { number, at };
  }
  return undefined;
}

/** A frame recovered from a file: its number, position and payload. */
export interface RecoveredFrame {
  readonly number: number;
  readonly position: number;
  readonly payload: Uint8Array;
}

/** What the end of the last file of a log holds, and what may be done about damage there. */
export type LastFileJudgement =
  | {
      /** The file ends with a whole frame (or holds nothing but its header). */
      readonly kind: "intact";
      readonly frames: readonly RecoveredFrame[];
      readonly end: number;
    }
  | {
      /**
       * A torn write: cut the file to `end` before writing to it again (`headerDamaged`: rewrite
       * the header too, the file held no durable frame).
       */
      readonly kind: "torn";
      readonly frames: readonly RecoveredFrame[];
      readonly end: number;
      readonly damagedFrame: number;
      readonly headerDamaged: boolean;
    }
  | {
      /** Damage that durable frames sit behind, or that a clean close rules out: do not cut. */
      readonly kind: "damaged";
      readonly end: number;
      readonly damagedFrame: number;
      readonly headerDamaged: boolean;
      /** Why it is not a torn write, as a sentence. */
      readonly reason: string;
    };

/**
 * Judges the whole content of the last file of a log whose first frame is `first`. `cleanSize`: the
 * size a clean close recorded for this file, when it still has that size (every byte was durable).
 */
export function judgeLastFile(
  bytes: Uint8Array,
  first: number,
  frameBytesMax: number,
  cleanSize?: number,
): LastFileJudgement {
  const frames: RecoveredFrame[] = [];
  const headerDamaged = !fileHeaderMatches(bytes, first);
  let end = 0;
  if (!headerDamaged) {
    const body = bytes.subarray(FILE_HEADER_BYTES);
    const { consumed } = parseFrames(
      body,
      first,
      FILE_HEADER_BYTES,
      frameBytesMax,
      (number, position, payload) => frames.push({ number, position, payload }),
    );
    end = FILE_HEADER_BYTES + consumed;
    if (end === bytes.length) return { kind: "intact", frames, end };
  }
  const damagedFrame = first + frames.length;
  if (cleanSize !== undefined) {
    return {
      kind: "damaged",
      end,
      damagedFrame,
      headerDamaged,
      reason: `its writer stopped cleanly with the file at ${cleanSize} bytes, so every frame in it was durable: the damage is not a torn write`,
    };
  }
  // A damaged frame's own header may be intact: search from the byte after its start for frames
  // after it. Behind a damaged file header, the file's first frame itself counts.
  const skip = headerDamaged ? 0 : 1;
  const rest = bytes.subarray(end + skip);
  const framesMax = Math.floor(rest.length / FRAME_HEADER_BYTES);
  const intact = findIntactFrame(
    rest,
    damagedFrame + skip,
    damagedFrame + framesMax,
    frameBytesMax,
  );
  if (intact !== undefined) {
    return {
      kind: "damaged",
      end,
      damagedFrame,
      headerDamaged,
      reason: `frame ${intact.number} at byte ${end + skip + intact.at} after it is intact, so the damage is not a torn tail`,
    };
  }
  return { kind: "torn", frames, end: headerDamaged ? 0 : end, damagedFrame, headerDamaged };
}
