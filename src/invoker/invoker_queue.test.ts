import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvokerQueue } from "./invoker_queue.js";

function drain(queue: InvokerQueue<string>): string[] {
  const out: string[] = [];
  for (let item = queue.shift(); item !== undefined; item = queue.shift()) out.push(item);
  return out;
}

describe("InvokerQueue", () => {
  it("serves a call that arrives behind a takeover backlog within two turns", () => {
    const queue = new InvokerQueue<string>();
    for (let i = 0; i < 1000; i++) queue.push(`recovered-${i}`, "takeover");
    queue.shift();
    queue.push("new", "awaited");
    const next = [queue.shift(), queue.shift()];
    assert.ok(next.includes("new"), `served ${next.join(", ")}`);
    assert.equal(queue.length, 998);
  });

  it("alternates while both lanes wait, keeps each lane's order, and empties either alone", () => {
    const queue = new InvokerQueue<string>();
    for (const item of ["t1", "t2", "t3", "t4"]) queue.push(item, "takeover");
    for (const item of ["l1", "l2"]) queue.push(item, "awaited");
    assert.deepEqual(drain(queue), ["t1", "l1", "t2", "l2", "t3", "t4"]);
    for (const item of ["l3", "l4"]) queue.push(item, "awaited");
    assert.deepEqual(drain(queue), ["l3", "l4"]);
  });

  it("serves the three lanes in turn and holds the background lane back when asked", () => {
    const queue = new InvokerQueue<string>();
    for (const item of ["t1", "t2"]) queue.push(item, "takeover");
    for (const item of ["a1", "a2"]) queue.push(item, "awaited");
    for (const item of ["b1", "b2", "b3"]) queue.push(item, "background");
    assert.deepEqual([queue.shift(), queue.shift(), queue.shift()], ["t1", "a1", "b1"]);
    assert.deepEqual(
      [queue.shift(true), queue.shift(true), queue.shift(true)],
      ["t2", "a2", undefined],
    );
    assert.equal(queue.waiting("background"), 2);
    assert.deepEqual(drain(queue), ["b2", "b3"]);
  });

  it("removes what a predicate picks from every lane", () => {
    const queue = new InvokerQueue<string>();
    for (const item of ["t1", "x", "t2"]) queue.push(item, "takeover");
    for (const item of ["x", "l1"]) queue.push(item, "awaited");
    for (const item of ["b1", "x"]) queue.push(item, "background");
    queue.removeWhere((item) => item === "x");
    assert.equal(queue.length, 4);
    assert.deepEqual(drain(queue).sort(), ["b1", "l1", "t1", "t2"]);
  });
});
