/**
 * The lifecycle of an invocation inside its partition: creation, scheduling, the exclusive lock and
 * inbox of object and workflow keys, notifications, suspension and resumption, completion, retention,
 * termination (cancel, kill) and purge.
 *
 * Phases: inboxed → invoked ⇄ suspended / paused → completed, or scheduled → (inboxed | invoked).
 * Invariants:
 * - an exclusive handler of a key runs only while it holds the key's lock, and the lock is held by at
 *   most one invocation; waiting ones sit in the key's inbox in arrival order;
 * - the `a/` index holds exactly the invocations in the invoked phase;
 * - a completed invocation never gains journal entries;
 * - a notification id appears at most once in a journal.
 *
 * Why one file of this length: the phases and their invariants are kept where they can be read
 * together; the journal commands are in commands.ts and the operator commands in operator_commands.ts.
 */

import {
  assert,
  type PartitionKey,
  InvocationId,
  type InvocationTargetRef,
  partitionKeyOf,
} from "../core/index.js";
import {
  HandlerType,
  InvocationPhase,
  ServiceType,
  TerminationKind,
  type InboxEntry,
  type InvocationSink,
  type InvocationStatus,
  type OutboxMessage,
  type Result,
  type ServiceInvocation,
  type Target,
  type WaitSet,
} from "../gen/keel/records.js";
import {
  InputCommandMessage,
  NotificationMessage,
  type Failure,
} from "../gen/keel/service_protocol.js";
import { MessageType } from "../service-protocol/index.js";
import type { Outcome } from "./actions.js";
import type { ApplyContext } from "./context.js";
import { timerKey, type NotificationRef, type ObjectRef } from "../partition-store/index.js";
import { applyStateMutation } from "./state_mutation.js";
import { encodeMessage } from "../wire/index.js";

export const KILLED: Failure = { code: 409, message: "killed", metadata: [] };
export const CANCELED: Failure = { code: 409, message: "canceled", metadata: [] };
export const CANCEL_SIGNAL = 1;

export const failureResult = (failure: Failure): Result => ({
  kind: { $case: "failure", value: failure },
});
export const valueResult = (value: Uint8Array): Result => ({ kind: { $case: "value", value } });
export const VOID_RESULT: Result = { kind: { $case: "void", value: {} } };

export function isKeyed(target: Target): boolean {
  return target.serviceType !== ServiceType.SERVICE_TYPE_SERVICE;
}

/** What an invocation id is derived from (core/ids.ts). */
export function targetRefOf(target: Target): InvocationTargetRef {
  return {
    service: target.service,
    handler: target.handler,
    key: target.key,
    keyed: isKeyed(target),
  };
}

/** Exclusive object handlers and workflow `run` hold the key's lock while they run. */
export function needsLock(target: Target): boolean {
  return (
    isKeyed(target) &&
    (target.handlerType === HandlerType.HANDLER_TYPE_EXCLUSIVE ||
      target.handlerType === HandlerType.HANDLER_TYPE_WORKFLOW)
  );
}

export function objectOf(target: Target): ObjectRef {
  return { partitionKey: partitionKeyOf(target.key), service: target.service, key: target.key };
}

function isAwaited(status: InvocationStatus): boolean {
  return status.wantsResult || status.responseSinks.length > 0;
}

function saveStatus(ctx: ApplyContext, id: InvocationId, status: InvocationStatus): void {
  status.modifiedAtMs = ctx.nowMs;
  ctx.tables.putStatus(id, status);
}

// ---- routing ----

/** Delivers a message to the partition owning `key`: at once when that is this partition. */
export function route(ctx: ApplyContext, key: PartitionKey, message: OutboxMessage): void {
  const destination = ctx.partitionTable.partitionOf(key);
  if (destination === ctx.partitionId) {
    ctx.applyLocally(message);
    return;
  }
  const seq = ctx.fsm.nextOutboxSeq + 1;
  ctx.fsm.nextOutboxSeq = seq;
  ctx.tables.putOutbox(seq, message);
  ctx.actions.push({ kind: "outbox", seq, destination, message });
}

/** Sends a result to an invocation waiting on it (call, attach, get-output, promise). */
export function respond(ctx: ApplyContext, sink: InvocationSink, result: Result): void {
  const target = InvocationId.fromBytes(sink.invocationId);
  route(ctx, target.partitionKey, {
    command: { $case: "invocationResponse", value: { sink, result } },
  });
}

// ---- creation ----

