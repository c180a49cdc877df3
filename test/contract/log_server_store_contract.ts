/**
 * The log-server store contract (src/log-server/store.ts), run by every implementation: the segment
 * files of a real log server, the memory store, and the simulator's store on a simulated disk.
 *
 * - `write` completes writes in the order they were issued, each exactly once;
 * - `read` returns the records of one loglet in `[from, toExclusive)`, ascending and contiguous from
 *   `from`, at most `recordsMax` (at least one when `from` is held), from any of its batches, and
 *   never another loglet's;
 * - a store reopened on what it wrote recovers every batch (`{first, end}`) and each loglet's latest
 *   metadata.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fromUtf8, utf8 } from "../../src/core/bytes.js";
import { generationalNodeId } from "../../src/core/node_id.js";
import {
  EMPTY_META,
  type RecoveredLoglet,
  type StoreWrite,
} from "../../src/bifrost/loglet_store.js";
import type { StoredRecord } from "../../src/bifrost/replicated/messages.js";
import { logletIdOf, type LogletId } from "../../src/bifrost/replicated/types.js";
import type { LogServerStore } from "../../src/log-server/store.js";

export interface OpenedStore {
  readonly store: LogServerStore;
  readonly recovered: ReadonlyMap<LogletId, RecoveredLoglet>;
}

export interface LogServerStoreFactory {
  /** A new, empty store. */
  create(): Promise<OpenedStore>;
  /** The same store opened again, on what it made durable (closes the old one). */
  reopen(opened: OpenedStore): Promise<OpenedStore>;
  /** Lets callbacks of the store run (a simulated scheduler steps; real ones wait). */
  settle(): Promise<void>;
}

const A = logletIdOf(1, 0);
const B = logletIdOf(2, 0);

const records = (logletId: LogletId, first: number, ...texts: string[]): StoreWrite => ({
  kind: "records",
  logletId,
  first,
  payloads: texts.map(utf8),
});

export function describeLogServerStoreContract(name: string, factory: LogServerStoreFactory): void {
  const write = async (store: LogServerStore, w: StoreWrite): Promise<void> => {
    let done = false;
    let failure: Error | undefined;
    store.write(w, (error) => {
      done = true;
      failure = error;
    });
    while (!done) await factory.settle();
    if (failure !== undefined) throw failure;
  };
  const read = async (
    store: LogServerStore,
    id: LogletId,
    from: number,
    toExclusive = 1_000,
    recordsMax = 100,
  ): Promise<string[]> => {
    let result: readonly StoredRecord[] | Error | undefined;
    store.read(id, from, toExclusive, recordsMax, 1 << 20, (r) => (result = r));
    while (result === undefined) await factory.settle();
    if (result instanceof Error) throw result;
    return result.map((r) => fromUtf8(r.payload));
  };

  describe(`log-server store contract: ${name}`, () => {
    it("completes writes in the order they were issued, each once", async () => {
      const { store } = await factory.create();
      const completed: number[] = [];
      for (let i = 0; i < 20; i++)
        store.write(records(A, i + 1, `r${i}`), (error) => {
          assert.equal(error, undefined);
          completed.push(i);
        });
      while (completed.length < 20) await factory.settle();
      await factory.settle();
      assert.deepEqual(
        completed,
        Array.from({ length: 20 }, (_, i) => i),
      );
    });

    it("reads contiguous records of one loglet across batches, bounded, never another's", async () => {
      const { store } = await factory.create();
      await write(store, records(A, 1, "a1", "a2"));
      await write(store, records(B, 1, "b1"));
      await write(store, records(A, 3, "a3", "a4"));
      assert.deepEqual(await read(store, A, 1), ["a1", "a2", "a3", "a4"]);
      assert.deepEqual(await read(store, A, 2), ["a2", "a3", "a4"]);
      assert.deepEqual(await read(store, A, 2, 4), ["a2", "a3"]);
      const bounded = await read(store, A, 1, 1_000, 3);
      assert.ok(bounded.length >= 1 && bounded.length <= 3, String(bounded));
      assert.deepEqual(bounded, ["a1", "a2", "a3"].slice(0, bounded.length));
      assert.deepEqual(await read(store, B, 1), ["b1"]);
    });

    it("recovers every batch and each loglet's latest metadata when reopened", async () => {
      const opened = await factory.create();
      const sealed = { ...EMPTY_META, sequencer: generationalNodeId(1, 1), sealed: true };
      await write(opened.store, { kind: "meta", logletId: A, meta: EMPTY_META });
      await write(opened.store, records(A, 1, "a1", "a2"));
      await write(opened.store, records(B, 1, "b1"));
      await write(opened.store, records(A, 3, "a3"));
      await write(opened.store, { kind: "meta", logletId: A, meta: sealed });
      const reopened = await factory.reopen(opened);
      assert.deepEqual(reopened.recovered.get(A), {
        meta: sealed,
        batches: [
          { first: 1, end: 3 },
          { first: 3, end: 4 },
        ],
      });
      assert.deepEqual(reopened.recovered.get(B)?.batches, [{ first: 1, end: 2 }]);
      assert.deepEqual(await read(reopened.store, A, 1), ["a1", "a2", "a3"]);
      assert.deepEqual(await read(reopened.store, B, 1), ["b1"]);
    });
  });
}
