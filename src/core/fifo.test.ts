import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Fifo } from "./fifo.js";

describe("Fifo", () => {
  it("is first in, first out across growth and wrap-around", () => {
    const fifo = new Fifo<number>(2);
    const model: number[] = [];
    let next = 0;
    // A seeded mix of pushes and shifts, checked against an array at every step.
    let state = 7;
    for (let step = 0; step < 20_000; step++) {
      state = (state * 1_103_515_245 + 12_345) & 0x7fffffff;
      if (state % 5 < 3) {
        fifo.push(next);
        model.push(next++);
      } else {
        assert.equal(fifo.shift(), model.shift());
      }
      assert.equal(fifo.length, model.length);
      assert.equal(fifo.peek(), model[0]);
    }
    while (model.length > 0) assert.equal(fifo.shift(), model.shift());
    assert.equal(fifo.shift(), undefined);
  });

  it("removes what a predicate picks and keeps the order of the rest", () => {
    const fifo = new Fifo<number>(4);
    for (let i = 0; i < 10; i++) fifo.push(i);
    fifo.shift();
    fifo.shift();
    fifo.push(10);
    fifo.removeWhere((n) => n % 3 === 0);
    const rest: number[] = [];
    for (let item = fifo.shift(); item !== undefined; item = fifo.shift()) rest.push(item);
    assert.deepEqual(rest, [2, 4, 5, 7, 8, 10]);
  });

  it("does not hold on to items it has handed out", () => {
    const fifo = new Fifo<object>(4);
    const item = {};
    fifo.push(item);
    fifo.shift();
    // The slot is cleared: the ring keeps no reference for the garbage collector to trace.
    assert.ok(!(fifo as unknown as { slots: unknown[] }).slots.includes(item));
  });
});
