import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { concatBytes } from "../../core/index.js";
import { StoragePlanner, recoverStorage } from "./storage_format.js";
import {
  EMPTY_HARD_STATE,
  EMPTY_SNAPSHOT,
  LogIndex,
  MemberId,
  NO_MEMBER,
  Term,
  type Entry,
} from "./types.js";

function entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let index = from; index <= to; index++) {
    out.push({
      index: LogIndex(index),
      term: Term(term),
      kind: "command",
      data: Uint8Array.of(index),
    });
  }
  return out;
}

/**
 * A member that holds entries 1..5 of term 7 (commit 2, voted for 3), then takes a ready from the
 * leader of term 8 that replaces 3.. with one entry of term 8 and raises the commit to 3. Returns the
 * durable file before that ready and the frames the ready appends.
 */
function divergentSuffixReplaced(): { before: Uint8Array; appended: readonly Uint8Array[] } {
  const planner = new StoragePlanner({
    hardState: EMPTY_HARD_STATE,
    snapshot: EMPTY_SNAPSHOT,
    entries: [],
  });
  const first = planner.plan({
    snapshot: undefined,
    hardState: { term: Term(7), vote: MemberId(3), commit: LogIndex(2) },
    entries: entries(1, 5, 7),
  });
  const before = concatBytes([...planner.logFile().slice(0, 1), ...first.logAppend]);
  const replaced = planner.plan({
    snapshot: undefined,
    hardState: { term: Term(8), vote: NO_MEMBER, commit: LogIndex(3) },
    entries: entries(3, 3, 8),
  });
  assert.equal(replaced.logAppend.length, 2, "one entries frame and one hard-state frame");
  return { before, appended: replaced.logAppend };
}

describe("raft storage format: recovery after a torn ready", () => {
  it("a commit index never names an entry that the same ready replaced but did not make durable", () => {
    const { before, appended } = divergentSuffixReplaced();
    // Every prefix of the ready's frames a tear can leave: none, the entries, everything.
    for (let kept = 0; kept <= appended.length; kept++) {
      const recovered = recoverStorage(
        undefined,
        concatBytes([before, ...appended.slice(0, kept)]),
      );
      const commit = recovered.hardState.commit;
      const atCommit = recovered.entries.find((e) => e.index === commit);
      if (commit >= 3) {
        assert.equal(atCommit?.term, 8, `with ${kept} frames kept, commit ${commit} names term 8`);
      }
      assert.ok(
        recovered.hardState.term >= (recovered.entries.at(-1)?.term ?? 0),
        `with ${kept} frames kept, the term is not below the last entry's`,
      );
    }
  });

  it("entries kept without the hard state after them raise the term, with no vote", () => {
    const { before, appended } = divergentSuffixReplaced();
    const recovered = recoverStorage(undefined, concatBytes([before, appended[0]!]));
    assert.deepEqual(
      recovered.entries.map((e) => `${e.index}/${e.term}`),
      ["1/7", "2/7", "3/8"],
    );
    assert.deepEqual(recovered.hardState, { term: 8, vote: NO_MEMBER, commit: 2 });
  });

  it("a torn half frame counts for nothing", () => {
    const { before, appended } = divergentSuffixReplaced();
    const half = appended[0]!.subarray(0, appended[0]!.length - 3);
    const recovered = recoverStorage(undefined, concatBytes([before, half]));
    assert.deepEqual(
      recovered.entries.map((e) => `${e.index}/${e.term}`),
      ["1/7", "2/7", "3/7", "4/7", "5/7"],
    );
    assert.deepEqual(recovered.hardState, { term: 7, vote: 3, commit: 2 });
  });
});
