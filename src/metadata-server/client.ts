/**
 * The metadata-store client that runs in every node, as a pure machine: operations go in
 * (`submit`), requests come out (`takeOutgoing`), responses go in (`receive`), outcomes come out
 * (`takeCompletions`), and `tick()` is time. A driver (src/metadata-server/replicated_store.ts, or
 * the simulator) moves the bytes and turns completions into promises.
 *
 * What it does for the caller: finds the leader (following "not leader" hints, else trying members
 * in turn), retries with exponential backoff and jitter, opens a session and numbers writes so that
 * retries are exactly-once, caches the values it sees, and polls watched keys for newer versions.
 *
 * Outcomes are honest: a read that fails had no effect ("failed"); a write that never reached a
 * member failed; a write that may have reached one and got no definite answer is "unknown" (it may
 * still be applied, once). Invariants: at most `writesInFlightMax` numbered writes are unanswered,
 * and `ackedBelow` never passes an unanswered write's number.
 */

import { assert, assertNever, bytesEqual, type Prng } from "../core/index.js";
import type { WriteOp, WriteResult } from "./commands.js";
import type { MemberId } from "./raft/types.js";
import type { VersionedValue } from "../metadata/index.js";
import type { ClientRequest, Envelope, MemberStatus, ServerResponse } from "./wire.js";
import type { Outgoing } from "./member.js";

export interface ClientLimits {
  /** Without an answer after this many ticks, a request is sent again to another member. */
  readonly requestTimeoutTicks: number;
  /** An operation without a definite outcome after this many ticks completes as failed/unknown. */
  readonly operationTimeoutTicks: number;
  readonly backoffInitialTicks: number;
  readonly backoffMaxTicks: number;
  /** Numbered writes without an answer at most (must stay below the state machine's results cap). */
  readonly writesInFlightMax: number;
  /** Watched keys are read again every this many ticks. */
  readonly watchPollIntervalTicks: number;
}

/** With the default client tick of 10 ms: 200 ms per request, 10 s per operation. */
export const DEFAULT_CLIENT_LIMITS: ClientLimits = {
  requestTimeoutTicks: 20,
  operationTimeoutTicks: 1000,
  backoffInitialTicks: 1,
  backoffMaxTicks: 20,
  writesInFlightMax: 64,
  watchPollIntervalTicks: 100,
};

export type ClientOp =
  | { readonly kind: "get"; readonly key: string }
  | { readonly kind: "write"; readonly op: WriteOp }
  | { readonly kind: "join"; readonly member: MemberId; readonly address: string }
  | { readonly kind: "status"; readonly address: string };

export type Outcome =
  | { readonly kind: "value"; readonly value: VersionedValue | undefined }
  | { readonly kind: "written"; readonly result: Exclude<WriteResult, { kind: "sessionExpired" }> }
  | { readonly kind: "joined" }
  | { readonly kind: "status"; readonly status: MemberStatus }
  /** Definitely had no effect. */
  | { readonly kind: "failed"; readonly reason: string }
  /** A write that may or may not have been applied (at most once). */
  | { readonly kind: "unknown"; readonly reason: string };

export interface Completion {
  readonly opId: number;
  readonly outcome: Outcome;
}

export interface Change {
  readonly key: string;
  readonly value: VersionedValue | undefined;
}

interface Operation {
  readonly opId: number;
  readonly op: ClientOp | { readonly kind: "openSession" };
  readonly internal: boolean;
  readonly deadline: number;
  /** Writes: their number in the session, once assigned. */
  seq: number | undefined;
  sessionId: number | undefined;
  attempts: number;
  /** Ticks at which the current attempt times out, or the next attempt may go. */
  resendAt: number;
  awaiting: boolean;
  target: string;
}

type SessionState =
  | { readonly kind: "none" }
  | { readonly kind: "opening" }
  | { readonly kind: "open"; readonly id: number; nextSeq: number };

