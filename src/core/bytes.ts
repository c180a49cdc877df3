/**
 * Byte helpers for the pure layers, which may not use Node's Buffer. All encodings here are
 * deterministic: the same input gives the same bytes on every replica.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false });
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

export const EMPTY_BYTES = new Uint8Array(0);

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** Decodes UTF-8, returning undefined when the bytes are not valid UTF-8. */
export function fromUtf8Strict(bytes: Uint8Array): string | undefined {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return undefined;
  }
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const HEX = "0123456789abcdef";

const HEX_CODES = [...HEX].map((c) => c.charCodeAt(0));
const hexScratch: number[] = [];

export function toHex(bytes: Uint8Array): string {
  // One string from char codes: keys of hot maps are built here, and concatenation made a chain
  // of intermediate strings per byte.
  if (bytes.length > 4096) {
    let out = "";
    for (let at = 0; at < bytes.length; at += 4096) out += toHex(bytes.subarray(at, at + 4096));
    return out;
  }
  hexScratch.length = bytes.length * 2;
  for (let i = 0; i < bytes.length; i++) {
    hexScratch[2 * i] = HEX_CODES[bytes[i]! >> 4]!;
    hexScratch[2 * i + 1] = HEX_CODES[bytes[i]! & 15]!;
  }
  return String.fromCharCode(...hexScratch);
}

export function fromHex(text: string): Uint8Array | undefined {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return undefined;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const B64URL_INDEX = new Map<string, number>([...B64URL].map((c, i) => [c, i]));

/** base64url without padding (RFC 4648 §5). */
export function toBase64Url(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]! + B64URL[(n >> 6) & 63]! + B64URL[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]! + B64URL[(n >> 6) & 63]!;
  }
  return out;
}

/** Decodes base64url with or without padding; undefined on any invalid character or length. */
export function fromBase64Url(text: string): Uint8Array | undefined {
  const clean = text.replace(/=+$/, "");
  if (clean.length % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let at = 0;
  for (const c of clean) {
    const v = B64URL_INDEX.get(c);
    if (v === undefined) return undefined;
    value = (value << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (value >> bits) & 255;
    }
  }
  return out;
}

export function writeU32BE(target: Uint8Array, at: number, value: number): void {
  target[at] = (value >>> 24) & 255;
  target[at + 1] = (value >>> 16) & 255;
  target[at + 2] = (value >>> 8) & 255;
  target[at + 3] = value & 255;
}

export function readU32BE(source: Uint8Array, at: number): number {
  return (
    ((source[at]! << 24) | (source[at + 1]! << 16) | (source[at + 2]! << 8) | source[at + 3]!) >>> 0
  );
}

export function writeU64BE(target: Uint8Array, at: number, value: bigint): void {
  writeU32BE(target, at, Number((value >> 32n) & 0xffffffffn));
  writeU32BE(target, at + 4, Number(value & 0xffffffffn));
}

export function readU64BE(source: Uint8Array, at: number): bigint {
  return (BigInt(readU32BE(source, at)) << 32n) | BigInt(readU32BE(source, at + 4));
}

/** Reads `length` bytes as one unsigned little-endian integer. */
export function readUintLE(source: Uint8Array, at: number, length: number): bigint {
  let value = 0n;
  for (let i = length - 1; i >= 0; i--) value = (value << 8n) | BigInt(source[at + i]!);
  return value;
}

/** Writes `value` as `length` little-endian bytes. */
export function writeUintLE(target: Uint8Array, at: number, length: number, value: bigint): void {
  let v = value;
  for (let i = 0; i < length; i++) {
    target[at + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}
