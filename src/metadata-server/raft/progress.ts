/**
 * What a leader knows about one follower's log, and how it paces appends to it (as in etcd raft):
 * - `probe`: the leader does not know where the logs meet; it sends one append at a time and waits
 *   for the answer (or the next heartbeat answer) before sending another, stepping `next` back on
 *   rejections.
 * - `replicate`: the logs meet at `match`; the leader streams appends optimistically, moving `next`
 *   ahead as it sends, with at most `appendsInFlightMax` unanswered appends.
 * - `snapshot`: the follower needs entries the leader compacted; a snapshot is on its way.
 *
 * Invariants: 0 <= match < next; in replicate, the in-flight list holds increasing last indexes, all
 * at or above next − (entries in flight).
 */

import { assert } from "../../core/index.js";
import { LogIndex } from "./types.js";

export type ProgressState = "probe" | "replicate" | "snapshot";

export class Progress {
  state: ProgressState = "probe";
  match: LogIndex = LogIndex(0);
  next: LogIndex;
  /** probe: an append is out and unanswered. */
  probeSent = false;
  /** replicate: the last index carried by each unanswered append, oldest first. */
  inFlight: LogIndex[] = [];
  /** snapshot: the index of the snapshot sent, and ticks since it was sent. */
  snapshotIndex: LogIndex = LogIndex(0);
  snapshotTicks = 0;
  /** Heard from since the last check-quorum round. */
  recentlyActive = false;

  constructor(next: LogIndex) {
    assert(next >= 1, "next index starts at 1 or later");
    this.next = next;
  }

  becomeProbe(): void {
    // After a snapshot, resume right after it; otherwise right after what is known to match.
    const resumeAt =
      this.state === "snapshot" ? Math.max(this.match, this.snapshotIndex) : this.match;
    this.state = "probe";
    this.next = LogIndex(resumeAt + 1);
    this.probeSent = false;
    this.inFlight = [];
  }

  becomeReplicate(): void {
    this.state = "replicate";
    this.next = LogIndex(this.match + 1);
    this.inFlight = [];
  }

  becomeSnapshot(snapshotIndex: LogIndex): void {
    this.state = "snapshot";
    this.snapshotIndex = snapshotIndex;
    this.snapshotTicks = 0;
    this.inFlight = [];
  }

  /** Records an acknowledged index. Returns true when it was news. */
  maybeUpdate(index: LogIndex): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    if (index + 1 > this.next) this.next = LogIndex(index + 1);
    while (this.inFlight.length > 0 && this.inFlight[0]! <= index) this.inFlight.shift();
    assert(this.match < this.next, `match ${this.match} stays below next ${this.next}`);
    return updated;
  }

  /**
   * A rejection of the append that carried `rejectedPrev`. Returns false when it is stale (an answer
   * to an older append); otherwise steps `next` back, using the follower's last index as a hint.
   */
  maybeDecrease(rejectedPrev: LogIndex, hintIndex: LogIndex): boolean {
    if (this.state === "replicate") {
      // In replicate, a rejection at or below match is an old answer.
      if (rejectedPrev <= this.match) return false;
      this.becomeProbe();
      this.next = LogIndex(Math.max(this.match + 1, Math.min(rejectedPrev, hintIndex + 1)));
      return true;
    }
    // In probe, only the answer to the append with prev = next − 1 counts.
    if (this.next - 1 !== rejectedPrev) return false;
    this.next = LogIndex(Math.max(this.match + 1, Math.min(rejectedPrev, hintIndex + 1)));
    this.probeSent = false;
    return true;
  }

  /** Notes an append sent with entries up to `lastIndex` (or none). */
  sentAppend(lastIndex: LogIndex, entryCount: number): void {
    switch (this.state) {
      case "replicate":
        if (entryCount > 0) {
          assert(
            lastIndex >= this.next,
            `replicate streams forward: sent ${lastIndex}, next ${this.next}`,
          );
          this.next = LogIndex(lastIndex + 1);
          this.inFlight.push(lastIndex);
        }
        return;
      case "probe":
        this.probeSent = true;
        return;
      case "snapshot":
        assert(false, "no append is sent while a snapshot is on its way");
    }
  }

  /** True when the leader must wait before sending this follower another append. */
  isPaused(appendsInFlightMax: number): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inFlight.length >= appendsInFlightMax;
      case "snapshot":
        return true;
    }
  }
}
