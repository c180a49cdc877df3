/**
 * A member's Raft log in memory: the latest snapshot, then the entries after it, plus the marks that
 * say how far the log is durable, committed and applied.
 *
 * Invariants:
 * - Entries are contiguous: entry k sits at index snapshot.index + 1 + k, and terms never decrease.
 * - snapshot.index <= applied <= appliedHandedOut <= committed <= lastIndex, except that between
 *   restoring a leader's snapshot and advancing the ready that carries it, applied lags the snapshot.
 * - Committed entries are never truncated (asserted on every truncation).
 * - `handedOut` marks what a ready() already gave to the driver to persist; `persisted` what the driver
 *   confirmed durable through advance(). A truncation pulls both back; `persisted` only moves forward
 *   when the entry it names still has the term that was written (a confirmation for entries that were
 *   replaced in the meantime counts for nothing). `persisted` may lag reality, never lead it.
 * - The membership in force is the latest membership entry in the log, committed or not, else the
 *   snapshot's; truncating a membership entry reverts to the previous one.
 */

import { assert, defined } from "../../core/index.js";
import { decodeMembership } from "./codec.js";
import {
  INDEX_ZERO,
  LogIndex,
  type Entry,
  type Membership,
  type Snapshot,
  type Term,
} from "./types.js";

export interface PendingSnapshot {
  readonly snapshot: Snapshot;
  /** True when it came from the leader and must replace the state machine; false for compaction. */
  readonly restore: boolean;
}

export type AppendOutcome =
  { readonly ok: true; readonly lastNewIndex: LogIndex } | { readonly ok: false };

export class RaftLog {
  private snapshot: Snapshot;
  private entries: Entry[];
  private membershipEntries: { index: LogIndex; membership: Membership }[] = [];
  committed: LogIndex;
  applied: LogIndex;
  appliedHandedOut: LogIndex;
  handedOut: LogIndex;
  persisted: LogIndex;
  pendingSnapshot: PendingSnapshot | undefined;

  /** Rebuilds the log from what storage recovered: a snapshot, entries after it and the commit. */
  constructor(snapshot: Snapshot, entries: readonly Entry[], committed: LogIndex) {
    this.snapshot = snapshot;
    this.entries = [];
    for (const entry of entries) this.appendOne(entry);
    const last = this.lastIndex();
    assert(committed <= last, `recovered commit ${committed} is beyond the last index ${last}`);
    this.committed = LogIndex(Math.max(committed, snapshot.index));
    this.applied = snapshot.index;
    this.appliedHandedOut = snapshot.index;
    this.handedOut = last;
    this.persisted = last;
    this.pendingSnapshot = undefined;
  }

  firstIndex(): LogIndex {
    return LogIndex(this.snapshot.index + 1);
  }

  lastIndex(): LogIndex {
    return LogIndex(this.snapshot.index + this.entries.length);
  }

  lastTerm(): Term {
    return defined(this.term(this.lastIndex()), "term of the last index");
  }

  snapshotIndex(): LogIndex {
    return this.snapshot.index;
  }

  currentSnapshot(): Snapshot {
    return this.snapshot;
  }

  /** The term of the entry at `index`; undefined when it was compacted away or is not written yet. */
  term(index: LogIndex): Term | undefined {
    if (index === this.snapshot.index) return this.snapshot.term;
    if (index < this.snapshot.index || index > this.lastIndex()) return undefined;
    return defined(this.entries[index - this.snapshot.index - 1], `entry ${index}`).term;
  }

  matchTerm(index: LogIndex, term: Term): boolean {
    return this.term(index) === term;
  }

  /** The election restriction: is a log ending at (lastIndex, lastTerm) at least as up to date as ours? */
  isUpToDate(lastIndex: LogIndex, lastTerm: Term): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  entry(index: LogIndex): Entry {
    const entry = this.entries[index - this.snapshot.index - 1];
    assert(
      entry !== undefined,
      `entry ${index} is outside [${this.firstIndex()}, ${this.lastIndex()}]`,
    );
    assert(entry.index === index, `entry at slot of ${index} claims index ${entry.index}`);
    return entry;
  }

  /** Entries from `from` to `to` inclusive, at most `countMax`, and stopping past `bytesMax`. */
  slice(from: LogIndex, to: LogIndex, countMax: number, bytesMax: number): Entry[] {
    assert(from >= this.firstIndex(), `slice from ${from} reaches below the snapshot`);
    assert(to <= this.lastIndex(), `slice to ${to} reaches past the last index`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let index = from; index <= to && out.length < countMax; index++) {
      const entry = this.entry(LogIndex(index));
      bytes += entry.data.length;
      if (out.length > 0 && bytes > bytesMax) break;
      out.push(entry);
    }
    return out;
  }

  membership(): Membership {
    return this.membershipEntries.at(-1)?.membership ?? this.snapshot.membership;
  }

  /** The membership in force at `index` (the latest membership entry at or before it). */
  membershipAt(index: LogIndex): Membership {
    for (let k = this.membershipEntries.length - 1; k >= 0; k--) {
      const found = this.membershipEntries[k]!;
      if (found.index <= index) return found.membership;
    }
    return this.snapshot.membership;
  }

  /** Index of the latest membership entry in the log, or the snapshot index. */
  lastMembershipIndex(): LogIndex {
    return this.membershipEntries.at(-1)?.index ?? this.snapshot.index;
  }

