/**
 * What operators ask of invocations and keys through the admin API, applied as records: pause,
 * resume, restart-as-new and state edits. Each answers its proposer with an outcome (Restate's
 * responses: accepted, already paused, not running, not started, still running, …).
 *
 * Invariants:
 * - a paused invocation has no attempt and is not in the `a/` index; it keeps its key's lock and its
 *   journal, and notifications still append to it; resuming replays the journal in a new attempt;
 *   pausing a suspended one changes nothing (it answers "already paused", as Restate 1.7 does);
 * - restart-as-new never touches the original invocation: it creates a new one in the same partition
 *   whose journal is a prefix of the original's plus the completions of the copied commands;
 * - a state edit of a locked key waits in the key's inbox and applies when the lock is released.
 */

import {
  InvocationPhase,
  ServiceType,
  type InvocationStatus,
  type PatchState,
  type RestartAsNew,
  type ResumeInvocation,
} from "../gen/keel/records.js";
import {
  AttachInvocationCommandMessage,
  CallCommandMessage,
  CompletePromiseCommandMessage,
  GetInvocationOutputCommandMessage,
  GetLazyStateCommandMessage,
  GetLazyStateKeysCommandMessage,
  GetPromiseCommandMessage,
  NotificationMessage,
  OneWayCallCommandMessage,
  PeekPromiseCommandMessage,
  RunCommandMessage,
  SleepCommandMessage,
} from "../gen/keel/service_protocol.js";
import { InvocationId, partitionKeyOf } from "../core/index.js";
import { MessageType, isCommand } from "../service-protocol/index.js";
import type { ApplyContext } from "./context.js";
import {
  enqueue,
  initialStatus,
  notificationRefOf,
  reply,
  resume,
  startInvocation,
} from "./lifecycle.js";
import { applyStateMutation } from "./state_mutation.js";

/** The earliest protocol version whose journals can be restarted from a prefix (ctx.rand changes). */
const RESTART_FROM_PREFIX_PROTOCOL_MIN = 6;

// ---- pause ----

export function pauseInvocation(ctx: ApplyContext, id: InvocationId): void {
  const status = ctx.tables.status(id);
  if (status === undefined) return reply(ctx, { kind: "notFound" });
  switch (status.phase) {
    case InvocationPhase.INVOCATION_PHASE_INVOKED:
      // The attempt may still run: stop it. Its straggling effects are dropped (not invoked).
      ctx.actions.push({ kind: "abort", invocationId: id });
      markPaused(ctx, id, status);
      return reply(ctx, { kind: "done" });
    case InvocationPhase.INVOCATION_PHASE_SUSPENDED:
    case InvocationPhase.INVOCATION_PHASE_PAUSED:
      // Restate (without vqueues) leaves a suspended invocation as it is: nothing runs to stop.
      return reply(ctx, { kind: "alreadyPaused" });
    default:
      return reply(ctx, { kind: "notRunning" });
  }
}

function markPaused(ctx: ApplyContext, id: InvocationId, status: InvocationStatus): void {
  status.phase = InvocationPhase.INVOCATION_PHASE_PAUSED;
  status.modifiedAtMs = ctx.nowMs;
  ctx.tables.putStatus(id, status);
  ctx.tables.setActive(id, false);
}

// ---- resume ----

export function resumeInvocation(ctx: ApplyContext, request: ResumeInvocation): void {
  const id = InvocationId.fromBytes(request.invocationId);
  const status = ctx.tables.status(id);
  if (status === undefined) return reply(ctx, { kind: "notFound" });
  const repin = request.deploymentId !== "";
  switch (status.phase) {
    case InvocationPhase.INVOCATION_PHASE_SUSPENDED:
    case InvocationPhase.INVOCATION_PHASE_PAUSED:
      if (repin) {
        if (status.pinned === undefined) return cannotChangeDeployment(ctx, id);
        status.pinned.deploymentId = request.deploymentId;
      }
      resume(ctx, id, status);
      return reply(ctx, { kind: "done" });
    case InvocationPhase.INVOCATION_PHASE_INVOKED:
      // Running or backing off: a backing-off attempt is retried at once.
      if (repin) return cannotChangeDeployment(ctx, id);
      ctx.actions.push({ kind: "retryNow", invocationId: id });
      return reply(ctx, { kind: "done" });
    case InvocationPhase.INVOCATION_PHASE_COMPLETED:
      return reply(ctx, { kind: "alreadyCompleted" });
    default:
      return reply(ctx, { kind: "notStarted" });
  }
}