export function createInvocation(ctx: ApplyContext, invocation: ServiceInvocation): void {
  const id = InvocationId.fromBytes(invocation.invocationId);
  const target = invocation.target;
  assert(target !== undefined, "an invocation has a target");
  const existing = ctx.tables.status(id);
  if (existing !== undefined) {
    attachToExisting(ctx, id, existing, invocation);
    return;
  }
  const status = initialStatus(ctx, target, {
    source: invocation.source,
    responseSinks: invocation.responseSink === undefined ? [] : [invocation.responseSink],
    idempotencyKey: invocation.idempotencyKey,
    executionTimeMs: invocation.executionTimeMs,
    completionRetentionMs: invocation.completionRetentionMs,
    journalRetentionMs: invocation.journalRetentionMs,
    wantsResult: invocation.wantsResult,
    traceParent: invocation.traceParent,
  });
  const input = encodeMessage(InputCommandMessage, {
    headers: invocation.headers,
    value: { content: invocation.argument },
    name: "",
  });
  ctx.tables.putJournalEntry(id, 0, {
    messageType: MessageType.InputCommand,
    raw: input,
    appendedAtMs: ctx.nowMs,
  });
  if (invocation.executionTimeMs > ctx.nowMs) {
    status.phase = InvocationPhase.INVOCATION_PHASE_SCHEDULED;
    status.scheduledAtMs = ctx.nowMs;
    saveStatus(ctx, id, status);
    registerTimer(
      ctx,
      timerKey(invocation.executionTimeMs, "delayed", id),
      invocation.executionTimeMs,
      {
        kind: { $case: "delayedInvocationId", value: id.bytes },
      },
    );
    reply(ctx, { kind: "accepted", invocationId: id, executionTimeMs: invocation.executionTimeMs });
    return;
  }
  startInvocation(ctx, id, status);
  reply(ctx, { kind: "accepted", invocationId: id });
}

/** The status of a new invocation (inboxed until started) with a one-entry journal: its input. */
export function initialStatus(
  ctx: ApplyContext,
  target: Target,
  fields: Partial<InvocationStatus>,
): InvocationStatus {
  return {
    phase: InvocationPhase.INVOCATION_PHASE_INBOXED,
    target,
    source: undefined,
    responseSinks: [],
    idempotencyKey: undefined,
    createdAtMs: ctx.nowMs,
    modifiedAtMs: ctx.nowMs,
    inboxedAtMs: 0,
    scheduledAtMs: 0,
    runningAtMs: 0,
    completedAtMs: 0,
    executionTimeMs: 0,
    journalLength: 1,
    commandCount: 1,
    pinned: undefined,
    waiting: undefined,
    output: undefined,
    result: undefined,
    completionRetentionMs: 0,
    journalRetentionMs: 0,
    inboxSeq: 0,
    lastFailure: undefined,
    wantsResult: false,
    journalPurged: false,
    restartedFrom: new Uint8Array(0),
    randomSeedFrom: new Uint8Array(0),
    traceParent: "",
    ...fields,
  };
}

/** A request whose (deterministic) id already exists: an idempotent retry or a repeated workflow run. */
function attachToExisting(
  ctx: ApplyContext,
  id: InvocationId,
  status: InvocationStatus,
  invocation: ServiceInvocation,
): void {
  const isWorkflowRun = invocation.target?.handlerType === HandlerType.HANDLER_TYPE_WORKFLOW;
  if (isWorkflowRun && invocation.wantsResult) {
    // A workflow runs once per id: a second call is refused, while a second send is acknowledged.
    const failure: Failure = {
      code: 409,
      message: "the workflow method was already invoked",
      metadata: [],
    };
    if (invocation.responseSink !== undefined)
      respond(ctx, invocation.responseSink, failureResult(failure));
    reply(ctx, { kind: "workflowAlreadyInvoked", invocationId: id });
    return;
  }
  if (invocation.responseSink !== undefined) {
    if (
      status.phase === InvocationPhase.INVOCATION_PHASE_COMPLETED &&
      status.result !== undefined
    ) {
      respond(ctx, invocation.responseSink, status.result);
    } else {
      status.responseSinks.push(invocation.responseSink);
      saveStatus(ctx, id, status);
    }
  }
  reply(ctx, { kind: "previouslyAccepted", invocationId: id });
}

