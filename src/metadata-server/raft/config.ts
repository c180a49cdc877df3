/**
 * The settings of one Raft member: its id and the named limits that bound its timers, messages and
 * queues. Time is counted in ticks (the driver decides how long a tick is). `validateRaftConfig`
 * asserts the relationships between the limits once, when a member is created.
 */

import { assert } from "../../core/index.js";
import type { MemberId } from "./types.js";

export interface RaftLimits {
  /**
   * A follower that hears nothing from a leader for a random number of ticks in
   * [electionTimeoutTicks, 2 × electionTimeoutTicks) starts a pre-vote. A leader that has not heard
   * from a quorum for electionTimeoutTicks steps down (check-quorum), and a member that heard from a
   * leader less than electionTimeoutTicks ago refuses to vote for anyone else (the leader lease).
   */
  readonly electionTimeoutTicks: number;
  /** A leader sends heartbeats every heartbeatIntervalTicks. */
  readonly heartbeatIntervalTicks: number;
  /** Entries in one append message at most. */
  readonly appendEntriesPerMessageMax: number;
  /** Entry payload bytes in one append message at most (one entry always goes, whatever its size). */
  readonly appendBytesPerMessageMax: number;
  /** Append messages a leader has in flight to one follower at most, in the replicate state. */
  readonly appendsInFlightMax: number;
  /** Entries a leader accepts beyond its commit index; more proposals are refused as overload. */
  readonly uncommittedEntriesMax: number;
  /** Committed entries handed out in one ready at most. */
  readonly applyEntriesPerReadyMax: number;
  /** Read-index requests waiting for leadership confirmation at most. */
  readonly readsPendingMax: number;
}

export interface RaftConfig {
  readonly id: MemberId;
  readonly limits: RaftLimits;
  /**
   * Test-only faults, used to show that the simulator and its checkers catch broken variants. Never
   * set outside tests.
   */
  readonly testOnlyFaults?: TestOnlyFaults;
}

export interface TestOnlyFaults {
  /**
   * Figure 8 of the Raft paper: the leader commits an entry of an earlier term as soon as a majority
   * stores it, instead of waiting for an entry of its own term. Unsafe: a later leader may overwrite it.
   */
  readonly commitEarlierTermsByCounting?: boolean;
  /**
   * A new leader does not append its noop, as in the Raft paper's basic algorithm: entries of
   * earlier terms then reach a majority before any entry of the new term exists, which is the
   * situation of Figure 8. Harmless on its own; combined with the fault above it is the textbook bug.
   */
  readonly skipElectionNoop?: boolean;
}

/** The defaults follow Restate's metadata server: election after 10 ticks, heartbeat every 2. */
export const DEFAULT_RAFT_LIMITS: RaftLimits = {
  electionTimeoutTicks: 10,
  heartbeatIntervalTicks: 2,
  appendEntriesPerMessageMax: 256,
  appendBytesPerMessageMax: 1024 * 1024,
  appendsInFlightMax: 64,
  uncommittedEntriesMax: 4096,
  applyEntriesPerReadyMax: 1024,
  readsPendingMax: 4096,
};

export function validateRaftConfig(config: RaftConfig): void {
  const l = config.limits;
  assert(
    Number.isSafeInteger(config.id) && config.id > 0,
    `member id must be positive: ${config.id}`,
  );
  assert(l.heartbeatIntervalTicks >= 1, "heartbeatIntervalTicks must be at least 1");
  assert(
    l.electionTimeoutTicks > l.heartbeatIntervalTicks,
    `electionTimeoutTicks (${l.electionTimeoutTicks}) must exceed heartbeatIntervalTicks (${l.heartbeatIntervalTicks}) so that a healthy leader is never suspected`,
  );
  assert(l.appendEntriesPerMessageMax >= 1, "appendEntriesPerMessageMax must be at least 1");
  assert(l.appendBytesPerMessageMax >= 1, "appendBytesPerMessageMax must be at least 1");
  assert(l.appendsInFlightMax >= 1, "appendsInFlightMax must be at least 1");
  assert(l.uncommittedEntriesMax >= 1, "uncommittedEntriesMax must be at least 1");
  assert(l.applyEntriesPerReadyMax >= 1, "applyEntriesPerReadyMax must be at least 1");
  assert(l.readsPendingMax >= 1, "readsPendingMax must be at least 1");
}
