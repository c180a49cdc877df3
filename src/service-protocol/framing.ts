/**
 * Framing of the service protocol: each message is an 8-byte big-endian header (u16 type, flags,
 * u32 payload length) followed by a protobuf payload. Messages are concatenated on an HTTP body and
 * chunk boundaries are arbitrary, so the decoder buffers and splits.
 */

import { concatBytes } from "../core/index.js";

export const FRAME_HEADER_BYTES = 8;
/** v7: the SDK asks for an ack of a run proposal. Keel negotiates v6 at most, where it must be 0. */
export const FLAG_REQUESTED_ACK = 0x8000;

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly payload: Uint8Array;
}

export function encodeFrame(type: number, payload: Uint8Array, flags = 0): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  out[0] = (type >>> 8) & 255;
  out[1] = type & 255;
  out[2] = (flags >>> 8) & 255;
  out[3] = flags & 255;
  const length = payload.length;
  out[4] = (length >>> 24) & 255;
  out[5] = (length >>> 16) & 255;
  out[6] = (length >>> 8) & 255;
  out[7] = length & 255;
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

export class FrameTooLarge extends Error {
  override readonly name = "FrameTooLarge";
}

/** Incremental decoder: push bytes as they arrive, take whole frames out. */
export class FrameDecoder {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  /**
   * Bytes the next frame needs before anything can be decoded: its header, then its whole length.
   * Chunks are joined only once that many arrived, so a large message costs one copy, not one per
   * chunk.
   */
  private awaitedBytes = FRAME_HEADER_BYTES;

  constructor(private readonly payloadBytesMax: number) {}

  /** Adds a chunk and returns every frame completed by it. Throws FrameTooLarge on a huge header. */
  push(chunk: Uint8Array): Frame[] {
    if (chunk.length === 0) return [];
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const frames: Frame[] = [];
    if (this.pendingBytes < this.awaitedBytes) return frames;
    let buffer = this.pending.length === 1 ? this.pending[0]! : concatBytes(this.pending);
    let at = 0;
    while (buffer.length - at >= FRAME_HEADER_BYTES) {
      const type = (buffer[at]! << 8) | buffer[at + 1]!;
      const flags = (buffer[at + 2]! << 8) | buffer[at + 3]!;
      const length =
        ((buffer[at + 4]! << 24) |
          (buffer[at + 5]! << 16) |
          (buffer[at + 6]! << 8) |
          buffer[at + 7]!) >>>
        0;
      if (length > this.payloadBytesMax) {
        throw new FrameTooLarge(
          `a message of type 0x${type.toString(16)} has ${length} bytes, more than the limit of ${this.payloadBytesMax}`,
        );
      }
      if (buffer.length - at - FRAME_HEADER_BYTES < length) {
        this.awaitedBytes = FRAME_HEADER_BYTES + length;
        break;
      }
      this.awaitedBytes = FRAME_HEADER_BYTES;
      const start = at + FRAME_HEADER_BYTES;
      frames.push({ type, flags, payload: buffer.subarray(start, start + length) });
      at = start + length;
    }
    buffer = buffer.subarray(at);
    this.pending = buffer.length > 0 ? [buffer] : [];
    this.pendingBytes = buffer.length;
    return frames;
  }

  /** Bytes received that do not yet form a whole frame. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /**
   * Removes and returns the bytes not yet returned as whole frames (after a FrameTooLarge, every
   * byte since the last frame returned).
   */
  takeBuffered(): Uint8Array {
    const rest = concatBytes(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    return rest;
  }
}
