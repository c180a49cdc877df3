import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SimDisk } from "./disk.js";
import { SimNetwork } from "./network.js";
import { SimScheduler } from "./scheduler.js";

describe("simulator core", () => {
  it("runs events in time order, ties in insertion order, and replays identically per seed", () => {
    const trace = (seed: number): string[] => {
      const s = new SimScheduler(seed);
      const out: string[] = [];
      for (let i = 0; i < 20; i++) {
        const delay = s.prng.nextInt(10);
        s.schedule(delay, () => out.push(`${i}@${s.now}`));
      }
      s.runUntil(() => false);
      return out;
    };
    assert.deepEqual(trace(7), trace(7));
    assert.notDeepEqual(trace(7), trace(8));
    const times = trace(7).map((e) => Number(e.split("@")[1]));
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
    );
  });

  it("cancels events and stops at a time limit", () => {
    const s = new SimScheduler(1);
    const seen: number[] = [];
    const cancel = s.schedule(5, () => seen.push(5));
    s.schedule(10, () => seen.push(10));
    s.schedule(20, () => seen.push(20));
    cancel();
    s.runFor(15);
    assert.deepEqual(seen, [10]);
    assert.equal(s.now, 15);
  });

  it("drops messages across a partition and to detached nodes", () => {
    const s = new SimScheduler(3);
    const net = new SimNetwork<string>(s, {
      dropProbability: 0,
      duplicateProbability: 0,
      delayMinMs: 1,
      delayMaxMs: 5,
    });
    const got: string[] = [];
    net.attach(1, (from, m) => got.push(`${from}:${m}`));
    net.attach(2, (from, m) => got.push(`${from}:${m}`));
    net.send(1, 2, "a");
    net.partition([1], [2]);
    net.send(2, 1, "b");
    s.runFor(10);
    assert.deepEqual(got, []);
    net.heal();
    net.send(2, 1, "c");
    net.detach(2);
    net.send(1, 2, "d");
    s.runFor(10);
    assert.deepEqual(got, ["2:c"]);
  });

  it("loses unsynced bytes on a crash, keeping at most a torn prefix of an append", () => {
    const s = new SimScheduler(11);
    const disk = new SimDisk(s.prng);
    disk.append("log", new Uint8Array([1, 2, 3]));
    disk.sync("log");
    disk.append("log", new Uint8Array([4, 5, 6, 7]));
    disk.crash();
    const after = [...disk.read("log")!];
    assert.deepEqual(after.slice(0, 3), [1, 2, 3]);
    assert.ok(after.length <= 7);
    assert.deepEqual(after.slice(3), [4, 5, 6, 7].slice(0, after.length - 3));
  });
});
