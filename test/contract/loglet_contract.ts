/**
 * The loglet contract suite (see src/bifrost/loglet.ts). Every provider runs it through
 * `describeLogletContract(name, factory)`; a provider passes only if all of it passes.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LogletOffset } from "../../src/core/brand.js";
import { KeelError } from "../../src/core/errors.js";
import type { Loglet, LogletEntry } from "../../src/bifrost/loglet.js";

export interface LogletHarness {
  /** A fresh, empty loglet. */
  create(): Promise<Loglet>;
  /** Closes and reopens the same loglet (a restart); providers without durability return it as is. */
  reopen(loglet: Loglet): Promise<Loglet>;
  cleanup?(): Promise<void>;
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (entry: LogletEntry): string => {
  assert.equal(entry.kind, "record");
  return new TextDecoder().decode(entry.kind === "record" ? entry.payload : new Uint8Array());
};

async function readAll(loglet: Loglet, from = 1): Promise<LogletEntry[]> {
  const out: LogletEntry[] = [];
  let at = from;
  for (;;) {
    const batch = await loglet.read(LogletOffset(at), 100);
    if (batch.length === 0) return out;
    for (const entry of batch) {
      out.push(entry);
      at = (entry.kind === "record" ? entry.offset : entry.to) + 1;
    }
  }
}

export function describeLogletContract(provider: string, harness: LogletHarness): void {
  describe(`loglet contract: ${provider}`, () => {
    it("starts empty with tail 1 and reads nothing", async () => {
      const loglet = await harness.create();
      assert.deepEqual(await loglet.findTail(), { offset: 1, sealed: false });
      assert.deepEqual(await loglet.read(LogletOffset(1), 10), []);
      assert.equal(await loglet.trimPoint(), 0);
      await loglet.close();
    });

    it("appends batches in order and returns the last offset of each", async () => {
      const loglet = await harness.create();
      assert.equal(await loglet.append([bytes("a"), bytes("b"), bytes("c")]), 3);
      assert.equal(await loglet.append([bytes("d")]), 4);
      assert.deepEqual(await loglet.findTail(), { offset: 5, sealed: false });
      const entries = await readAll(loglet);
      assert.deepEqual(entries.map(text), ["a", "b", "c", "d"]);
      assert.deepEqual(
        entries.map((e) => (e.kind === "record" ? e.offset : -1)),
        [1, 2, 3, 4],
      );
      await loglet.close();
    });

    it("keeps call order for concurrent appends", async () => {
      const loglet = await harness.create();
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => loglet.append([bytes(`r${i}`)])),
      );
      assert.deepEqual(
        results,
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
      assert.deepEqual(
        (await readAll(loglet)).map(text),
        Array.from({ length: 50 }, (_, i) => `r${i}`),
      );
      await loglet.close();
    });

    it("reads from the middle and respects the record limit", async () => {
      const loglet = await harness.create();
      await loglet.append(Array.from({ length: 10 }, (_, i) => bytes(`${i + 1}`)));
      const batch = await loglet.read(LogletOffset(4), 3);
      assert.deepEqual(batch.map(text), ["4", "5", "6"]);
      assert.deepEqual(await loglet.read(LogletOffset(11), 3), []);
      await loglet.close();
    });

    it("keeps empty and binary payloads byte for byte", async () => {
      const loglet = await harness.create();
      const binary = new Uint8Array(256).map((_, i) => i);
      await loglet.append([new Uint8Array(0), binary]);
      const [empty, bin] = await loglet.read(LogletOffset(1), 10);
      assert.equal(empty?.kind === "record" && empty.payload.length, 0);
      assert.deepEqual(bin?.kind === "record" ? [...bin.payload] : [], [...binary]);
      await loglet.close();
    });

    it("wakes tail waiters when records arrive", async () => {
      const loglet = await harness.create();
      const waiting = loglet.waitForTail(LogletOffset(1));
      let woke = false;
      void waiting.then(() => (woke = true));
      await new Promise((r) => setImmediate(r));
      assert.equal(woke, false, "no record yet, so the waiter must still wait");
      await loglet.append([bytes("x")]);
      const tail = await waiting;
      assert.equal(tail.offset, 2);
      assert.deepEqual(await loglet.waitForTail(LogletOffset(1)), { offset: 2, sealed: false });
      await loglet.close();
    });

    it("seals idempotently: appends fail with 'sealed' and the tail stays fixed", async () => {
      const loglet = await harness.create();
      await loglet.append([bytes("a"), bytes("b")]);
      const waiter = loglet.waitForTail(LogletOffset(10));
      assert.deepEqual(await loglet.seal(), { offset: 3, sealed: true });
      assert.deepEqual(await loglet.seal(), { offset: 3, sealed: true });
      assert.deepEqual(await waiter, { offset: 3, sealed: true }, "sealing wakes tail waiters");
      await assert.rejects(
        loglet.append([bytes("c")]),
        (e: unknown) => e instanceof KeelError && e.code === "sealed",
      );
      assert.deepEqual(await loglet.findTail(), { offset: 3, sealed: true });
      assert.deepEqual((await readAll(loglet)).map(text), ["a", "b"]);
      await loglet.close();
    });

    it("trims inclusively and idempotently, reporting a trim gap", async () => {
      const loglet = await harness.create();
      await loglet.append(Array.from({ length: 6 }, (_, i) => bytes(`${i + 1}`)));
      await loglet.trim(LogletOffset(3));
      await loglet.trim(LogletOffset(2));
      assert.equal(await loglet.trimPoint(), 3);
      const [gap] = await loglet.read(LogletOffset(1), 10);
      assert.deepEqual(gap, { kind: "trimGap", from: 1, to: 3 });
      assert.deepEqual((await readAll(loglet, 4)).map(text), ["4", "5", "6"]);
      await loglet.trim(LogletOffset(100));
      assert.equal(await loglet.trimPoint(), 6, "trimming past the tail trims to the tail");
      assert.equal((await loglet.findTail()).offset, 7, "trimming never moves the tail");
      assert.equal(await loglet.append([bytes("7")]), 7);
      await loglet.close();
    });

    it("keeps records, seal and trim point across a reopen", async () => {
      let loglet = await harness.create();
      await loglet.append([bytes("a"), bytes("b"), bytes("c")]);
      await loglet.trim(LogletOffset(1));
      loglet = await harness.reopen(loglet);
      assert.deepEqual(await loglet.findTail(), { offset: 4, sealed: false });
      assert.equal(await loglet.trimPoint(), 1);
      assert.deepEqual((await readAll(loglet, 2)).map(text), ["b", "c"]);
      assert.equal(await loglet.append([bytes("d")]), 4);
      await loglet.seal();
      loglet = await harness.reopen(loglet);
      assert.deepEqual(await loglet.findTail(), { offset: 5, sealed: true });
      await assert.rejects(
        loglet.append([bytes("e")]),
        (e: unknown) => e instanceof KeelError && e.code === "sealed",
      );
      await loglet.close();
    });

    it("carries many records through reopen in order", async () => {
      let loglet = await harness.create();
      for (let batch = 0; batch < 20; batch++) {
        await loglet.append(
          Array.from({ length: 50 }, (_, i) => bytes(`${batch}-${i}-${"x".repeat(i * 7)}`)),
        );
      }
      loglet = await harness.reopen(loglet);
      const entries = await readAll(loglet);
      assert.equal(entries.length, 1000);
      assert.equal(text(entries[999]!), `19-49-${"x".repeat(49 * 7)}`);
      await loglet.close();
    });
  });
}