function cannotChangeDeployment(ctx: ApplyContext, id: InvocationId): void {
  reply(ctx, {
    kind: "rejected",
    code: 409,
    message: `The invocation '${id.toString()}' is still running or the deployment id is not pinned yet, deployment id cannot be changed.`,
  });
}

// ---- restart as new ----

export function restartAsNew(ctx: ApplyContext, request: RestartAsNew): void {
  const id = InvocationId.fromBytes(request.invocationId);
  const newId = InvocationId.fromBytes(request.newInvocationId);
  const status = ctx.tables.status(id);
  if (status === undefined) return reply(ctx, { kind: "notFound" });
  switch (status.phase) {
    case InvocationPhase.INVOCATION_PHASE_INBOXED:
    case InvocationPhase.INVOCATION_PHASE_SCHEDULED:
      return reply(ctx, { kind: "notStarted" });
    case InvocationPhase.INVOCATION_PHASE_COMPLETED:
      break;
    default:
      return reply(ctx, { kind: "stillRunning" });
  }
  const refusal = restartRefusal(ctx, id, status, request.copyPrefixUpToIndex);
  if (refusal !== undefined) return reply(ctx, { kind: "rejected", ...refusal });
  if (ctx.tables.status(newId) !== undefined) {
    return reply(ctx, {
      kind: "rejected",
      code: 409,
      message: `the new invocation id ${newId.toString()} is taken`,
    });
  }
  const copied = copyJournalPrefix(ctx, id, status, newId, request.copyPrefixUpToIndex);
  const target = status.target!;
  const pinned =
    status.pinned === undefined
      ? undefined
      : {
          ...status.pinned,
          deploymentId:
            request.deploymentId === "" ? status.pinned.deploymentId : request.deploymentId,
        };
  const restarted = initialStatus(ctx, target, {
    source: { kind: { $case: "restartedFrom", value: id.bytes } },
    journalLength: copied.entries,
    commandCount: copied.commands,
    pinned,
    completionRetentionMs: status.completionRetentionMs,
    journalRetentionMs: status.journalRetentionMs,
    restartedFrom: id.bytes,
    // Restate (without its `unique_random_seeds` feature) keeps the original seed.
    randomSeedFrom: status.randomSeedFrom.length > 0 ? status.randomSeedFrom : id.bytes,
  });
  startInvocation(ctx, newId, restarted);
  reply(ctx, { kind: "restarted", newInvocationId: newId });
}

/** Why a completed invocation cannot be restarted from `from`, in Restate's words; else undefined. */
function restartRefusal(
  ctx: ApplyContext,
  id: InvocationId,
  status: InvocationStatus,
  from: number,
): { code: number; message: string } | undefined {
  const text = id.toString();
  if (status.journalPurged || ctx.tables.journalEntry(id, 0) === undefined) {
    return {
      code: 410,
      message: `The invocation '${text}' cannot be restarted because the input is not available. This indicates that the journal was already purged, or not retained at all.`,
    };
  }
  const unsupported = {
    code: 422,
    message: `Restarting the invocation '${text}' is not supported. Restarting workflows is not supported, and restarting invocations created using the old service protocol.`,
  };
  if (status.target?.serviceType === ServiceType.SERVICE_TYPE_WORKFLOW) return unsupported;
  if (from >= status.journalLength) {
    return {
      code: 400,
      message: `The given index is out of range of currently stored journal for invocation '${text}'.`,
    };
  }
  if (from > 0 && (status.pinned?.protocolVersion ?? 0) < RESTART_FROM_PREFIX_PROTOCOL_MIN)
    return unsupported;
  for (let i = 1; i <= from; i++) {
    const entry = ctx.tables.journalEntry(id, i);
    const complete =
      entry !== undefined &&
      relatedCompletionIds(entry.messageType, entry.raw).every(
        (c) => ctx.tables.notificationIndex(id, { kind: "completion", id: c }) !== undefined,
      );
    if (!complete) {
      return {
        code: 400,
        message: `The prefix of the journal '${text}' up to 'from' (included) contains some Commands without respective Completions.`,
      };
    }
  }
  return undefined;
}

