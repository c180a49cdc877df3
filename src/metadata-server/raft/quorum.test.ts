import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isQuorum, majorityOf, quorumMatchIndex, voteOutcome } from "./quorum.js";
import { LogIndex, MemberId } from "./types.js";

const ids = (...n: number[]): MemberId[] => n.map(MemberId);

describe("quorum arithmetic", () => {
  it("a majority of n is floor(n / 2) + 1", () => {
    assert.deepEqual([1, 2, 3, 4, 5].map(majorityOf), [1, 2, 2, 3, 3]);
  });

  it("the commit candidate is the match index held by a majority", () => {
    const match = new Map([
      [1, 9],
      [2, 4],
      [3, 7],
      [4, 1],
      [5, 7],
    ]);
    const of = (m: MemberId): LogIndex => LogIndex(match.get(m)!);
    assert.equal(quorumMatchIndex(ids(1, 2, 3, 4, 5), of), 7);
    assert.equal(quorumMatchIndex(ids(1, 2, 3), of), 7);
    assert.equal(quorumMatchIndex(ids(2, 4), of), 1);
    assert.equal(quorumMatchIndex(ids(1), of), 9);
  });

  it("tallies votes: won, lost, or still pending; non-voters do not count", () => {
    const votes = (entries: [number, boolean][]): Map<MemberId, boolean> =>
      new Map(entries.map(([m, v]) => [MemberId(m), v]));
    const voters = ids(1, 2, 3);
    assert.equal(voteOutcome(voters, votes([[1, true]])), "pending");
    assert.equal(
      voteOutcome(
        voters,
        votes([
          [1, true],
          [2, true],
        ]),
      ),
      "won",
    );
    assert.equal(
      voteOutcome(
        voters,
        votes([
          [1, true],
          [2, false],
          [3, false],
        ]),
      ),
      "lost",
    );
    assert.equal(
      voteOutcome(
        voters,
        votes([
          [1, true],
          [9, true],
        ]),
      ),
      "pending",
    );
  });

  it("any two majorities of the same voters intersect; so do majorities of n and n + 1", () => {
    for (let n = 1; n <= 7; n++) {
      assert.ok(2 * majorityOf(n) > n);
      assert.ok(majorityOf(n) + majorityOf(n + 1) > n + 1);
    }
    assert.equal(isQuorum(ids(1, 2, 3), new Set(ids(2, 3, 9))), true);
    assert.equal(isQuorum(ids(1, 2, 3), new Set(ids(3, 9))), false);
  });
});