/** Runs the invocation now, or queues it behind the holder of its key's lock. */
export function startInvocation(
  ctx: ApplyContext,
  id: InvocationId,
  status: InvocationStatus,
): void {
  const target = status.target!;
  if (needsLock(target)) {
    const object = objectOf(target);
    const holder = ctx.tables.lock(object);
    if (holder !== undefined && !holder.equals(id)) {
      const seq = enqueue(ctx, object, { kind: { $case: "invocationId", value: id.bytes } });
      status.phase = InvocationPhase.INVOCATION_PHASE_INBOXED;
      status.inboxSeq = seq;
      status.inboxedAtMs = ctx.nowMs;
      saveStatus(ctx, id, status);
      return;
    }
    ctx.tables.putLock(object, id);
  }
  status.phase = InvocationPhase.INVOCATION_PHASE_INVOKED;
  status.inboxSeq = 0;
  if (status.runningAtMs === 0) status.runningAtMs = ctx.nowMs;
  saveStatus(ctx, id, status);
  ctx.tables.setActive(id, true);
  ctx.actions.push({ kind: "invoke", invocationId: id, awaited: isAwaited(status) });
}

/** Appends an entry to the key's inbox; returns its sequence number. */
export function enqueue(ctx: ApplyContext, object: ObjectRef, entry: InboxEntry): number {
  const seq = ctx.fsm.nextInboxSeq + 1;
  ctx.fsm.nextInboxSeq = seq;
  ctx.tables.enqueueInbox(object, seq, entry);
  return seq;
}

export function registerTimer(
  ctx: ApplyContext,
  key: string,
  wakeAtMs: number,
  timer: Parameters<ApplyContext["tables"]["putTimer"]>[1],
): void {
  ctx.tables.putTimer(key, timer);
  ctx.actions.push({ kind: "registerTimer", key, wakeAtMs });
}

// ---- notifications ----

export function notificationRefOf(message: NotificationMessage): NotificationRef {
  const id = message.id;
  assert(id !== undefined, "a notification has an id");
  switch (id.$case) {
    case "completionId":
      return { kind: "completion", id: id.value };
    case "signalIdx":
      return { kind: "signal", id: id.value };
    case "signalName":
      return { kind: "namedSignal", name: id.value };
  }
}

function awaits(waiting: WaitSet | undefined, ref: NotificationRef): boolean {
  if (waiting === undefined) return false;
  switch (ref.kind) {
    case "completion":
      return waiting.completions.includes(ref.id);
    case "signal":
      return waiting.signals.includes(ref.id);
    case "namedSignal":
      return waiting.namedSignals.includes(ref.name);
  }
}

/**
 * Appends a notification to an invocation's journal, pushes it to a running attempt and resumes a
 * suspended invocation that awaits it. Dropped when the invocation is gone or completed, and when the
 * same notification id is already in the journal.
 */
export function appendNotification(
  ctx: ApplyContext,
  id: InvocationId,
  messageType: number,
  notification: NotificationMessage,
): void {
  const status = ctx.tables.status(id);
  if (status === undefined || status.phase === InvocationPhase.INVOCATION_PHASE_COMPLETED) return;
  const ref = notificationRefOf(notification);
  if (ctx.tables.notificationIndex(id, ref) !== undefined) return;
  const index = status.journalLength;
  const raw = encodeMessage(NotificationMessage, notification);
  ctx.tables.putJournalEntry(id, index, { messageType, raw, appendedAtMs: ctx.nowMs });
  ctx.tables.putNotificationIndex(id, ref, index);
  status.journalLength = index + 1;
  switch (status.phase) {
    case InvocationPhase.INVOCATION_PHASE_INVOKED:
      ctx.actions.push({ kind: "notify", invocationId: id, entryIndex: index, messageType, raw });
      break;
    case InvocationPhase.INVOCATION_PHASE_SUSPENDED:
      if (awaits(status.waiting, ref)) {
        resume(ctx, id, status);
        return;
      }
      break;
    default:
      break;
  }
  saveStatus(ctx, id, status);
}

/** Puts a suspended or paused invocation back into the invoked phase with a new attempt. */
export function resume(ctx: ApplyContext, id: InvocationId, status: InvocationStatus): void {
  status.phase = InvocationPhase.INVOCATION_PHASE_INVOKED;
  status.waiting = undefined;
  saveStatus(ctx, id, status);
  ctx.tables.setActive(id, true);
  ctx.actions.push({ kind: "invoke", invocationId: id, awaited: isAwaited(status) });
}

