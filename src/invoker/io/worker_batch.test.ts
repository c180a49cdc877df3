import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { concatBytes } from "../../core/bytes.js";
import { packForCrossing } from "./worker_batch.js";

describe("buffers crossing to another thread", () => {
  it("joins runs of small buffers, moves large whole ones, and keeps the order of the bytes", () => {
    const small = [new Uint8Array([1, 2]), new Uint8Array([3])];
    const large = new Uint8Array(100_000).fill(7);
    const view = new Uint8Array(200_000).fill(9).subarray(10, 150_010);
    const tail = new Uint8Array([4]);
    const { parts, moved } = packForCrossing([...small, large, view, tail]);
    assert.deepEqual(concatBytes(parts), concatBytes([...small, large, view, tail]));
    assert.equal(
      parts.length,
      3,
      "the small run, the large buffer, then the view joined with the tail",
    );
    assert.equal(parts[1], large, "the large whole buffer is not copied");
    assert.deepEqual(
      moved,
      [large.buffer, parts[2]!.buffer],
      "the large buffer and the joined view move; the joined small run is copied",
    );
  });

  it("moves nothing small, and never a view into a larger buffer", () => {
    const pooled = Buffer.from("hello");
    const { parts, moved } = packForCrossing([pooled]);
    assert.deepEqual(moved, []);
    assert.notEqual(parts[0]!.buffer, pooled.buffer, "a view is copied out of its buffer");
  });
});
