import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { toHex, utf8 } from "./bytes.js";
import { Sha256, sha256 } from "./sha256.js";

describe("sha256", () => {
  it("matches the FIPS test vectors", () => {
    assert.equal(
      toHex(sha256(utf8(""))),
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
    assert.equal(
      toHex(sha256(utf8("abc"))),
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });

  it("agrees with node:crypto for every length across block boundaries, fed in pieces", () => {
    const data = new Uint8Array(300).map((_, i) => (i * 31 + 7) & 255);
    for (let length = 0; length <= data.length; length++) {
      const input = data.subarray(0, length);
      const expected = createHash("sha256").update(input).digest("hex");
      const split = Math.floor(length / 3);
      const actual = new Sha256()
        .update(input.subarray(0, split))
        .update(input.subarray(split))
        .digest();
      assert.equal(toHex(actual), expected, `length ${length}`);
    }
  });
});