  /** The leader's append: entries must continue the log exactly. */
  append(entries: readonly Entry[]): void {
    for (const entry of entries) this.appendOne(entry);
  }

  /**
   * A follower's append (Raft's AppendEntries receiver rules 2 to 5). Refuses when the log does not
   * hold (prevIndex, prevTerm); otherwise drops the first conflicting entry and everything after it,
   * appends what is new and commits up to min(leaderCommit, last new index).
   */
  maybeAppend(
    prevIndex: LogIndex,
    prevTerm: Term,
    leaderCommit: LogIndex,
    entries: readonly Entry[],
  ): AppendOutcome {
    if (!this.matchTerm(prevIndex, prevTerm)) return { ok: false };
    const lastNewIndex = LogIndex(prevIndex + entries.length);
    let k = 0;
    for (; k < entries.length; k++) {
      const entry = entries[k]!;
      assert(entry.index === prevIndex + 1 + k, "append entries are contiguous");
      if (!this.matchTerm(entry.index, entry.term)) break;
    }
    if (k < entries.length) this.truncateAndAppend(entries.slice(k));
    this.commitTo(LogIndex(Math.min(leaderCommit, lastNewIndex)));
    return { ok: true, lastNewIndex };
  }

  commitTo(index: LogIndex): boolean {
    if (index <= this.committed) return false;
    assert(
      index <= this.lastIndex(),
      `commit ${index} is beyond the last index ${this.lastIndex()}`,
    );
    this.committed = index;
    return true;
  }

  /** Installs a snapshot from the leader, discarding the whole log. */
  restore(snapshot: Snapshot): void {
    assert(snapshot.index > this.committed, "a restored snapshot lies beyond the commit index");
    this.snapshot = snapshot;
    this.entries = [];
    this.membershipEntries = [];
    this.committed = snapshot.index;
    this.appliedHandedOut = snapshot.index;
    this.handedOut = snapshot.index;
    // Nothing of the new log is durable until the ready that carries the snapshot is advanced.
    this.persisted = INDEX_ZERO;
    this.pendingSnapshot = { snapshot, restore: true };
  }

  /** Replaces the prefix up to `index` (already applied) with a snapshot holding `data`. */
  compact(index: LogIndex, data: Uint8Array): void {
    assert(index > this.snapshot.index, `compaction at ${index} is not past the snapshot`);
    assert(
      index <= this.applied,
      `compaction at ${index} is past the applied index ${this.applied}`,
    );
    assert(index <= this.handedOut, "compacted entries were handed out to persist");
    const term = defined(this.term(index), `term at compaction index ${index}`);
    const membership = this.membershipAt(index);
    this.entries = this.entries.slice(index - this.snapshot.index);
    this.membershipEntries = this.membershipEntries.filter((m) => m.index > index);
    this.snapshot = { index, term, membership, data };
    this.pendingSnapshot = { snapshot: this.snapshot, restore: false };
  }

  /** Entries that no ready has handed out yet. */
  unhandedEntries(): Entry[] {
    if (this.handedOut >= this.lastIndex()) return [];
    return this.entries.slice(this.handedOut - this.snapshot.index);
  }

  /** Committed entries that no ready has handed out for applying yet. */
  unhandedCommitted(countMax: number): Entry[] {
    const from = this.appliedHandedOut + 1;
    const to = Math.min(this.committed, this.appliedHandedOut + countMax);
    const out: Entry[] = [];
    for (let index = from; index <= to; index++) out.push(this.entry(LogIndex(index)));
    return out;
  }

  /** advance(): the entries up to (index, term) are durable, if that entry was not replaced since. */
  persistedTo(index: LogIndex, term: Term): void {
    if (this.matchTerm(index, term) && index > this.persisted) this.persisted = index;
  }

  /** advance(): a snapshot is durable; its prefix counts as persisted if it is still our snapshot. */
  snapshotPersisted(snapshot: Snapshot): void {
    if (this.snapshot.index === snapshot.index && this.snapshot.term === snapshot.term) {
      this.persisted = LogIndex(Math.max(this.persisted, snapshot.index));
    }
  }

  appliedTo(index: LogIndex): void {
    assert(
      index <= this.committed,
      `applied ${index} is beyond the commit index ${this.committed}`,
    );
    if (index > this.applied) this.applied = index;
  }

  private appendOne(entry: Entry): void {
    const expected = this.lastIndex() + 1;
    assert(
      entry.index === expected,
      `entry ${entry.index} does not continue the log at ${expected}`,
    );
    assert(entry.term >= this.lastTerm(), `entry ${entry.index} term ${entry.term} goes backwards`);
    this.entries.push(entry);
    if (entry.kind === "membership") {
      this.membershipEntries.push({ index: entry.index, membership: decodeMembership(entry.data) });
    }
  }

  private truncateAndAppend(entries: readonly Entry[]): void {
    const first = defined(entries[0], "first entry to append").index;
    assert(first > this.committed, `truncation at ${first} would drop committed entries`);
    assert(first > this.snapshot.index, "truncation stays above the snapshot");
    if (first <= this.lastIndex()) {
      this.entries = this.entries.slice(0, first - this.snapshot.index - 1);
      this.membershipEntries = this.membershipEntries.filter((m) => m.index < first);
      this.handedOut = LogIndex(Math.min(this.handedOut, first - 1));
      this.persisted = LogIndex(Math.min(this.persisted, first - 1));
    }
    for (const entry of entries) this.appendOne(entry);
  }
}
