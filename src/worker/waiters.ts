/**
 * Who waits on a partition, and for what: proposers for the outcome of the record they appended
 * (by request id), callers for an invocation's completion, and drivers for an LSN to be applied.
 * The processor's apply loop resolves them as records apply; a leader that steps down fails them.
 *
 * Invariants: a request is answered at most once, by its record's outcome, or failed as "not
 * leader" once its record applied without one (a deposed leader's record is fenced off) or when
 * leadership is lost; a completion registered in the step that applied its submission cannot be
 * missed.
 */

import { KeelError, type InvocationId, type PartitionId } from "../core/index.js";
import type { Outcome } from "../partition/index.js";
import type { AttachResult } from "./partition_processor.js";

interface PendingRequest {
  /** The LSN of the record carrying the request, once appended. */
  lsn: number | undefined;
  readonly awaitResult: boolean;
  completion?: Promise<AttachResult>;
  resolve(outcome: Outcome): void;
  reject(error: unknown): void;
}

export class Waiters {
  private nextRequestId = 1;
  private readonly requests = new Map<number, PendingRequest>();
  private readonly completions = new Map<string, ((result: AttachResult) => void)[]>();
  private readonly applied: { lsn: number; resolve: () => void }[] = [];

  constructor(
    private readonly partitionId: PartitionId,
    /** How a request that awaits its result waits for the invocation it submitted. */
    private readonly awaitCompletion: (id: InvocationId) => Promise<AttachResult>,
  ) {}

  /**
   * Numbers a request, lets `propose` append the record carrying the number, and resolves with the
   * outcome the record's application answers (and, with `awaitResult`, the invocation's completion).
   */
  request(
    awaitResult: boolean,
    propose: (requestId: number) => Promise<number>,
    appliedLsn: () => number,
  ): Promise<{ outcome: Outcome; completion?: Promise<AttachResult> }> {
    const requestId = this.nextRequestId++;
    return new Promise((resolve, reject) => {
      const entry: PendingRequest = {
        lsn: undefined,
        awaitResult,
        resolve: (outcome) =>
          resolve(
            entry.completion === undefined
              ? { outcome }
              : { outcome, completion: entry.completion },
          ),
        reject,
      };
      this.requests.set(requestId, entry);
      propose(requestId).then(
        (lsn) => {
          entry.lsn = lsn;
          this.expireUnanswered(appliedLsn());
        },
        (error: unknown) => {
          this.requests.delete(requestId);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }

  /** The outcome of request `requestId`, from applying its record. */
  answer(requestId: number, outcome: Outcome): void {
    const entry = this.requests.get(requestId);
    if (entry === undefined) return;
    this.requests.delete(requestId);
    if (
      entry.awaitResult &&
      (outcome.kind === "accepted" || outcome.kind === "previouslyAccepted")
    ) {
      // Registered now, in the same step that applied the submission: the completion cannot be missed.
      const id = outcome.invocationId;
      entry.completion = this.awaitCompletion(id).then((result) =>
        result.kind === "notFound"
          ? Promise.reject(new KeelError("not_found", `invocation ${id.toString()} vanished`))
          : result,
      );
      entry.completion.catch(() => undefined);
    }
    entry.resolve(outcome);
  }

  /** Requests whose record was applied without an outcome were fenced off: tell the proposer. */
  expireUnanswered(appliedLsn: number): void {
    for (const [requestId, entry] of this.requests) {
      if (entry.lsn !== undefined && entry.lsn <= appliedLsn) {
        this.requests.delete(requestId);
        entry.reject(
          new KeelError(
            "not_leader",
            `partition ${this.partitionId}: the request was not applied (leadership changed)`,
            true,
          ),
        );
      }
    }
  }

  /** Waits for invocation `id` to complete. */
  completion(id: InvocationId): Promise<AttachResult> {
    return new Promise((resolve) => {
      const list = this.completions.get(id.hex);
      if (list === undefined) this.completions.set(id.hex, [resolve]);
      else list.push(resolve);
    });
  }

  /** Invocation `id` completed with `result`. */
  completed(id: InvocationId, result: AttachResult): void {
    const list = this.completions.get(id.hex);
    if (list === undefined) return;
    this.completions.delete(id.hex);
    for (const resolve of list) resolve(result);
  }

  /** Resolves once `lsn` is applied (`appliedLsn` is the current one). */
  forApplied(lsn: number, appliedLsn: number): Promise<void> {
    if (appliedLsn >= lsn) return Promise.resolve();
    return new Promise((resolve) => this.applied.push({ lsn, resolve }));
  }

  /** Wakes those waiting for an LSN at or below `appliedLsn`. */
  wakeApplied(appliedLsn: number): void {
    for (let i = this.applied.length - 1; i >= 0; i--) {
      const waiter = this.applied[i]!;
      if (waiter.lsn <= appliedLsn) {
        this.applied.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  /** Leadership was lost: requests fail as "not leader", completion waiters learn "not ready". */
  leadershipLost(): void {
    const lost = new KeelError("not_leader", `partition ${this.partitionId} lost its leader`, true);
    for (const entry of this.requests.values()) entry.reject(lost);
    this.requests.clear();
    for (const list of this.completions.values())
      for (const resolve of list) resolve({ kind: "notReady" });
    this.completions.clear();
  }
}
