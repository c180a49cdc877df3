/**
 * Keel's one binary codec for its hand-written formats: node-to-node messages (the envelope, the
 * replicated loglet's and the metadata store's protocols), log-store entries and Raft's storage.
 * Big-endian fixed-width integers; unsigned integers up to 2^53 − 1 are written as u64; byte strings
 * and text carry a u32 length. The reader checks every bound and throws DecodeError instead of
 * reading past the end, so malformed input from a peer or a damaged file never becomes an assertion
 * failure: it is an expected outcome, not a bug.
 */

import { KeelError, fromUtf8Strict, readU32BE, utf8, writeU32BE } from "../core/index.js";

export class DecodeError extends KeelError {
  constructor(message: string) {
    super("bad_request", message);
  }
}

const INITIAL_BYTES = 256;

export class ByteWriter {
  private buffer = new Uint8Array(INITIAL_BYTES);
  private length = 0;

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + bytes) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
  }

  u8(value: number): this {
    this.reserve(1);
    this.buffer[this.length++] = value & 255;
    return this;
  }

  bool(value: boolean): this {
    return this.u8(value ? 1 : 0);
  }

  u16(value: number): this {
    this.reserve(2);
    this.buffer[this.length++] = (value >>> 8) & 255;
    this.buffer[this.length++] = value & 255;
    return this;
  }

  u32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new RangeError(`u32 out of range: ${value}`);
    }
    this.reserve(4);
    writeU32BE(this.buffer, this.length, value);
    this.length += 4;
    return this;
  }

  /** A non-negative safe integer, written as a u64. */
  u53(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new RangeError(`u53 out of range: ${value}`);
    this.u32(Math.floor(value / 2 ** 32));
    return this.u32(value >>> 0);
  }

  /** The number of items that follow (read back with `ByteReader.count`). */
  count(value: number): this {
    return this.u32(value);
  }

  bytes(value: Uint8Array): this {
    this.u32(value.length);
    this.reserve(value.length);
    this.buffer.set(value, this.length);
    this.length += value.length;
    return this;
  }

  string(value: string): this {
    return this.bytes(utf8(value));
  }

  finish(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }
}

export class ByteReader {
  private at = 0;

  /** `what` names the input in errors ("raft message", "log-store entry"). */
  constructor(
    private readonly source: Uint8Array,
    private readonly what = "message",
  ) {}

  private need(bytes: number, what: string): void {
    if (this.at + bytes > this.source.length) {
      throw new DecodeError(
        `${this.what}: truncated input: ${what} needs ${bytes} bytes at ${this.at}, only ${this.source.length - this.at} left`,
      );
    }
  }

  u8(): number {
    this.need(1, "u8");
    return this.source[this.at++]!;
  }

  bool(): boolean {
    const v = this.u8();
    if (v > 1) throw new DecodeError(`a boolean is 0 or 1, found ${v}`);
    return v === 1;
  }

  u16(): number {
    this.need(2, "u16");
    const v = (this.source[this.at]! << 8) | this.source[this.at + 1]!;
    this.at += 2;
    return v;
  }

  u32(): number {
    this.need(4, "u32");
    const v = readU32BE(this.source, this.at);
    this.at += 4;
    return v;
  }

  u53(): number {
    const high = this.u32();
    const low = this.u32();
    const v = high * 2 ** 32 + low;
    if (!Number.isSafeInteger(v)) throw new DecodeError(`u64 value above 2^53: ${high}:${low}`);
    return v;
  }

  bytes(): Uint8Array {
    const length = this.u32();
    this.need(length, "bytes");
    const v = this.source.slice(this.at, this.at + length);
    this.at += length;
    return v;
  }

  string(): string {
    const text = fromUtf8Strict(this.bytes());
    if (text === undefined) throw new DecodeError("text is not valid UTF-8");
    return text;
  }

  /** A count of items that take at least `bytesPerItemMin` each: refused if the rest cannot hold them. */
  count(bytesPerItemMin = 1): number {
    const count = this.u32();
    if (count * bytesPerItemMin > this.source.length - this.at) {
      throw new DecodeError(`${this.what}: count ${count} exceeds the remaining bytes`);
    }
    return count;
  }

  /** Reads a format or version tag and refuses any other than `expected`. */
  version(expected: number): void {
    const found = this.u32();
    if (found !== expected) {
      throw new DecodeError(`${this.what}: format ${found}, expected ${expected}`);
    }
  }

  /** Whether the whole input was consumed. */
  atEnd(): boolean {
    return this.at === this.source.length;
  }

  /** Asserts that the whole input was consumed. */
  end(): void {
    if (this.at !== this.source.length) {
      throw new DecodeError(`${this.what}: ${this.source.length - this.at} trailing bytes`);
    }
  }
}
