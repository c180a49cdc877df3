/**
 * Deterministic hashing for the pure layers: MurmurHash3 (x86, 128-bit variant) over bytes. It places
 * keys in partitions and derives deterministic invocation ids, so its output must never change:
 * a change would move existing keys to other partitions.
 */

import { utf8 } from "./bytes.js";

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function fmix(h0: number): number {
  let h = h0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;
const C4 = 0xa1e38b93;

function word(data: Uint8Array, at: number): number {
  return data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16) | (data[at + 3]! << 24);
}

/** Returns the 128-bit hash as four unsigned 32-bit words. */
export function murmur3x86_128(data: Uint8Array, seed = 0): [number, number, number, number] {
  let h1 = seed | 0;
  let h2 = seed | 0;
  let h3 = seed | 0;
  let h4 = seed | 0;
  const blocks = data.length >> 4;
  for (let i = 0; i < blocks; i++) {
    const at = i << 4;
    let k1 = word(data, at);
    let k2 = word(data, at + 4);
    let k3 = word(data, at + 8);
    let k4 = word(data, at + 12);
    k1 = Math.imul(rotl(Math.imul(k1, C1), 15), C2);
    h1 ^= k1;
    h1 = (Math.imul(rotl(h1, 19) + h2, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(rotl(Math.imul(k2, C2), 16), C3);
    h2 ^= k2;
    h2 = (Math.imul(rotl(h2, 17) + h3, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(rotl(Math.imul(k3, C3), 17), C4);
    h3 ^= k3;
    h3 = (Math.imul(rotl(h3, 15) + h4, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(rotl(Math.imul(k4, C4), 18), C1);
    h4 ^= k4;
    h4 = (Math.imul(rotl(h4, 13) + h1, 5) + 0x32ac3b17) | 0;
  }
  const tail = blocks << 4;
  let k1 = 0;
  let k2 = 0;
  let k3 = 0;
  let k4 = 0;
  const rest = data.length & 15;
  for (let i = rest - 1; i >= 0; i--) {
    const byte = data[tail + i]!;
    if (i >= 12) k4 |= byte << ((i - 12) * 8);
    else if (i >= 8) k3 |= byte << ((i - 8) * 8);
    else if (i >= 4) k2 |= byte << ((i - 4) * 8);
    else k1 |= byte << (i * 8);
  }
  if (rest > 12) h4 ^= Math.imul(rotl(Math.imul(k4, C4), 18), C1);
  if (rest > 8) h3 ^= Math.imul(rotl(Math.imul(k3, C3), 17), C4);
  if (rest > 4) h2 ^= Math.imul(rotl(Math.imul(k2, C2), 16), C3);
  if (rest > 0) h1 ^= Math.imul(rotl(Math.imul(k1, C1), 15), C2);
  const len = data.length;
  h1 ^= len;
  h2 ^= len;
  h3 ^= len;
  h4 ^= len;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h3 = fmix(h3);
  h4 = fmix(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

/** A u64 hash of a string. */
export function hash64(text: string): bigint {
  const [a, b] = murmur3x86_128(utf8(text));
  return (BigInt(a) << 32n) | BigInt(b);
}

/** A 16-byte hash of several strings, with an unambiguous separator between the parts. */
export function hash128(parts: readonly (string | Uint8Array)[]): Uint8Array {
  let length = 0;
  const encoded = parts.map((p) => (typeof p === "string" ? utf8(p) : p));
  for (const part of encoded) length += 4 + part.length;
  const data = new Uint8Array(length);
  let at = 0;
  for (const part of encoded) {
    data[at] = part.length >>> 24;
    data[at + 1] = (part.length >>> 16) & 255;
    data[at + 2] = (part.length >>> 8) & 255;
    data[at + 3] = part.length & 255;
    data.set(part, at + 4);
    at += 4 + part.length;
  }
  const words = murmur3x86_128(data, 0x6b65656c);
  const out = new Uint8Array(16);
  for (let i = 0; i < 4; i++) {
    const w = words[i]!;
    out[4 * i] = w >>> 24;
    out[4 * i + 1] = (w >>> 16) & 255;
    out[4 * i + 2] = (w >>> 8) & 255;
    out[4 * i + 3] = w & 255;
  }
  return out;
}
