/**
 * Fixed-width base62 as Restate uses it in resource ids: the alphabet is digits, then lower-case,
 * then upper-case letters, and numbers are left-padded with '0' to the width of their type.
 */

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const INDEX = new Map<string, bigint>([...ALPHABET].map((c, i) => [c, BigInt(i)]));
const CHUNK_DIGITS = 5;
const CHUNK = 62n ** BigInt(CHUNK_DIGITS);

/** Characters needed for a u64 and a u128. */
export const BASE62_U64_WIDTH = 11;
export const BASE62_U128_WIDTH = 22;

export function encodeBase62(value: bigint, width: number): string {
  // Divides by 62^5 (< 2^30) in BigInt, then splits each chunk with plain number arithmetic:
  // far fewer BigInt operations than one division per digit.
  const digits: string[] = [];
  let v = value;
  while (v > 0n) {
    let chunk = Number(v % CHUNK);
    v /= CHUNK;
    for (let i = 0; i < CHUNK_DIGITS && (chunk > 0 || v > 0n); i++) {
      digits.push(ALPHABET[chunk % 62]!);
      chunk = (chunk - (chunk % 62)) / 62;
    }
  }
  if (digits.length > width) throw new RangeError(`value does not fit ${width} base62 characters`);
  while (digits.length < width) digits.push("0");
  return digits.reverse().join("");
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
