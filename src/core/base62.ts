/**
 * Fixed-width base62 as Restate uses it in resource ids: the alphabet is digits, then lower-case,
 * then upper-case letters, and numbers are left-padded with '0' to the width of their type.
 */

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const INDEX = new Map<string, bigint>([...ALPHABET].map((c, i) => [c, BigInt(i)]));

/** Characters needed for a u64 and a u128. */
export const BASE62_U64_WIDTH = 11;
export const BASE62_U128_WIDTH = 22;

export function encodeBase62(value: bigint, width: number): string {
  let v = value;
  let out = "";
  while (v > 0n) {
    out = ALPHABET[Number(v % 62n)]! + out;
    v /= 62n;
  }
  if (out.length > width) throw new RangeError(`value does not fit ${width} base62 characters`);
  return out.padStart(width, "0");
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
