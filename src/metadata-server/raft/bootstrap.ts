/**
 * The Raft state of a freshly provisioned group: a snapshot at index 1, term 1, holding the initial
 * membership and the state machine's initial image. Provisioning writes it on exactly one node (or
 * on every initial voter, identically); every other member starts empty and is added later by a
 * membership change, receiving the snapshot from the leader.
 */

import { assert } from "../../core/index.js";
import { decodeMembership } from "./codec.js";
import { assertMembershipValid } from "./membership.js";
import type { RaftRecovered } from "./raft.js";
import { LogIndex, NO_MEMBER, Term, type Membership } from "./types.js";

export const BOOTSTRAP_INDEX = LogIndex(1);
export const BOOTSTRAP_TERM = Term(1);

export function bootstrapState(membership: Membership, data: Uint8Array): RaftRecovered {
  assertMembershipValid(membership);
  assert(membership.voters.length >= 1, "a provisioned group has at least one voter");
  return {
    hardState: { term: BOOTSTRAP_TERM, vote: NO_MEMBER, commit: BOOTSTRAP_INDEX },
    snapshot: { index: BOOTSTRAP_INDEX, term: BOOTSTRAP_TERM, membership, data },
    entries: [],
  };
}

/** The membership in force in a recovered state: the last membership entry, else the snapshot's. */
export function recoveredMembership(recovered: RaftRecovered): Membership {
  const last = recovered.entries.findLast((entry) => entry.kind === "membership");
  return last === undefined ? recovered.snapshot.membership : decodeMembership(last.data);
}
