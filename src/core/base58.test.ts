import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeBase58, encodeBase58 } from "./base58.js";
import { fromHex, seededPrng } from "./index.js";

describe("base58", () => {
  it("encodes the Bitcoin test vectors", () => {
    assert.equal(encodeBase58(new Uint8Array()), "");
    assert.equal(encodeBase58(fromHex("61")!), "2g");
    assert.equal(encodeBase58(fromHex("626262")!), "a3gV");
    assert.equal(encodeBase58(fromHex("00000000000000000000")!), "1111111111");
    assert.equal(
      encodeBase58(fromHex("00eb15231dfceb60925886b67d065299925915aeb172c06647")!),
      "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L",
    );
  });

  it("round-trips random bytes, leading zeros included", () => {
    const prng = seededPrng(58);
    for (let n = 0; n < 200; n++) {
      const bytes = new Uint8Array(prng.nextInt(40));
      for (let i = 0; i < bytes.length; i++)
        bytes[i] = i < 2 && n % 3 === 0 ? 0 : prng.nextInt(256);
      assert.deepEqual(decodeBase58(encodeBase58(bytes)), bytes);
    }
  });

  it("refuses characters outside the alphabet", () => {
    assert.equal(decodeBase58("0OIl"), undefined);
  });
});
