/**
 * What applying a record asks the leader to do. Followers apply the same records and drop these.
 * Every action is idempotent from the leader's point of view: a new leader re-derives what is pending
 * (invoked invocations, timers, outbox) from the store, so losing actions on failover loses nothing.
 */

import { type PartitionId, type InvocationId } from "../core/index.js";
import type { OutboxMessage, Result, Target } from "../gen/keel/records.js";

/** The answer to a proposal that carried a request id (ingress submissions, admin operations). */
export type Outcome =
  | {
      readonly kind: "accepted";
      readonly invocationId: InvocationId;
      readonly executionTimeMs?: number;
    }
  | { readonly kind: "previouslyAccepted"; readonly invocationId: InvocationId }
  | { readonly kind: "workflowAlreadyInvoked"; readonly invocationId: InvocationId }
  | { readonly kind: "notFound" }
  | { readonly kind: "alreadyCompleted" }
  /** A cancel signal was appended to a running invocation (202). */
  | { readonly kind: "signalAppended" }
  /** The operation completed at once (200), or was accepted (pause: 202). */
  | { readonly kind: "done" }
  /** Pause of an invocation that is already paused. */
  | { readonly kind: "alreadyPaused" }
  /** Pause of an invocation that is not running (inboxed, scheduled or completed). */
  | { readonly kind: "notRunning" }
  /** Resume or restart of an invocation that has not started (inboxed or scheduled). */
  | { readonly kind: "notStarted" }
  /** Restart of an invocation that has not completed yet. */
  | { readonly kind: "stillRunning" }
  | { readonly kind: "restarted"; readonly newInvocationId: InvocationId }
  | { readonly kind: "rejected"; readonly code: number; readonly message: string };

export type Action =
  /**
   * Start an attempt (first run, resumption after suspension, or after a leader change). `awaited`:
   * a caller waits for the result (an ingress call, a call from another invocation); a one-way send
   * is not awaited.
   */
  | { readonly kind: "invoke"; readonly invocationId: InvocationId; readonly awaited: boolean }
  /** A notification was appended to the journal of an invoked invocation: push it to its attempt. */
  | {
      readonly kind: "notify";
      readonly invocationId: InvocationId;
      readonly entryIndex: number;
      readonly messageType: number;
      readonly raw: Uint8Array;
    }
  /** Stop the running attempt of an invocation at once (killed, paused). */
  | { readonly kind: "abort"; readonly invocationId: InvocationId }
  /** An operator resumed an invocation that is backing off: start its next attempt now. */
  | { readonly kind: "retryNow"; readonly invocationId: InvocationId }
  | { readonly kind: "registerTimer"; readonly key: string; readonly wakeAtMs: number }
  | {
      readonly kind: "outbox";
      readonly seq: number;
      readonly destination: PartitionId;
      readonly message: OutboxMessage;
    }
  /** The invocation completed: answer everyone waiting in memory. */
  | {
      readonly kind: "completed";
      readonly invocationId: InvocationId;
      readonly result: Result;
      readonly target: Target;
    }
  | { readonly kind: "outcome"; readonly requestId: number; readonly outcome: Outcome }
  | { readonly kind: "leadership"; readonly epoch: number; readonly node: string };
