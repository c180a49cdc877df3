/**
 * What each journal command does when it is applied, beyond being stored in the journal. One handler
 * per command; commands with no effect on the partition (Run, GetEagerState, custom entries) are only
 * journaled. Completions produced here are appended as notifications to the invocation's journal.
 *
 * Why one file of this length: one short handler per command, found in one place; what they share
 * (the invocation's lifecycle) is lifecycle.ts.
 */

import {
  assert,
  PartitionKey,
  compareBytes,
  InvocationId,
  childInvocationId,
  idempotentInvocationId,
  parseAwakeableId,
  workflowRunInvocationId,
} from "../core/index.js";
import {
  HandlerType,
  InvocationPhase,
  TerminationKind,
  type JournalCommand,
  type Result,
  type ServiceInvocation,
  type Target,
} from "../gen/keel/records.js";
import {
  AttachInvocationCommandMessage,
  CallCommandMessage,
  ClearStateCommandMessage,
  CompleteAwakeableCommandMessage,
  CompletePromiseCommandMessage,
  GetInvocationOutputCommandMessage,
  GetLazyStateCommandMessage,
  GetLazyStateKeysCommandMessage,
  GetPromiseCommandMessage,
  OneWayCallCommandMessage,
  OutputCommandMessage,
  PeekPromiseCommandMessage,
  SendSignalCommandMessage,
  SetStateCommandMessage,
  SleepCommandMessage,
  type Failure,
  type NotificationMessage,
} from "../gen/keel/service_protocol.js";
import { MessageType } from "../service-protocol/index.js";
import type { ApplyContext } from "./context.js";
import { timerKey } from "../partition-store/index.js";
import {
  CANCEL_SIGNAL,
  VOID_RESULT,
  appendNotification,
  failureResult,
  isKeyed,
  targetRefOf,
  objectOf,
  registerTimer,
  route,
  valueResult,
} from "./lifecycle.js";

type NotificationResult = NotificationMessage["result"];

function resultToNotification(result: Result): NotificationResult {
  const kind = result.kind;
  if (kind === undefined) return { $case: "void", value: {} };
  switch (kind.$case) {
    case "void":
      return { $case: "void", value: {} };
    case "value":
      return { $case: "value", value: { content: kind.value } };
    case "failure":
      return { $case: "failure", value: kind.value };
  }
}

function complete(
  ctx: ApplyContext,
  id: InvocationId,
  type: number,
  completionId: number,
  result: NotificationResult,
): void {
  appendNotification(ctx, id, type, { id: { $case: "completionId", value: completionId }, result });
}

const failure = (code: number, message: string): Failure => ({ code, message, metadata: [] });