/** The SDK suspended awaiting any of `waiting`: resume at once if one is already there. */
export function suspend(
  ctx: ApplyContext,
  id: InvocationId,
  status: InvocationStatus,
  waiting: WaitSet,
): void {
  const present =
    waiting.completions.some(
      (c) => ctx.tables.notificationIndex(id, { kind: "completion", id: c }) !== undefined,
    ) ||
    waiting.signals.some(
      (s) => ctx.tables.notificationIndex(id, { kind: "signal", id: s }) !== undefined,
    ) ||
    waiting.namedSignals.some(
      (n) => ctx.tables.notificationIndex(id, { kind: "namedSignal", name: n }) !== undefined,
    );
  if (present) {
    resume(ctx, id, status);
    return;
  }
  status.phase = InvocationPhase.INVOCATION_PHASE_SUSPENDED;
  status.waiting = waiting;
  saveStatus(ctx, id, status);
  ctx.tables.setActive(id, false);
}

// ---- completion ----

/** Completes an invocation with its result, releases its lock and answers every waiter. */
export function completeInvocation(
  ctx: ApplyContext,
  id: InvocationId,
  status: InvocationStatus,
  result: Result,
): void {
  // The message is built only on failure: formatting an id costs more than the check.
  if (status.phase === InvocationPhase.INVOCATION_PHASE_COMPLETED) {
    assert(false, `${id.toString()} completes once`);
  }
  const wasInbox = status.phase === InvocationPhase.INVOCATION_PHASE_INBOXED;
  const target = status.target!;
  if (wasInbox && status.inboxSeq !== 0)
    ctx.tables.deleteInboxEntry(objectOf(target), status.inboxSeq);
  status.phase = InvocationPhase.INVOCATION_PHASE_COMPLETED;
  status.result = result;
  status.output = undefined;
  status.waiting = undefined;
  status.inboxSeq = 0;
  status.completedAtMs = ctx.nowMs;
  ctx.tables.setActive(id, false);
  for (const sink of status.responseSinks) respond(ctx, sink, result);
  status.responseSinks = [];
  const retainedUntilMs =
    status.completionRetentionMs > 0 ? ctx.nowMs + status.completionRetentionMs : 0;
  ctx.actions.push({ kind: "completed", invocationId: id, result, target });
  if (status.completionRetentionMs > 0) {
    if (status.journalRetentionMs === 0) {
      ctx.tables.deleteJournal(id);
      status.journalPurged = true;
    }
    saveStatus(ctx, id, status);
    registerTimer(ctx, timerKey(retainedUntilMs, "cleanup", id), retainedUntilMs, {
      kind: { $case: "cleanupInvocationId", value: id.bytes },
    });
  } else {
    forget(ctx, id, status);
  }
  if (!wasInbox && needsLock(target)) releaseLock(ctx, id, objectOf(target));
}

/**
 * Releases the key's lock held by `id`, applies the state edits at the head of the key's inbox and
 * starts the first invocation queued behind them.
 */
function releaseLock(ctx: ApplyContext, id: InvocationId, object: ObjectRef): void {
  const holder = ctx.tables.lock(object);
  if (holder === undefined || !holder.equals(id)) return;
  ctx.tables.deleteLock(object);
  for (;;) {
    const next = ctx.tables.inboxHead(object);
    if (next?.entry.kind === undefined) return;
    ctx.tables.deleteRaw(next.key);
    const kind = next.entry.kind;
    if (kind.$case === "stateMutation") {
      applyStateMutation(ctx, object, kind.value);
      continue;
    }
    const nextId = InvocationId.fromBytes(kind.value);
    const status = ctx.tables.status(nextId);
    if (status === undefined) assert(false, `inboxed ${nextId.toString()} has a status`);
    assert(
      status.phase === InvocationPhase.INVOCATION_PHASE_INBOXED,
      "inbox entries are inboxed invocations",
    );
    startInvocation(ctx, nextId, status);
    return;
  }
}

/** Deletes every trace of an invocation; workflows also lose their state and promises. */
function forget(ctx: ApplyContext, id: InvocationId, status: InvocationStatus): void {
  ctx.tables.deleteStatus(id);
  ctx.tables.deleteJournal(id);
  const target = status.target!;
  if (target.handlerType === HandlerType.HANDLER_TYPE_WORKFLOW) {
    const object = objectOf(target);
    ctx.tables.clearState(object);
    ctx.tables.clearPromises(object);
  }
}

/** A completed invocation's retention ran out, or an operator purged it. */
export function purgeInvocation(
  ctx: ApplyContext,
  id: InvocationId,
  journalOnly: boolean,
): boolean {
  const status = ctx.tables.status(id);
  if (status === undefined || status.phase !== InvocationPhase.INVOCATION_PHASE_COMPLETED)
    return false;
  if (journalOnly) {
    ctx.tables.deleteJournal(id);
    status.journalPurged = true;
    saveStatus(ctx, id, status);
  } else {
    forget(ctx, id, status);
  }
  return true;
}