export class MetadataClientCore {
  private now = 0;
  private nextOpId = 1;
  private nextRequestId = 1;
  private readonly operations = new Map<number, Operation>();
  /** Every attempt's request id, to the operation it belongs to (late answers still count). */
  private readonly attempts = new Map<number, number>();
  private session: SessionState = { kind: "none" };
  private readonly members: string[];
  private leaderGuess: string | undefined;
  private memberCursor = 0;
  private outgoing: Outgoing[] = [];
  private completions: Completion[] = [];
  private changes: Change[] = [];
  private readonly cache = new Map<string, VersionedValue | undefined>();
  private readonly watched = new Map<string, { nextPollAt: number; polling: boolean }>();

  constructor(
    private readonly address: string,
    seeds: readonly string[],
    private readonly limits: ClientLimits,
    private readonly prng: Prng,
  ) {
    assert(seeds.length > 0, "a metadata client needs at least one member address");
    assert(limits.requestTimeoutTicks >= 1, "requestTimeoutTicks must be at least 1");
    assert(
      limits.operationTimeoutTicks > limits.requestTimeoutTicks,
      "an operation outlives one request",
    );
    assert(limits.backoffMaxTicks >= limits.backoffInitialTicks, "backoff bounds");
    assert(limits.writesInFlightMax >= 1, "writesInFlightMax must be at least 1");
    this.members = [...new Set(seeds)];
  }

  submit(op: ClientOp): number {
    return this.start(op, false);
  }

  tick(): void {
    this.now++;
    for (const operation of [...this.operations.values()]) {
      if (this.now >= operation.deadline) {
        this.expire(operation);
        continue;
      }
      if (this.now < operation.resendAt) continue;
      if (operation.awaiting) this.rotateTarget(operation);
      this.dispatch(operation);
    }
    this.pollWatched();
  }

  receive(envelope: Envelope): void {
    const message = envelope.message;
    if (message.kind !== "response") return;
    const opId = this.attempts.get(message.requestId);
    if (opId === undefined) return;
    const operation = this.operations.get(opId);
    if (operation === undefined) {
      this.attempts.delete(message.requestId);
      return;
    }
    this.handleResponse(operation, envelope.from, message.response);
  }

  /** Reads a key again every poll interval and reports its changes through takeChanges(). */
  watch(key: string): void {
    if (!this.watched.has(key)) this.watched.set(key, { nextPollAt: this.now, polling: false });
  }

  unwatch(key: string): void {
    this.watched.delete(key);
  }

  /** Another node mentioned `version` of `key`: if ours is older, read it again now. */
  noteVersion(key: string, version: number): void {
    const cached = this.cache.get(key);
    if (cached !== undefined && cached.version >= version) return;
    const watch = this.watched.get(key);
    if (watch !== undefined) watch.nextPollAt = this.now;
    else this.start({ kind: "get", key }, true);
  }

  /** The last value this client saw for `key` (not linearizable; may be stale). */
  cached(key: string): VersionedValue | undefined {
    return this.cache.get(key);
  }

  takeOutgoing(): Outgoing[] {
    const out = this.outgoing;
    this.outgoing = [];
    return out;
  }

  takeCompletions(): Completion[] {
    const out = this.completions;
    this.completions = [];
    return out;
  }

  takeChanges(): Change[] {
    const out = this.changes;
    this.changes = [];
    return out;
  }

  pendingCount(): number {
    let count = 0;
    for (const operation of this.operations.values()) if (!operation.internal) count++;
    return count;
  }

  // ---- operations ----

  private start(op: Operation["op"], internal: boolean): number {
    const operation: Operation = {
      opId: this.nextOpId++,
      op,
      internal,
      deadline: this.now + this.limits.operationTimeoutTicks,
      seq: undefined,
      sessionId: undefined,
      attempts: 0,
      resendAt: this.now,
      awaiting: false,
      target: this.leaderGuess ?? this.nextMember(),
    };
    this.operations.set(operation.opId, operation);
    this.dispatch(operation);
    return operation.opId;
  }

