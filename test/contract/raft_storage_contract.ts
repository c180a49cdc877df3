/**
 * The Raft storage contract (src/metadata-server/ports.ts `RaftStorage`), run by the file storage of
 * a real member and the simulator's disk twin: `persist` makes each ready's work durable in order
 * (snapshot, hard state, entries that replace stored ones from their first index) before `done`, and
 * a member reopened on what was persisted recovers exactly that.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bootstrapState } from "../../src/metadata-server/raft/bootstrap.js";
import type { RaftRecovered } from "../../src/metadata-server/raft/raft.js";
import type { PersistWork } from "../../src/metadata-server/raft/storage_format.js";
import { LogIndex, MemberId, Term, type Entry } from "../../src/metadata-server/raft/types.js";
import type { RaftStorage } from "../../src/metadata-server/ports.js";

export interface OpenedRaftStorage {
  readonly storage: RaftStorage;
  readonly recovered: RaftRecovered;
}

export interface RaftStorageFactory {
  /** Provisions a fresh member with `state` and opens its storage. */
  provision(state: RaftRecovered): Promise<OpenedRaftStorage>;
  /** Closes `opened` and opens the same member's storage again. */
  reopen(opened: OpenedRaftStorage): Promise<OpenedRaftStorage>;
  /** Lets the storage's callbacks run. */
  settle(): Promise<void>;
}

const entry = (index: number, term: number, text = `e${index}`): Entry => ({
  index: LogIndex(index),
  term: Term(term),
  kind: "command",
  data: new TextEncoder().encode(text),
});

const membership = { voters: [MemberId(1)], learners: [], addresses: { 1: "n1" } };

export function describeRaftStorageContract(name: string, factory: RaftStorageFactory): void {
  const persist = async (storage: RaftStorage, work: Partial<PersistWork>): Promise<void> => {
    let done = false;
    let failure: Error | undefined;
    storage.persist({ snapshot: undefined, hardState: undefined, entries: [], ...work }, (e) => {
      done = true;
      failure = e;
    });
    while (!done) await factory.settle();
    if (failure !== undefined) throw failure;
  };

  describe(`raft storage contract: ${name}`, () => {
    it("recovers what was persisted: hard state, entries, truncations and snapshots", async () => {
      let opened = await factory.provision(bootstrapState(membership, new Uint8Array([7])));
      assert.equal(opened.recovered.snapshot.index, 1);
      assert.deepEqual([...opened.recovered.snapshot.data], [7]);
      await persist(opened.storage, {
        hardState: { term: Term(2), vote: MemberId(1), commit: LogIndex(1) },
        entries: [entry(2, 2), entry(3, 2), entry(4, 2)],
      });
      // A newer leader replaces index 4 onwards.
      await persist(opened.storage, {
        hardState: { term: Term(3), vote: MemberId(0), commit: LogIndex(3) },
        entries: [entry(4, 3, "replaced"), entry(5, 3)],
      });
      opened = await factory.reopen(opened);
      assert.deepEqual(opened.recovered.hardState, { term: 3, vote: 0, commit: 3 });
      assert.deepEqual(
        opened.recovered.entries.map((e) => `${e.index}/${e.term}`),
        ["2/2", "3/2", "4/3", "5/3"],
      );
      assert.equal(new TextDecoder().decode(opened.recovered.entries[2]!.data), "replaced");
      await persist(opened.storage, {
        snapshot: { index: LogIndex(4), term: Term(3), membership, data: new Uint8Array([4]) },
      });
      await persist(opened.storage, { entries: [entry(6, 3)] });
      opened = await factory.reopen(opened);
      assert.equal(opened.recovered.snapshot.index, 4);
      assert.deepEqual([...opened.recovered.snapshot.data], [4]);
      assert.deepEqual(
        opened.recovered.entries.map((e) => e.index),
        [5, 6],
      );
      opened.storage.close();
    });
  });
}