// ---- termination ----

/** Cancels (a signal the SDK sees) or kills (ends at once) an invocation. */
export function terminateInvocation(
  ctx: ApplyContext,
  id: InvocationId,
  kind: TerminationKind,
): void {
  const status = ctx.tables.status(id);
  if (status === undefined) return reply(ctx, { kind: "notFound" });
  const failure = kind === TerminationKind.TERMINATION_KIND_KILL ? KILLED : CANCELED;
  switch (status.phase) {
    case InvocationPhase.INVOCATION_PHASE_COMPLETED:
      return reply(ctx, { kind: "alreadyCompleted" });
    case InvocationPhase.INVOCATION_PHASE_INBOXED:
    case InvocationPhase.INVOCATION_PHASE_SCHEDULED:
      dropUnstarted(ctx, id, status, failureResult(failure));
      return reply(ctx, { kind: "done" });
    case InvocationPhase.INVOCATION_PHASE_INVOKED:
    case InvocationPhase.INVOCATION_PHASE_SUSPENDED:
    case InvocationPhase.INVOCATION_PHASE_PAUSED:
      if (kind === TerminationKind.TERMINATION_KIND_KILL) {
        const children = childInvocations(ctx, id, status);
        ctx.actions.push({ kind: "abort", invocationId: id });
        completeInvocation(ctx, id, status, failureResult(KILLED));
        for (const child of children) {
          route(ctx, child.partitionKey, {
            command: {
              $case: "terminate",
              value: { invocationId: child.bytes, kind: TerminationKind.TERMINATION_KIND_KILL },
            },
          });
        }
        return reply(ctx, { kind: "done" });
      }
      if (status.phase === InvocationPhase.INVOCATION_PHASE_PAUSED) resume(ctx, id, status);
      appendNotification(ctx, id, MessageType.SignalNotification, {
        id: { $case: "signalIdx", value: CANCEL_SIGNAL },
        result: { $case: "void", value: {} },
      });
      return reply(ctx, { kind: "signalAppended" });
    case InvocationPhase.UNRECOGNIZED:
      assert(false, `invocation ${id.toString()} has an unknown phase`);
  }
}

/**
 * Removes an invocation that never started (waiting for its time or in its key's inbox), as Restate
 * does: its waiters get `result`, and nothing of it remains, so that its id (an idempotency key, a
 * workflow run) is free for a new invocation. Workflow state and promises are left as they are.
 */
function dropUnstarted(
  ctx: ApplyContext,
  id: InvocationId,
  status: InvocationStatus,
  result: Result,
): void {
  const target = status.target!;
  if (status.phase === InvocationPhase.INVOCATION_PHASE_INBOXED) {
    if (status.inboxSeq !== 0) ctx.tables.deleteInboxEntry(objectOf(target), status.inboxSeq);
  } else {
    assert(status.phase === InvocationPhase.INVOCATION_PHASE_SCHEDULED, "not started");
    // A later invocation with the same id must not be started by this one's timer.
    ctx.tables.deleteTimer(timerKey(status.executionTimeMs, "delayed", id));
  }
  for (const sink of status.responseSinks) respond(ctx, sink, result);
  ctx.actions.push({ kind: "completed", invocationId: id, result, target });
  ctx.tables.deleteStatus(id);
  ctx.tables.deleteJournal(id);
}

/** Answers the proposer of the record being applied. */
export function reply(ctx: ApplyContext, outcome: Outcome): void {
  ctx.actions.push({ kind: "outcome", requestId: ctx.requestId, outcome });
}

/** Invocations started by this one's Call and OneWayCall commands (from their id notifications). */
function childInvocations(
  ctx: ApplyContext,
  id: InvocationId,
  status: InvocationStatus,
): InvocationId[] {
  const children: InvocationId[] = [];
  if (status.journalPurged) return children;
  for (let i = 0; i < status.journalLength; i++) {
    const entry = ctx.tables.journalEntry(id, i);
    if (entry?.messageType !== MessageType.CallInvocationIdCompletion) continue;
    const notification = NotificationMessage.decode(entry.raw);
    if (notification.result?.$case !== "invocationId") continue;
    const child = InvocationId.parse(notification.result.value);
    if (child !== undefined) children.push(child);
  }
  return children;
}
