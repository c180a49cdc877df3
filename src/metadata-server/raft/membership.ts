/**
 * Membership changes, one server at a time. A change adds a learner, promotes a learner to voter or
 * removes a member, so consecutive memberships differ by at most one voter and their majorities
 * always intersect. The safety conditions that go with single-server changes are enforced by the
 * leader in raft.ts: at most one uncommitted change, and none before the leader has committed an
 * entry of its own term. Every member uses the latest membership in its log, committed or not.
 */

import { assert } from "../../core/index.js";
import type { Membership, MemberId } from "./types.js";

export type MembershipChange =
  | { readonly kind: "addLearner"; readonly member: MemberId; readonly address: string }
  | { readonly kind: "promote"; readonly member: MemberId }
  | { readonly kind: "remove"; readonly member: MemberId };

export type MembershipChangeResult =
  | { readonly ok: true; readonly membership: Membership }
  | { readonly ok: false; readonly reason: string };

export function isVoter(membership: Membership, member: MemberId): boolean {
  return membership.voters.includes(member);
}

export function isLearner(membership: Membership, member: MemberId): boolean {
  return membership.learners.includes(member);
}

export function isMember(membership: Membership, member: MemberId): boolean {
  return isVoter(membership, member) || isLearner(membership, member);
}

/** Voters then learners, each in ascending id order. */
export function membersOf(membership: Membership): MemberId[] {
  return [...membership.voters, ...membership.learners];
}

/** Checks that a membership is well formed: no duplicates, no member both voter and learner. */
export function assertMembershipValid(membership: Membership): void {
  const seen = new Set<MemberId>();
  for (const member of membersOf(membership)) {
    assert(member > 0, `member ids are positive, found ${member}`);
    assert(!seen.has(member), `member ${member} appears twice in the membership`);
    seen.add(member);
  }
  for (const key of Object.keys(membership.addresses)) {
    assert(seen.has(Number(key) as MemberId), `address for non-member ${key}`);
  }
}

const sorted = (ids: readonly MemberId[]): MemberId[] => [...ids].sort((a, b) => a - b);

function withoutAddress(
  addresses: Readonly<Record<number, string>>,
  member: MemberId,
): Record<number, string> {
  const out: Record<number, string> = {};
  for (const [key, value] of Object.entries(addresses)) {
    if (Number(key) !== member) out[Number(key)] = value;
  }
  return out;
}

/** Applies one change, or says why it is not allowed. Never removes the last voter. */
export function applyMembershipChange(
  membership: Membership,
  change: MembershipChange,
): MembershipChangeResult {
  switch (change.kind) {
    case "addLearner": {
      if (isMember(membership, change.member)) {
        return { ok: false, reason: `member ${change.member} is already in the group` };
      }
      return {
        ok: true,
        membership: {
          voters: membership.voters,
          learners: sorted([...membership.learners, change.member]),
          addresses: { ...membership.addresses, [change.member]: change.address },
        },
      };
    }
    case "promote": {
      if (!isLearner(membership, change.member)) {
        return { ok: false, reason: `member ${change.member} is not a learner` };
      }
      return {
        ok: true,
        membership: {
          voters: sorted([...membership.voters, change.member]),
          learners: membership.learners.filter((m) => m !== change.member),
          addresses: membership.addresses,
        },
      };
    }
    case "remove": {
      if (!isMember(membership, change.member)) {
        return { ok: false, reason: `member ${change.member} is not in the group` };
      }
      if (membership.voters.length === 1 && isVoter(membership, change.member)) {
        return { ok: false, reason: `member ${change.member} is the last voter` };
      }
      return {
        ok: true,
        membership: {
          voters: membership.voters.filter((m) => m !== change.member),
          learners: membership.learners.filter((m) => m !== change.member),
          addresses: withoutAddress(membership.addresses, change.member),
        },
      };
    }
  }
}

/** Counts how many voters differ between two memberships (single-server changes: at most one). */
export function voterDifference(a: Membership, b: Membership): number {
  const inA = new Set(a.voters);
  const inB = new Set(b.voters);
  let difference = 0;
  for (const voter of inA) if (!inB.has(voter)) difference++;
  for (const voter of inB) if (!inA.has(voter)) difference++;
  return difference;
}
