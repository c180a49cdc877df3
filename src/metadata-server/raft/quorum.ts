/**
 * Majority arithmetic, as pure functions over the voters of one membership. Raft's safety rests on
 * any two majorities of the same voters sharing a member; single-server membership changes keep
 * that true across consecutive memberships (a majority of n and a majority of n ± 1 intersect).
 */

import { assert } from "../../core/index.js";
import { LogIndex, type MemberId } from "./types.js";

/** The smallest number of voters that forms a majority of `voterCount`. */
export function majorityOf(voterCount: number): number {
  assert(voterCount >= 1, `a quorum needs at least one voter, found ${voterCount}`);
  return Math.floor(voterCount / 2) + 1;
}

/** True when `members` includes a majority of `voters`. */
export function isQuorum(voters: readonly MemberId[], members: ReadonlySet<MemberId>): boolean {
  if (voters.length === 0) return false;
  let count = 0;
  for (const voter of voters) if (members.has(voter)) count++;
  return count >= majorityOf(voters.length);
}

/**
 * The highest index that a majority of voters has stored: the candidate commit index. Sorting the
 * voters' match indexes in descending order, it is the one at position majority − 1.
 */
export function quorumMatchIndex(
  voters: readonly MemberId[],
  matchOf: (member: MemberId) => LogIndex,
): LogIndex {
  if (voters.length === 0) return LogIndex(0);
  const matches = voters.map(matchOf).sort((a, b) => b - a);
  const index = matches[majorityOf(voters.length) - 1];
  assert(index !== undefined, "the majority position lies inside the voter list");
  return index;
}

export type VoteOutcome = "won" | "lost" | "pending";

/** Tallies granted and rejected votes among the voters; votes of non-voters do not count. */
export function voteOutcome(
  voters: readonly MemberId[],
  votes: ReadonlyMap<MemberId, boolean>,
): VoteOutcome {
  if (voters.length === 0) return "lost";
  let granted = 0;
  let rejected = 0;
  for (const voter of voters) {
    const vote = votes.get(voter);
    if (vote === true) granted++;
    else if (vote === false) rejected++;
  }
  const needed = majorityOf(voters.length);
  if (granted >= needed) return "won";
  if (voters.length - rejected < needed) return "lost";
  return "pending";
}