/**
 * Copies entries 0..=`from` of `id`'s journal to `newId`, then the later notifications that complete
 * the copied commands. Returns how many entries and commands the new journal has.
 */
function copyJournalPrefix(
  ctx: ApplyContext,
  id: InvocationId,
  status: InvocationStatus,
  newId: InvocationId,
  from: number,
): { entries: number; commands: number } {
  let entries = 0;
  let commands = 0;
  const missing = new Set<number>();
  const copy = (index: number): void => {
    const entry = ctx.tables.journalEntry(id, index)!;
    ctx.tables.putJournalEntry(newId, entries, { ...entry, appendedAtMs: ctx.nowMs });
    if (isCommand(entry.messageType)) {
      commands++;
      for (const c of relatedCompletionIds(entry.messageType, entry.raw)) missing.add(c);
    } else {
      const ref = notificationRefOf(NotificationMessage.decode(entry.raw));
      ctx.tables.putNotificationIndex(newId, ref, entries);
      if (ref.kind === "completion") missing.delete(ref.id);
    }
    entries++;
  };
  for (let i = 0; i <= from; i++) copy(i);
  for (let i = from + 1; i < status.journalLength && missing.size > 0; i++) {
    const entry = ctx.tables.journalEntry(id, i);
    if (entry === undefined || isCommand(entry.messageType)) continue;
    const ref = notificationRefOf(NotificationMessage.decode(entry.raw));
    if (ref.kind === "completion" && missing.has(ref.id)) copy(i);
  }
  return { entries, commands };
}

/** The completion ids a command waits for (its result, and a call's callee id). */
export function relatedCompletionIds(messageType: number, raw: Uint8Array): number[] {
  switch (messageType) {
    case MessageType.CallCommand: {
      const call = CallCommandMessage.decode(raw);
      return [call.invocationIdNotificationIdx, call.resultCompletionId];
    }
    case MessageType.OneWayCallCommand:
      return [OneWayCallCommandMessage.decode(raw).invocationIdNotificationIdx];
    case MessageType.GetLazyStateCommand:
      return [GetLazyStateCommandMessage.decode(raw).resultCompletionId];
    case MessageType.GetLazyStateKeysCommand:
      return [GetLazyStateKeysCommandMessage.decode(raw).resultCompletionId];
    case MessageType.GetPromiseCommand:
      return [GetPromiseCommandMessage.decode(raw).resultCompletionId];
    case MessageType.PeekPromiseCommand:
      return [PeekPromiseCommandMessage.decode(raw).resultCompletionId];
    case MessageType.CompletePromiseCommand:
      return [CompletePromiseCommandMessage.decode(raw).resultCompletionId];
    case MessageType.SleepCommand:
      return [SleepCommandMessage.decode(raw).resultCompletionId];
    case MessageType.RunCommand:
      return [RunCommandMessage.decode(raw).resultCompletionId];
    case MessageType.AttachInvocationCommand:
      return [AttachInvocationCommandMessage.decode(raw).resultCompletionId];
    case MessageType.GetInvocationOutputCommand:
      return [GetInvocationOutputCommandMessage.decode(raw).resultCompletionId];
    default:
      return [];
  }
}

// ---- state edits ----

export function patchState(ctx: ApplyContext, request: PatchState): void {
  const object = {
    partitionKey: partitionKeyOf(request.key),
    service: request.service,
    key: request.key,
  };
  if (ctx.tables.lock(object) !== undefined) {
    enqueue(ctx, object, { kind: { $case: "stateMutation", value: request } });
  } else {
    applyStateMutation(ctx, object, request);
  }
  reply(ctx, { kind: "done" });
}
