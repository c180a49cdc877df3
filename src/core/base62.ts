/**
 * Fixed-width base62 as Restate uses it in resource ids: the alphabet is digits, then lower-case,
 * then upper-case letters, and numbers are left-padded with '0' to the width of their type.
 */

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALPHABET_CODES = [...ALPHABET].map((c) => c.charCodeAt(0));
const INDEX = new Map<string, bigint>([...ALPHABET].map((c, i) => [c, BigInt(i)]));

/** Characters needed for a u64 and a u128. */
export const BASE62_U64_WIDTH = 11;
export const BASE62_U128_WIDTH = 22;

/** Scratch 32-bit limbs for `encodeBase62LE`: ids are formatted on hot paths, so no allocation. */
const limbs = new Uint32Array(8);
const codes: number[] = [];
/** Three digits per division: 62^3 · 2^32 stays below 2^53, so number arithmetic is exact. */
const DIGITS_PER_STEP = 3;
const STEP_DIVISOR = 62 ** DIGITS_PER_STEP;
const LIMB = 2 ** 32;

/**
 * Encodes the unsigned little-endian integer in `source[at, at + length)` (length a multiple of 4, at
 * most 32) as `width` base62 characters. Long division over 32-bit limbs in plain numbers: the BigInt
 * form of the same value allocated at every step.
 */
export function encodeBase62LE(
  source: Uint8Array,
  at: number,
  length: number,
  width: number,
): string {
  if (length % 4 !== 0 || length > 4 * limbs.length)
    throw new RangeError(`cannot encode ${length} bytes`);
  let top = length / 4 - 1;
  for (let i = 0; i <= top; i++) {
    const b = at + 4 * i;
    limbs[i] =
      (source[b]! | (source[b + 1]! << 8) | (source[b + 2]! << 16) | (source[b + 3]! << 24)) >>> 0;
  }
  while (top >= 0 && limbs[top] === 0) top--;
  codes.length = width;
  let position = width - 1;
  let overflow = false;
  while (position >= 0) {
    let remainder = 0;
    for (let i = top; i >= 0; i--) {
      const current = remainder * LIMB + limbs[i]!;
      const quotient = Math.floor(current / STEP_DIVISOR);
      limbs[i] = quotient;
      remainder = current - quotient * STEP_DIVISOR;
    }
    while (top >= 0 && limbs[top] === 0) top--;
    for (let k = 0; k < DIGITS_PER_STEP; k++) {
      const digit = remainder % 62;
      remainder = (remainder - digit) / 62;
      if (position >= 0) codes[position--] = ALPHABET_CODES[digit]!;
      else if (digit !== 0) overflow = true;
    }
  }
  if (top >= 0 || overflow) throw new RangeError(`value does not fit ${width} base62 characters`);
  return String.fromCharCode(...codes);
}

/** Decodes base62 text; undefined when a character is outside the alphabet. */
export function decodeBase62(text: string): bigint | undefined {
  let value = 0n;
  for (const c of text) {
    const digit = INDEX.get(c);
    if (digit === undefined) return undefined;
    value = value * 62n + digit;
  }
  return value;
}