/** Applies the effect of a command that was just stored at `command.commandIndex`. */
export function applyCommand(
  ctx: ApplyContext,
  id: InvocationId,
  target: Target,
  command: JournalCommand,
): void {
  const raw = command.raw;
  switch (command.messageType) {
    case MessageType.OutputCommand: {
      const output = OutputCommandMessage.decode(raw);
      const status = ctx.tables.status(id)!;
      status.output =
        output.result?.$case === "failure"
          ? failureResult(output.result.value)
          : valueResult(
              output.result?.$case === "value" ? output.result.value.content : new Uint8Array(0),
            );
      ctx.tables.putStatus(id, status);
      return;
    }
    case MessageType.GetLazyStateCommand: {
      const cmd = GetLazyStateCommandMessage.decode(raw);
      const value = isKeyed(target) ? ctx.tables.state(objectOf(target), cmd.key) : undefined;
      complete(
        ctx,
        id,
        MessageType.GetLazyStateCompletion,
        cmd.resultCompletionId,
        value === undefined
          ? { $case: "void", value: {} }
          : { $case: "value", value: { content: value } },
      );
      return;
    }
    case MessageType.GetLazyStateKeysCommand: {
      const cmd = GetLazyStateKeysCommandMessage.decode(raw);
      const keys = isKeyed(target)
        ? ctx.tables.stateEntries(objectOf(target)).map((e) => e.key)
        : [];
      keys.sort(compareBytes);
      complete(ctx, id, MessageType.GetLazyStateKeysCompletion, cmd.resultCompletionId, {
        $case: "stateKeys",
        value: { keys },
      });
      return;
    }
    case MessageType.SetStateCommand: {
      const cmd = SetStateCommandMessage.decode(raw);
      if (isKeyed(target))
        ctx.tables.putState(objectOf(target), cmd.key, cmd.value?.content ?? new Uint8Array(0));
      return;
    }
    case MessageType.ClearStateCommand: {
      const cmd = ClearStateCommandMessage.decode(raw);
      if (isKeyed(target)) ctx.tables.deleteState(objectOf(target), cmd.key);
      return;
    }
    case MessageType.ClearAllStateCommand:
      if (isKeyed(target)) ctx.tables.clearState(objectOf(target));
      return;
    case MessageType.GetPromiseCommand:
      return getPromise(ctx, id, target, GetPromiseCommandMessage.decode(raw));
    case MessageType.PeekPromiseCommand: {
      const cmd = PeekPromiseCommandMessage.decode(raw);
      const promise = ctx.tables.promise(objectOf(target), cmd.key);
      const completed = promise?.completed;
      complete(
        ctx,
        id,
        MessageType.PeekPromiseCompletion,
        cmd.resultCompletionId,
        completed === undefined ? { $case: "void", value: {} } : resultToNotification(completed),
      );
      return;
    }
    case MessageType.CompletePromiseCommand:
      return completePromise(ctx, id, target, CompletePromiseCommandMessage.decode(raw));
    case MessageType.SleepCommand: {
      const cmd = SleepCommandMessage.decode(raw);
      registerTimer(
        ctx,
        timerKey(cmd.wakeUpTime, "sleep", id, cmd.resultCompletionId),
        cmd.wakeUpTime,
        {
          kind: {
            $case: "sleep",
            value: { invocationId: id.bytes, completionId: cmd.resultCompletionId },
          },
        },
      );
      return;
    }
    case MessageType.CallCommand:
      return call(ctx, id, target, command, CallCommandMessage.decode(raw));
    case MessageType.OneWayCallCommand:
      return oneWayCall(ctx, id, target, command, OneWayCallCommandMessage.decode(raw));
    case MessageType.SendSignalCommand:
      return sendSignal(ctx, SendSignalCommandMessage.decode(raw));
    case MessageType.AttachInvocationCommand: {
      const cmd = AttachInvocationCommandMessage.decode(raw);
      return attach(ctx, id, cmd.target, cmd.resultCompletionId, true);
    }
    case MessageType.GetInvocationOutputCommand: {
      const cmd = GetInvocationOutputCommandMessage.decode(raw);
      return attach(ctx, id, cmd.target, cmd.resultCompletionId, false);
    }
    case MessageType.CompleteAwakeableCommand: {
      const cmd = CompleteAwakeableCommandMessage.decode(raw);
      const ref = parseAwakeableId(cmd.awakeableId);
      // Only in logs written before the invoker refused such a command (`commandIdProblem`).
      if (ref === undefined) return;
      const result: Result =
        cmd.result?.$case === "failure"
          ? failureResult(cmd.result.value)
          : valueResult(
              cmd.result?.$case === "value" ? cmd.result.value.content : new Uint8Array(0),
            );
      route(ctx, ref.invocationId.partitionKey, {
        command: {
          $case: "notifySignal",
          value: {
            invocationId: ref.invocationId.bytes,
            signalId: { $case: "idx", value: ref.signalIndex },
            result,
          },
        },
      });
      return;
    }
    default:
      // Run, GetEagerState, GetEagerStateKeys and custom entries are only journaled.
      return;
  }
}

function getPromise(
  ctx: ApplyContext,
  id: InvocationId,
  target: Target,
  cmd: GetPromiseCommandMessage,
): void {
  const object = objectOf(target);
  const promise = ctx.tables.promise(object, cmd.key) ?? { completed: undefined, waiters: [] };
  if (promise.completed !== undefined) {
    complete(
      ctx,
      id,
      MessageType.GetPromiseCompletion,
      cmd.resultCompletionId,
      resultToNotification(promise.completed),
    );
    return;
  }
  promise.waiters.push({
    invocationId: id.bytes,
    completionId: cmd.resultCompletionId,
    notificationType: MessageType.GetPromiseCompletion,
  });
  ctx.tables.putPromise(object, cmd.key, promise);
}

