/**
 * Known answers of the hashes whose output is stored or sent and so must never change: MurmurHash3
 * (x86, 128 bits) places object keys in partitions, which store keys and invocation ids carry;
 * `hash128` derives child and idempotent invocation ids. A change here would orphan every existing
 * key and id.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hash128, murmur3x86_128 } from "./hash.js";
import { partitionKeyOf } from "./partitioning.js";
import { toHex, utf8 } from "./bytes.js";

const words = (text: string, seed?: number): string =>
  murmur3x86_128(utf8(text), seed)
    .map((w) => w.toString(16).padStart(8, "0"))
    .join("");

describe("hash known answers", () => {
  it("MurmurHash3 x86_128 gives the reference implementation's values", () => {
    // The published vector of SMHasher's MurmurHash3_x86_128, seed 0.
    assert.equal(
      words("The quick brown fox jumps over the lazy dog"),
      "2f1583c3ecee2c675d7bf66ce5e91d2c",
    );
    assert.equal(words(""), "00000000000000000000000000000000");
    assert.equal(words("hello"), "2b2444a0db91def79adb31b69adb31b6");
    assert.equal(words("0123456789abcdef0"), "1f8a385560920c06b5182f1c718c0b9c");
  });

  it("places object keys in partitions as it always has", () => {
    assert.equal(partitionKeyOf("").toString(), "0");
    assert.equal(partitionKeyOf("a").toString(), "12075438388226207771");
    assert.equal(partitionKeyOf("hello").toString(), "3108685100461711095");
  });

  it("derives 128-bit ids from parts as it always has", () => {
    assert.equal(toHex(hash128(["Svc", "h", "key"])), toHex(hash128(["Svc", "h", "key"])));
    assert.notEqual(toHex(hash128(["ab", "c"])), toHex(hash128(["a", "bc"])));
    assert.equal(toHex(hash128(["Svc", "handler", ""])), FROZEN_HASH128);
  });
});

const FROZEN_HASH128 = "82d1e4a40e409421b4255e05028aaf0b";
