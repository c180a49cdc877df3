import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BASE62_U128_WIDTH, BASE62_U64_WIDTH, decodeBase62, encodeBase62LE } from "./base62.js";

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** The definition, digit by digit in BigInt: what the limb arithmetic must agree with. */
function referenceEncoding(bytes: Uint8Array, width: number): string {
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]!);
  let text = "";
  for (let i = 0; i < width; i++) {
    text = ALPHABET[Number(value % 62n)]! + text;
    value /= 62n;
  }
  assert.equal(value, 0n);
  return text;
}

function seededBytes(seed: number, length: number): Uint8Array {
  let state = seed >>> 0 || 1;
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[i] = state & 255;
  }
  return bytes;
}

describe("base62", () => {
  it("encodes little-endian u64 and u128 as the BigInt definition does", () => {
    const edges = [
      new Uint8Array(16),
      new Uint8Array(16).fill(255),
      Uint8Array.of(1, ...new Array(15).fill(0)),
    ];
    const samples = [
      ...edges,
      ...Array.from({ length: 500 }, (_, seed) => seededBytes(seed + 1, 16)),
    ];
    for (const bytes of samples) {
      assert.equal(
        encodeBase62LE(bytes, 0, 16, BASE62_U128_WIDTH),
        referenceEncoding(bytes, BASE62_U128_WIDTH),
      );
      assert.equal(
        encodeBase62LE(bytes, 8, 8, BASE62_U64_WIDTH),
        referenceEncoding(bytes.subarray(8), BASE62_U64_WIDTH),
      );
    }
  });

  it("round-trips through decoding", () => {
    const bytes = seededBytes(7, 16);
    const text = encodeBase62LE(bytes, 0, 16, BASE62_U128_WIDTH);
    let expected = 0n;
    for (let i = 15; i >= 0; i--) expected = (expected << 8n) | BigInt(bytes[i]!);
    assert.equal(decodeBase62(text), expected);
  });

  it("refuses a value wider than the width", () => {
    assert.throws(() => encodeBase62LE(new Uint8Array(16).fill(255), 0, 16, 5), RangeError);
  });
});
