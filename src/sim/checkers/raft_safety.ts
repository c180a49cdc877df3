/**
 * Raft's safety properties (Figure 3 of the Raft paper), checked while a simulation runs:
 * - Election safety: at most one leader per term (checked on every step).
 * - Log matching: two entries with the same index and term hold the same command and follow entries
 *   of the same term (checked on every entry written; by induction the prefixes are identical).
 * - Leader completeness: a leader's log holds every entry committed before (checked whenever a
 *   member is seen leading a term, and whenever a new committed entry is seen).
 * - State machine safety: no two members apply different entries at the same index (checked on
 *   every entry applied); an applied entry counts as committed.
 * Committed entries are learnt from every member's commit index, on every step.
 *
 * The checker reads members through a narrow view, so it works on any driver of the pure machines.
 */

import { toHex, hash128 } from "../../core/index.js";
import {
  type MemberObserver,
  type RaftStatus,
  LogIndex,
  type Entry,
  type MemberId,
  type Term,
} from "../../metadata-server/index.js";

export interface MemberView {
  readonly id: MemberId;
  status(): RaftStatus;
  termAt(index: LogIndex): Term | undefined;
}

interface EntryIdentity {
  readonly digest: string;
  readonly prevTerm: Term | undefined;
}

/** Violations recorded at most (a broken run stops being informative after a few). */
const VIOLATIONS_MAX = 20;

function digestOf(entry: Entry): string {
  return toHex(hash128([entry.kind, entry.data]));
}

export class RaftSafetyChecker implements MemberObserver {
  readonly violations: string[] = [];
  /** Indexes that held entries of two or more terms somewhere (logs that diverged and were repaired). */
  divergentIndexes = 0;
  private readonly termsAtIndex = new Map<number, number>();
  private readonly leaderOfTerm = new Map<number, MemberId>();
  private readonly identities = new Map<string, EntryIdentity>();
  /** index → the term of the entry committed there. */
  private readonly committed = new Map<number, Term>();
  /**
   * index → an upper bound of the term in which the entry was committed: the lowest current term of
   * a member seen holding it committed. Leaders of later terms must hold the entry; a leader of an
   * earlier term may lack it (Figure 8 (c)), so checking against this bound raises no false alarms.
   */
  private readonly committedBy = new Map<number, number>();
  private readonly appliedAt = new Map<number, { term: Term; digest: string }>();
  /** Per member: the highest commit index already folded into `committed`. */
  private readonly commitSeen = new Map<MemberId, number>();
  /** "member:term" pairs whose leader completeness was verified at election. */
  private readonly leadersChecked = new Set<string>();
  /** Entries first seen committed during the current step, to check against the current leaders. */
  private fresh: [number, Term][] = [];

  constructor(private readonly describeTime: () => string) {}

  entriesWritten(member: MemberId, entries: readonly Entry[], prevTerm: Term | undefined): void {
    let previous = prevTerm;
    for (const entry of entries) {
      const key = `${entry.index}:${entry.term}`;
      const identity = { digest: digestOf(entry), prevTerm: previous };
      const known = this.identities.get(key);
      if (known === undefined) {
        this.identities.set(key, identity);
        const seenTerm = this.termsAtIndex.get(entry.index);
        if (seenTerm === undefined) this.termsAtIndex.set(entry.index, entry.term);
        else if (seenTerm !== -1 && seenTerm !== entry.term) {
          this.divergentIndexes++;
          this.termsAtIndex.set(entry.index, -1);
        }
      } else if (known.digest !== identity.digest) {
        this.violate(`log matching: member ${member} holds a different entry at ${key}`);
      } else if (
        known.prevTerm !== undefined &&
        identity.prevTerm !== undefined &&
        known.prevTerm !== identity.prevTerm
      ) {
        this.violate(
          `log matching: at ${key} member ${member} follows term ${identity.prevTerm}, another log term ${known.prevTerm}`,
        );
      }
      previous = entry.term;
    }
  }

  entryApplied(member: MemberId, entry: Entry): void {
    const digest = digestOf(entry);
    const known = this.appliedAt.get(entry.index);
    if (known === undefined) this.appliedAt.set(entry.index, { term: entry.term, digest });
    else if (known.term !== entry.term || known.digest !== digest) {
      this.violate(
        `state machine safety: member ${member} applied term ${entry.term} at index ${entry.index}, another member term ${known.term}`,
      );
    }
    this.noteCommitted(entry.index, entry.term, `member ${member} applied it`);
  }

  /** A member restarted: its commit index starts over from what it recovered. */
  memberRestarted(member: MemberId): void {
    this.commitSeen.delete(member);
  }

  /** Run after every simulation step, over the members that are up. */
  checkStep(members: readonly MemberView[]): void {
    const leaders: [MemberView, RaftStatus][] = [];
    for (const member of members) {
      const status = member.status();
      if (status.role === "leader") {
        this.checkLeader(member, status);
        leaders.push([member, status]);
      }
      this.foldCommits(member, status);
    }
    const fresh = this.fresh;
    this.fresh = [];
    for (const [member, status] of leaders) {
      for (const [index, term] of fresh) {
        if ((this.committedBy.get(index) ?? Infinity) < status.term) {
          this.checkHolds(member, status, index, term);
        }
      }
    }
  }

  private checkLeader(member: MemberView, status: RaftStatus): void {
    const owner = this.leaderOfTerm.get(status.term);
    if (owner === undefined) this.leaderOfTerm.set(status.term, member.id);
    else if (owner !== member.id) {
      this.violate(
        `election safety: members ${owner} and ${member.id} both lead term ${status.term}`,
      );
    }
    const key = `${member.id}:${status.term}`;
    if (this.leadersChecked.has(key)) return;
    this.leadersChecked.add(key);
    for (const [index, term] of this.committed) {
      if ((this.committedBy.get(index) ?? Infinity) < status.term) {
        this.checkHolds(member, status, index, term);
      }
    }
  }

  private checkHolds(member: MemberView, status: RaftStatus, index: number, term: Term): void {
    if (index <= status.snapshotIndex) return; // covered by its snapshot
    const held = member.termAt(LogIndex(index));
    if (held !== term) {
      this.violate(
        `leader completeness: leader ${member.id} of term ${status.term} has term ${held ?? "nothing"} at ${index}, where term ${term} was committed`,
      );
    }
  }

  private foldCommits(member: MemberView, status: RaftStatus): void {
    const from = Math.max(this.commitSeen.get(member.id) ?? 0, status.snapshotIndex) + 1;
    for (let index = from; index <= status.commit; index++) {
      const term = member.termAt(LogIndex(index));
      if (term === undefined) continue;
      this.noteCommitted(index, term, `member ${member.id} committed it`);
      this.committedBy.set(index, Math.min(this.committedBy.get(index) ?? Infinity, status.term));
    }
    this.commitSeen.set(member.id, Math.max(this.commitSeen.get(member.id) ?? 0, status.commit));
  }

  private noteCommitted(index: number, term: Term, how: string): void {
    const known = this.committed.get(index);
    if (known === undefined) {
      this.committed.set(index, term);
      this.fresh.push([index, term]);
    } else if (known !== term) {
      this.violate(
        `committed entry changed: index ${index} was term ${known}, now term ${term} (${how})`,
      );
    }
  }

  private violate(message: string): void {
    if (this.violations.length < VIOLATIONS_MAX) {
      this.violations.push(`${this.describeTime()}: ${message}`);
    }
  }
}
