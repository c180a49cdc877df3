import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { crc32 as zlibCrc32 } from "node:zlib";
import { crc32 } from "./crc32.js";

describe("crc32", () => {
  it("gives the known answers of CRC-32/ISO-HDLC", () => {
    assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
    assert.equal(crc32(new Uint8Array(0)), 0);
    assert.equal(
      crc32(new TextEncoder().encode("The quick brown fox jumps over the lazy dog")),
      0x414fa339,
    );
  });

  it("agrees with zlib on every length up to 100 and when continued", () => {
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 131 + 7) & 0xff);
    for (let length = 0; length <= 100; length++) {
      const part = bytes.subarray(0, length);
      assert.equal(crc32(part), zlibCrc32(part) >>> 0, `length ${length}`);
    }
    const split = crc32(bytes.subarray(150), crc32(bytes.subarray(0, 150)));
    assert.equal(split, crc32(bytes));
    assert.equal(split, zlibCrc32(bytes) >>> 0);
  });
});
