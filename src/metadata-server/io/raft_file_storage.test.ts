import assert from "node:assert/strict";
import { appendFile, mkdtemp, readFile, rm, truncate } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { bootstrapState } from "../raft/bootstrap.js";
import { LogIndex, MemberId, Term, type Entry } from "../raft/types.js";
import type { PersistWork } from "../raft/storage_format.js";
import { FileRaftStorage, RAFT_LOG_FILE } from "./raft_file_storage.js";

const dirs: string[] = [];
async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "keel-raft-"));
  dirs.push(dir);
  return dir;
}
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

const entry = (index: number, term: number, text = `e${index}`): Entry => ({
  index: LogIndex(index),
  term: Term(term),
  kind: "command",
  data: new TextEncoder().encode(text),
});

function persist(storage: FileRaftStorage, work: Partial<PersistWork>): Promise<void> {
  return new Promise((resolve, reject) =>
    storage.persist({ snapshot: undefined, hardState: undefined, entries: [], ...work }, (error) =>
      error === undefined ? resolve() : reject(error),
    ),
  );
}

const membership = { voters: [MemberId(1)], learners: [], addresses: { 1: "n1" } };

// What every Raft storage must do is in test/contract/raft_storage_contract.ts.
describe("file raft storage", () => {
  it("keeps the valid prefix of a log with a torn or damaged tail", async () => {
    const dir = await freshDir();
    await FileRaftStorage.provision(dir, bootstrapState(membership, new Uint8Array()));
    const { storage } = await FileRaftStorage.open(dir);
    await persist(storage, {
      hardState: { term: Term(2), vote: MemberId(1), commit: LogIndex(1) },
    });
    await persist(storage, { entries: [entry(2, 2)] });
    await persist(storage, { entries: [entry(3, 2)] });
    storage.close();
    const path = join(dir, RAFT_LOG_FILE);
    const size = (await readFile(path)).length;
    await truncate(path, size - 3); // the last frame is torn
    await appendFile(path, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9])); // and garbage follows
    const reopened = await FileRaftStorage.open(dir);
    assert.deepEqual(
      reopened.recovered.entries.map((e) => e.index),
      [2],
    );
    assert.equal(reopened.recovered.hardState.term, 2);
    reopened.storage.close();
  });

  it("provisions a directory only once", async () => {
    const dir = await freshDir();
    await FileRaftStorage.provision(dir, bootstrapState(membership, new Uint8Array()));
    await assert.rejects(
      FileRaftStorage.provision(dir, bootstrapState(membership, new Uint8Array())),
      /provisioning happens once/,
    );
  });
});
