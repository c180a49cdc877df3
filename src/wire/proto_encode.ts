/**
 * Protobuf encoding with one reused writer. A fresh `BinaryWriter` (what generated `encode` makes by
 * default) starts from an empty buffer and doubles it from 128 bytes while it writes, and every step
 * is a new ArrayBuffer; on the hot path (records, table rows, protocol messages) that garbage was a
 * large part of the collector's time. Encoding is synchronous, so one writer per thread is safe.
 */

import { BinaryWriter } from "@bufbuild/protobuf/wire";

export interface MessageEncoder<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
}

/** A writer whose buffer grew past this is dropped, so one huge message does not stay resident. */
const RETAINED_BYTES_MAX = 1 << 20;

let shared = new BinaryWriter();

/** The message's bytes in a buffer of their own (the caller may keep them). */
export function encodeMessage<T>(codec: MessageEncoder<T>, message: T): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = codec.encode(message, shared).finish();
  } catch (error) {
    // A throw mid-message leaves the writer's position and fork stack behind: start afresh.
    shared = new BinaryWriter();
    throw error;
  }
  if (bytes.length > RETAINED_BYTES_MAX) shared = new BinaryWriter();
  return bytes;
}