function completePromise(
  ctx: ApplyContext,
  id: InvocationId,
  target: Target,
  cmd: CompletePromiseCommandMessage,
): void {
  const object = objectOf(target);
  const promise = ctx.tables.promise(object, cmd.key) ?? { completed: undefined, waiters: [] };
  if (promise.completed !== undefined) {
    complete(ctx, id, MessageType.CompletePromiseCompletion, cmd.resultCompletionId, {
      $case: "failure",
      value: failure(409, "promise was already completed"),
    });
    return;
  }
  const result: Result =
    cmd.completion?.$case === "completionFailure"
      ? failureResult(cmd.completion.value)
      : valueResult(
          cmd.completion?.$case === "completionValue"
            ? cmd.completion.value.content
            : new Uint8Array(0),
        );
  const waiters = promise.waiters;
  ctx.tables.putPromise(object, cmd.key, { completed: result, waiters: [] });
  // Waiters are invocations of the same workflow key, so they live in this partition.
  for (const waiter of waiters) {
    complete(
      ctx,
      InvocationId.fromBytes(waiter.invocationId),
      waiter.notificationType,
      waiter.completionId,
      resultToNotification(result),
    );
  }
  complete(ctx, id, MessageType.CompletePromiseCompletion, cmd.resultCompletionId, {
    $case: "void",
    value: {},
  });
}

interface CallLike {
  serviceName: string;
  handlerName: string;
  parameter: Uint8Array;
  headers: { key: string; value: string }[];
  key: string;
  idempotencyKey?: string | undefined;
  invocationIdNotificationIdx: number;
}

/** The child of a Call/OneWayCall: its id is deterministic so that every replica derives the same. */
function childOf(
  id: InvocationId,
  command: JournalCommand,
  cmd: CallLike,
): { childId: InvocationId; target: Target } | undefined {
  const resolved = command.resolvedCall;
  if (resolved?.target === undefined || resolved.failure !== undefined) return undefined;
  const target = resolved.target;
  const ref = targetRefOf(target);
  let childId: InvocationId;
  if (target.handlerType === HandlerType.HANDLER_TYPE_WORKFLOW)
    childId = workflowRunInvocationId(target.service, target.key);
  else if (cmd.idempotencyKey !== undefined && cmd.idempotencyKey !== "")
    childId = idempotentInvocationId(ref, cmd.idempotencyKey);
  else childId = childInvocationId(id, command.commandIndex, ref);
  return { childId, target };
}

function childInvocation(
  ctx: ApplyContext,
  parent: InvocationId,
  parentTarget: Target,
  command: JournalCommand,
  cmd: CallLike,
  childId: InvocationId,
  target: Target,
): ServiceInvocation {
  const resolved = command.resolvedCall!;
  return {
    invocationId: childId.bytes,
    target,
    argument: cmd.parameter,
    headers: cmd.headers,
    source: {
      kind: { $case: "service", value: { invocationId: parent.bytes, target: parentTarget } },
    },
    responseSink: undefined,
    // Calls from handlers take an empty key as none (childOf).
    idempotencyKey: cmd.idempotencyKey === "" ? undefined : cmd.idempotencyKey,
    executionTimeMs: 0,
    completionRetentionMs: resolved.completionRetentionMs,
    journalRetentionMs: resolved.journalRetentionMs,
    wantsResult: false,
    traceParent: resolved.traceParent,
  };
}

function call(
  ctx: ApplyContext,
  id: InvocationId,
  target: Target,
  command: JournalCommand,
  cmd: CallCommandMessage,
): void {
  const child = childOf(id, command, cmd);
  if (child === undefined) {
    const reason =
      command.resolvedCall?.failure ?? failure(404, `service '${cmd.serviceName}' not found`);
    complete(ctx, id, MessageType.CallCompletion, cmd.resultCompletionId, {
      $case: "failure",
      value: reason,
    });
    return;
  }
  const invocation = childInvocation(ctx, id, target, command, cmd, child.childId, child.target);
  invocation.responseSink = {
    invocationId: id.bytes,
    completionId: cmd.resultCompletionId,
    notificationType: MessageType.CallCompletion,
  };
  invocation.wantsResult = true;
  complete(ctx, id, MessageType.CallInvocationIdCompletion, cmd.invocationIdNotificationIdx, {
    $case: "invocationId",
    value: child.childId.toString(),
  });
  route(ctx, child.childId.partitionKey, { command: { $case: "invoke", value: invocation } });
}

