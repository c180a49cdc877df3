import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TestClock } from "./clock.js";

describe("TestClock", () => {
  it("runs with the wall clock until moved, then stays ahead by the moves", async () => {
    const clock = new TestClock();
    assert.ok(Math.abs(clock.nowMs() - Date.now()) < 50);
    await clock.advance(86_400_000);
    assert.ok(Math.abs(clock.nowMs() - (Date.now() + 86_400_000)) < 50);
    assert.equal(clock.offsetMs, 86_400_000);
    clock.dispose();
  });

  it("fires the timers a move passes, in deadline order, and keeps the others", async () => {
    const clock = new TestClock();
    const fired: string[] = [];
    clock.setTimer(3_000, () => fired.push("3s"));
    clock.setTimer(1_000, () => fired.push("1s"));
    const cancel = clock.setTimer(2_000, () => fired.push("2s"));
    clock.setTimer(60_000, () => fired.push("1m"));
    cancel();
    await clock.advance(5_000);
    assert.deepEqual(fired, ["1s", "3s"]);
    await clock.advance(54_000);
    assert.deepEqual(fired, ["1s", "3s"], "55 s of the minute have passed");
    await clock.advance(1_000);
    assert.deepEqual(fired, ["1s", "3s", "1m"]);
    clock.dispose();
  });

  it("counts a timer set after a move from the moved time", async () => {
    const clock = new TestClock();
    await clock.advance(10_000);
    let fired = false;
    clock.setTimer(5_000, () => (fired = true));
    await clock.advance(4_000);
    assert.equal(fired, false);
    await clock.advance(1_000);
    assert.equal(fired, true);
    clock.dispose();
  });

  it("never moves back, and runs no timer once disposed", async () => {
    const clock = new TestClock();
    await assert.rejects(clock.advance(-1), RangeError);
    let fired = false;
    clock.setTimer(1_000, () => (fired = true));
    clock.dispose();
    await clock.advance(2_000);
    assert.equal(fired, false);
  });
});
