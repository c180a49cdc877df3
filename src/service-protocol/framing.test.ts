import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FrameDecoder, FrameTooLarge, encodeFrame } from "./framing.js";

describe("service protocol framing", () => {
  it("splits frames across arbitrary chunk boundaries", () => {
    const a = encodeFrame(0x0400, new Uint8Array([1, 2, 3]));
    const b = encodeFrame(0x0003, new Uint8Array(0));
    const c = encodeFrame(0x8011, new Uint8Array(300).fill(9));
    const all = new Uint8Array([...a, ...b, ...c]);
    for (const step of [1, 3, 7, 8, 50, all.length]) {
      const decoder = new FrameDecoder(1024);
      const frames = [];
      for (let i = 0; i < all.length; i += step)
        frames.push(...decoder.push(all.subarray(i, i + step)));
      assert.deepEqual(
        frames.map((f) => [f.type, f.payload.length]),
        [
          [0x0400, 3],
          [0x0003, 0],
          [0x8011, 300],
        ],
        `chunk size ${step}`,
      );
      assert.equal(decoder.bufferedBytes, 0);
    }
  });

  it("joins a large frame once all its chunks arrived, keeping what follows it", () => {
    const large = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 255);
    const all = new Uint8Array([
      ...encodeFrame(0x0400, large),
      ...encodeFrame(0x0003, new Uint8Array([5])),
    ]);
    const decoder = new FrameDecoder(1 << 21);
    const frames = [];
    for (let i = 0; i < all.length; i += 1000) {
      const got = decoder.push(all.subarray(i, i + 1000));
      if (i + 1000 < large.length) assert.equal(got.length, 0, "nothing before the frame is whole");
      frames.push(...got);
    }
    assert.deepEqual(
      frames.map((f) => f.type),
      [0x0400, 0x0003],
    );
    assert.deepEqual(frames[0]!.payload, large);
    assert.deepEqual([...frames[1]!.payload], [5]);
    assert.equal(decoder.bufferedBytes, 0);
  });

  it("encodes the header big-endian with type, flags and length", () => {
    const frame = encodeFrame(0x0005, new Uint8Array(2), 0x8000);
    assert.deepEqual([...frame.subarray(0, 8)], [0x00, 0x05, 0x80, 0x00, 0, 0, 0, 2]);
  });

  it("refuses a frame that declares more than the limit", () => {
    const decoder = new FrameDecoder(16);
    const header = new Uint8Array([0x04, 0x00, 0, 0, 0, 0, 1, 0]);
    assert.throws(() => decoder.push(header), FrameTooLarge);
  });
});