function oneWayCall(
  ctx: ApplyContext,
  id: InvocationId,
  target: Target,
  command: JournalCommand,
  cmd: OneWayCallCommandMessage,
): void {
  const child = childOf(id, command, cmd);
  if (child === undefined) {
    // Only in logs written before the invoker refused such a command (it now fails the attempt,
    // which is retried, see `InvocationAttempt.preconditionFailure`): nothing to start; the caller
    // still learns an id so that its journal stays consistent and replays the same.
    complete(ctx, id, MessageType.CallInvocationIdCompletion, cmd.invocationIdNotificationIdx, {
      $case: "invocationId",
      value: childInvocationId(id, command.commandIndex, {
        service: cmd.serviceName,
        handler: cmd.handlerName,
        key: cmd.key,
        keyed: cmd.key !== "",
      }).toString(),
    });
    return;
  }
  const invocation = childInvocation(ctx, id, target, command, cmd, child.childId, child.target);
  invocation.executionTimeMs = cmd.invokeTime > ctx.nowMs ? cmd.invokeTime : 0;
  complete(ctx, id, MessageType.CallInvocationIdCompletion, cmd.invocationIdNotificationIdx, {
    $case: "invocationId",
    value: child.childId.toString(),
  });
  route(ctx, child.childId.partitionKey, { command: { $case: "invoke", value: invocation } });
}

function sendSignal(ctx: ApplyContext, cmd: SendSignalCommandMessage): void {
  const target = InvocationId.parse(cmd.targetInvocationId);
  // Only in logs written before the invoker refused such a command (`commandIdProblem`).
  if (target === undefined || cmd.signalId === undefined) return;
  if (cmd.signalId.$case === "idx" && cmd.signalId.value === CANCEL_SIGNAL) {
    route(ctx, target.partitionKey, {
      command: {
        $case: "terminate",
        value: { invocationId: target.bytes, kind: TerminationKind.TERMINATION_KIND_CANCEL },
      },
    });
    return;
  }
  const result: Result =
    cmd.result?.$case === "failure"
      ? failureResult(cmd.result.value)
      : cmd.result?.$case === "value"
        ? valueResult(cmd.result.value.content)
        : VOID_RESULT;
  route(ctx, target.partitionKey, {
    command: {
      $case: "notifySignal",
      value: {
        invocationId: target.bytes,
        signalId:
          cmd.signalId.$case === "idx"
            ? { $case: "idx", value: cmd.signalId.value }
            : { $case: "name", value: cmd.signalId.value },
        result,
      },
    },
  });
}

type AttachTarget = AttachInvocationCommandMessage["target"];

/** Resolves the target of an Attach/GetInvocationOutput command to an invocation id. */
export function attachTargetId(target: AttachTarget): InvocationId | undefined {
  if (target === undefined) return undefined;
  switch (target.$case) {
    case "invocationId":
      return InvocationId.parse(target.value);
    case "idempotentRequestTarget": {
      const t = target.value;
      return idempotentInvocationId(
        {
          service: t.serviceName,
          handler: t.handlerName,
          key: t.serviceKey ?? "",
          keyed: t.serviceKey !== undefined,
        },
        t.idempotencyKey,
      );
    }
    case "workflowTarget":
      return workflowRunInvocationId(target.value.workflowName, target.value.workflowKey);
  }
}

function attach(
  ctx: ApplyContext,
  id: InvocationId,
  target: AttachTarget,
  completionId: number,
  block: boolean,
): void {
  const type = block
    ? MessageType.AttachInvocationCompletion
    : MessageType.GetInvocationOutputCompletion;
  const targetId = attachTargetId(target);
  if (targetId === undefined) {
    complete(ctx, id, type, completionId, {
      $case: "failure",
      value: failure(400, "bad attach target"),
    });
    return;
  }
  route(ctx, targetId.partitionKey, {
    command: {
      $case: "attach",
      value: {
        invocationId: targetId.bytes,
        sink: { invocationId: id.bytes, completionId, notificationType: type },
        block,
      },
    },
  });
}

/** Handles an attach request at the target's partition. */
export function applyAttach(
  ctx: ApplyContext,
  targetId: InvocationId,
  sink: NonNullable<ServiceInvocation["responseSink"]>,
  block: boolean,
): void {
  const status = ctx.tables.status(targetId);
  const sinkId = InvocationId.fromBytes(sink.invocationId);
  const answer = (result: Result): void =>
    route(ctx, PartitionKey(sinkId.partitionKey), {
      command: { $case: "invocationResponse", value: { sink, result } },
    });
  if (status === undefined) return answer(failureResult(failure(404, "invocation not found")));
  if (status.phase === InvocationPhase.INVOCATION_PHASE_COMPLETED) {
    assert(status.result !== undefined, "a completed invocation has a result");
    return answer(status.result);
  }
  if (!block) return answer(VOID_RESULT);
  status.responseSinks.push(sink);
  ctx.tables.putStatus(targetId, status);
}

export { resultToNotification };