  /** Sends the operation's next attempt, if it can go now. */
  private dispatch(operation: Operation): void {
    const request = this.requestOf(operation);
    if (request === undefined) {
      // A write waiting for a session or for room in the window: look again next tick.
      operation.awaiting = false;
      operation.resendAt = this.now + 1;
      return;
    }
    const requestId = this.nextRequestId++;
    this.attempts.set(requestId, operation.opId);
    operation.attempts++;
    operation.awaiting = true;
    operation.resendAt = this.now + this.limits.requestTimeoutTicks;
    const target = operation.op.kind === "status" ? operation.op.address : operation.target;
    this.outgoing.push({ to: target, message: { kind: "request", requestId, request } });
  }

  private requestOf(operation: Operation): ClientRequest | undefined {
    const op = operation.op;
    switch (op.kind) {
      case "get":
        return { kind: "get", key: op.key };
      case "openSession":
        return { kind: "propose", command: { kind: "openSession" } };
      case "join":
        return { kind: "join", member: op.member, address: op.address };
      case "status":
        return { kind: "status" };
      case "write":
        return this.writeRequest(operation, op.op);
      default:
        assertNever(op, "client operation");
    }
  }

  private writeRequest(operation: Operation, op: WriteOp): ClientRequest | undefined {
    if (operation.seq === undefined) {
      const session = this.session;
      if (session.kind === "none") {
        this.session = { kind: "opening" };
        this.start({ kind: "openSession" }, true);
        return undefined;
      }
      if (session.kind === "opening") return undefined;
      if (session.nextSeq - this.ackedBelow(session.id) >= this.limits.writesInFlightMax) {
        return undefined;
      }
      operation.seq = session.nextSeq++;
      operation.sessionId = session.id;
    }
    assert(operation.sessionId !== undefined, "a numbered write belongs to a session");
    return {
      kind: "propose",
      command: {
        kind: "write",
        sessionId: operation.sessionId,
        seq: operation.seq,
        ackedBelow: this.ackedBelow(operation.sessionId),
        op,
      },
    };
  }

  /** The lowest number among the session's unanswered writes (or the next number). */
  private ackedBelow(sessionId: number): number {
    let lowest = this.session.kind === "open" ? this.session.nextSeq : Number.MAX_SAFE_INTEGER;
    for (const operation of this.operations.values()) {
      if (operation.sessionId === sessionId && operation.seq !== undefined) {
        lowest = Math.min(lowest, operation.seq);
      }
    }
    return lowest;
  }

  private handleResponse(operation: Operation, from: string, response: ServerResponse): void {
    switch (response.kind) {
      case "notLeader":
        this.followLeaderHint(operation, from, response.leaderAddress);
        return;
      case "retry":
      case "joinPending":
        this.backOff(operation, from);
        return;
      case "value":
        this.learnLeader(from);
        this.remember(operation.op.kind === "get" ? operation.op.key : undefined, response.value);
        this.complete(operation, { kind: "value", value: response.value });
        return;
      case "sessionOpened":
        this.learnLeader(from);
        this.session = { kind: "open", id: response.sessionId, nextSeq: 1 };
        this.finish(operation);
        return;
      case "writeResult":
        this.learnLeader(from);
        this.handleWriteResult(operation, response.result);
        return;
      case "joined":
        this.complete(operation, { kind: "joined" });
        return;
      case "status":
        this.complete(operation, { kind: "status", status: response.status });
        return;
      default:
        assertNever(response, "server response");
    }
  }

  private handleWriteResult(operation: Operation, result: WriteResult): void {
    if (operation.op.kind !== "write") return;
    const op = operation.op.op;
    switch (result.kind) {
      case "sessionExpired": {
        if (this.session.kind === "open" && this.session.id === operation.sessionId) {
          this.session = { kind: "none" };
        }
        if (operation.attempts > 1) {
          this.complete(operation, { kind: "unknown", reason: "session expired during retries" });
          return;
        }
        // The only attempt was refused: nothing was applied, so it may start over in a new session.
        operation.seq = undefined;
        operation.sessionId = undefined;
        operation.attempts = 0;
        this.dispatch(operation);
        return;
      }
      case "put":
        if (op.kind === "put") this.remember(op.key, { value: op.value, version: result.version });
        this.complete(operation, { kind: "written", result });
        return;
      case "deleted":
        this.remember(op.key, undefined);
        this.complete(operation, { kind: "written", result });
        return;
      case "preconditionFailed":
        this.complete(operation, { kind: "written", result });
        return;
      default:
        assertNever(result, "write result");
    }
  }

  private expire(operation: Operation): void {
    const mayHaveApplied = operation.op.kind === "write" && operation.seq !== undefined;
    if (mayHaveApplied && operation.attempts > 0) {
      this.complete(operation, { kind: "unknown", reason: "no definite answer in time" });
    } else {
      if (operation.op.kind === "openSession") this.session = { kind: "none" };
      this.complete(operation, { kind: "failed", reason: "no answer in time" });
    }
  }

  private complete(operation: Operation, outcome: Outcome): void {
    this.finish(operation);
    if (!operation.internal) this.completions.push({ opId: operation.opId, outcome });
    if (operation.op.kind === "get") {
      const watch = this.watched.get(operation.op.key);
      if (watch !== undefined && operation.internal) watch.polling = false;
    }
  }

  private finish(operation: Operation): void {
    this.operations.delete(operation.opId);
    for (const [requestId, opId] of this.attempts) {
      if (opId === operation.opId) this.attempts.delete(requestId);
    }
  }

  // ---- finding the leader ----

  private followLeaderHint(operation: Operation, from: string, leaderAddress: string): void {
    if (this.leaderGuess === from) this.leaderGuess = undefined;
    if (leaderAddress !== "" && leaderAddress !== from) {
      this.learnMember(leaderAddress);
      this.leaderGuess = leaderAddress;
      operation.target = leaderAddress;
      // Follow a hint at once, but not in a loop between members that disagree.
      if (operation.attempts % 4 !== 0) {
        this.dispatch(operation);
        return;
      }
    } else {
      operation.target = this.nextMember();
    }
    this.backOff(operation, undefined);
  }

  private backOff(operation: Operation, sameTarget: string | undefined): void {
    if (sameTarget !== undefined) operation.target = sameTarget;
    const exponent = Math.min(operation.attempts, 16);
    const ceiling = Math.min(
      this.limits.backoffMaxTicks,
      this.limits.backoffInitialTicks * 2 ** exponent,
    );
    const delay = Math.max(1, Math.round(ceiling * (0.5 + this.prng.nextFloat() / 2)));
    operation.awaiting = false;
    operation.resendAt = this.now + delay;
  }

  private rotateTarget(operation: Operation): void {
    if (this.leaderGuess === operation.target) this.leaderGuess = undefined;
    operation.target = this.nextMember();
  }

  private learnLeader(address: string): void {
    this.learnMember(address);
    this.leaderGuess = address;
  }

  /** A member's address learnt elsewhere (the nodes configuration): asked in turn like the seeds. */
  learnMember(address: string): void {
    if (!this.members.includes(address)) this.members.push(address);
  }

  private nextMember(): string {
    const member = this.members[this.memberCursor % this.members.length];
    this.memberCursor++;
    assert(member !== undefined, "the member list is never empty");
    return member;
  }

  // ---- cache and watches ----

  private remember(key: string | undefined, value: VersionedValue | undefined): void {
    if (key === undefined) return;
    const had = this.cache.has(key);
    const previous = this.cache.get(key);
    // Versions restart after a delete, so "changed" compares presence, version and bytes.
    const changed =
      !had ||
      previous?.version !== value?.version ||
      (previous !== undefined && value !== undefined && !bytesEqual(previous.value, value.value));
    this.cache.set(key, value);
    if (changed && this.watched.has(key)) this.changes.push({ key, value });
  }

  private pollWatched(): void {
    for (const [key, watch] of this.watched) {
      if (watch.polling || this.now < watch.nextPollAt) continue;
      watch.polling = true;
      watch.nextPollAt = this.now + this.limits.watchPollIntervalTicks;
      this.start({ kind: "get", key }, true);
    }
  }
}
