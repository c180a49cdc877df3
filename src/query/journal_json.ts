/**
 * Journal entries as Restate's `sys_journal` renders them in `entry_json` (the serde form of Restate's
 * `Entry`, which the CLI parses back to show "Sleep until …", call targets, state keys) and in
 * `entry_lite_json` (the same without payloads). Keel journals hold the SDK's protocol messages; the
 * parts Restate keeps beside them (a call's resolved target and callee id) come from the rest of the
 * journal and the schema, through `JournalContext`.
 */

import { fromUtf8 } from "../core/index.js";
import {
  AttachInvocationCommandMessage,
  CallCommandMessage,
  ClearAllStateCommandMessage,
  ClearStateCommandMessage,
  CompleteAwakeableCommandMessage,
  CompletePromiseCommandMessage,
  GetEagerStateCommandMessage,
  GetEagerStateKeysCommandMessage,
  GetInvocationOutputCommandMessage,
  GetLazyStateCommandMessage,
  GetLazyStateKeysCommandMessage,
  GetPromiseCommandMessage,
  InputCommandMessage,
  NotificationMessage,
  OneWayCallCommandMessage,
  OutputCommandMessage,
  PeekPromiseCommandMessage,
  RunCommandMessage,
  SendSignalCommandMessage,
  SetStateCommandMessage,
  SleepCommandMessage,
  type Failure,
  type Header,
} from "../gen/keel/service_protocol.js";
import { MessageType, entryShortName, isCommand } from "../service-protocol/index.js";

type Json = unknown;

/** A call's target as Restate records it (resolved against the schema). */
export interface CallTarget {
  readonly serviceType: "Service" | "VirtualObject" | "Workflow";
  readonly handlerType: "Exclusive" | "Shared" | "Workflow" | undefined;
  readonly completionRetentionMs: number;
  readonly journalRetentionMs: number;
}

export interface JournalContext {
  /** The callee id announced by the CallInvocationId notification with this completion id. */
  calleeId(completionId: number): string | undefined;
  /** How the schema resolves a call target. */
  callTarget(service: string, handler: string): CallTarget | undefined;
}

export interface RenderedEntry {
  readonly name: string | undefined;
  readonly json: string;
  readonly lite: string;
}

const bytes = (value: Uint8Array | undefined): number[] => [...(value ?? [])];
const text = (value: Uint8Array): string => fromUtf8(value);

function failureJson(failure: Failure): Json {
  const out: Record<string, Json> = { code: failure.code, message: failure.message };
  if (failure.metadata.length > 0)
    out["metadata"] = failure.metadata.map((m) => ({ key: m.key, value: m.value }));
  return out;
}

function headersJson(headers: readonly Header[]): Json {
  return headers.map((h) => ({ name: h.key, value: h.value }));
}

const seconds = (ms: number): Json => ({
  secs: Math.floor(ms / 1000),
  nanos: (ms % 1000) * 1_000_000,
});

const EMPTY_SPAN_CONTEXT = {
  span_context: {
    trace_id: new Array<number>(16).fill(0),
    span_id: new Array<number>(8).fill(0),
    trace_flags: 0,
    is_remote: false,
    trace_state: "",
  },
  cause: null,
};

function invocationTarget(
  service: string,
  handler: string,
  key: string,
  target: CallTarget | undefined,
): Json {
  const serviceType = target?.serviceType ?? (key === "" ? "Service" : "VirtualObject");
  if (serviceType === "Service") return { Service: { name: service, handler, scope: null } };
  const handlerTy = target?.handlerType ?? (serviceType === "Workflow" ? "Workflow" : "Exclusive");
  return { [serviceType]: { name: service, key, handler, handler_ty: handlerTy, scope: null } };
}

function commandJson(type: number, raw: Uint8Array, ctx: JournalContext): RenderedEntry {
  const named = (
    name: string,
    body: Record<string, Json>,
    lite: Record<string, Json>,
  ): RenderedEntry => {
    const kind = entryShortName(type)!;
    return {
      name,
      json: JSON.stringify({ Command: { [kind]: body } }),
      lite: JSON.stringify({ Command: { [kind]: lite } }),
    };
  };
  switch (type) {
    case MessageType.InputCommand: {
      const m = InputCommandMessage.decode(raw);
      return named(
        m.name,
        { headers: headersJson(m.headers), payload: bytes(m.value?.content), name: m.name },
        {},
      );
    }
    case MessageType.OutputCommand: {
      const m = OutputCommandMessage.decode(raw);
      const failed = m.result?.$case === "failure";
      const result =
        m.result?.$case === "failure"
          ? { Failure: failureJson(m.result.value) }
          : { Success: bytes(m.result?.$case === "value" ? m.result.value.content : undefined) };
      return named(m.name, { result, name: m.name }, { result: failed ? "Failure" : "Success" });
    }
    case MessageType.GetLazyStateCommand: {
      const m = GetLazyStateCommandMessage.decode(raw);
      const key = text(m.key);
      return named(
        m.name,
        { key, completion_id: m.resultCompletionId, name: m.name },
        { key, completion_id: m.resultCompletionId },
      );
    }
    case MessageType.SetStateCommand: {
      const m = SetStateCommandMessage.decode(raw);
      const key = text(m.key);
      return named(m.name, { key, value: bytes(m.value?.content), name: m.name }, { key });
    }
    case MessageType.ClearStateCommand: {
      const m = ClearStateCommandMessage.decode(raw);
      const key = text(m.key);
      return named(m.name, { key, name: m.name }, { key });
    }
    case MessageType.ClearAllStateCommand: {
      const m = ClearAllStateCommandMessage.decode(raw);
      return named(m.name, { name: m.name }, {});
    }
    case MessageType.GetLazyStateKeysCommand: {
      const m = GetLazyStateKeysCommandMessage.decode(raw);
      return named(
        m.name,
        { completion_id: m.resultCompletionId, name: m.name },
        { completion_id: m.resultCompletionId },
      );
    }
    case MessageType.GetEagerStateCommand: {
      const m = GetEagerStateCommandMessage.decode(raw);
      const key = text(m.key);
      const value = m.result?.$case === "value" ? m.result.value.content : undefined;
      return named(
        m.name,
        { key, result: value === undefined ? "Void" : { Success: bytes(value) }, name: m.name },
        { key, result: value === undefined ? "Void" : "Success" },
      );
    }
    case MessageType.GetEagerStateKeysCommand: {
      const m = GetEagerStateKeysCommandMessage.decode(raw);
      return named(m.name, { state_keys: (m.value?.keys ?? []).map(text), name: m.name }, {});
    }
    case MessageType.GetPromiseCommand:
    case MessageType.PeekPromiseCommand: {
      const m =
        type === MessageType.GetPromiseCommand
          ? GetPromiseCommandMessage.decode(raw)
          : PeekPromiseCommandMessage.decode(raw);
      return named(
        m.name,
        { key: m.key, completion_id: m.resultCompletionId, name: m.name },
        { key: m.key, completion_id: m.resultCompletionId },
      );
    }
    case MessageType.CompletePromiseCommand: {
      const m = CompletePromiseCommandMessage.decode(raw);
      const value =
        m.completion?.$case === "completionFailure"
          ? { Failure: failureJson(m.completion.value) }
          : {
              Success: bytes(
                m.completion?.$case === "completionValue" ? m.completion.value.content : undefined,
              ),
            };
      return named(
        m.name,
        { key: m.key, value, completion_id: m.resultCompletionId, name: m.name },
        { key: m.key, completion_id: m.resultCompletionId },
      );
    }
    case MessageType.SleepCommand: {
      const m = SleepCommandMessage.decode(raw);
      const lite: Record<string, Json> = {
        wake_up_time: m.wakeUpTime,
        completion_id: m.resultCompletionId,
      };
      if (m.name !== "") lite["name"] = m.name;
      return named(
        m.name,
        { wake_up_time: m.wakeUpTime, completion_id: m.resultCompletionId, name: m.name },
        lite,
      );
    }
    case MessageType.CallCommand:
    case MessageType.OneWayCallCommand:
      return callJson(type, raw, ctx);
    case MessageType.SendSignalCommand: {
      const m = SendSignalCommandMessage.decode(raw);
      const signalId =
        m.signalId?.$case === "signalName"
          ? { Name: m.signalId.value }
          : { Index: m.signalId?.$case === "idx" ? m.signalId.value : 0 };
      const result =
        m.result?.$case === "value"
          ? { Success: bytes(m.result.value.content) }
          : m.result?.$case === "failure"
            ? { Failure: failureJson(m.result.value) }
            : "Void";
      const liteResult =
        m.result?.$case === "value"
          ? "Success"
          : m.result?.$case === "failure"
            ? "Failure"
            : "Void";
      return named(
        m.entryName,
        {
          target_invocation_id: m.targetInvocationId,
          signal_id: signalId,
          result,
          name: m.entryName,
        },
        { target_invocation_id: m.targetInvocationId, signal_id: signalId, result: liteResult },
      );
    }
    case MessageType.RunCommand: {
      const m = RunCommandMessage.decode(raw);
      const lite: Record<string, Json> = { completion_id: m.resultCompletionId };
      if (m.name !== "") lite["name"] = m.name;
      return named(m.name, { completion_id: m.resultCompletionId, name: m.name }, lite);
    }
    case MessageType.AttachInvocationCommand:
    case MessageType.GetInvocationOutputCommand: {
      const m =
        type === MessageType.AttachInvocationCommand
          ? AttachInvocationCommandMessage.decode(raw)
          : GetInvocationOutputCommandMessage.decode(raw);
      const target = attachTargetJson(m.target);
      return named(
        m.name,
        { target, completion_id: m.resultCompletionId, name: m.name },
        { target, completion_id: m.resultCompletionId },
      );
    }
    case MessageType.CompleteAwakeableCommand: {
      const m = CompleteAwakeableCommandMessage.decode(raw);
      const failed = m.result?.$case === "failure";
      const result =
        m.result?.$case === "failure"
          ? { Failure: failureJson(m.result.value) }
          : { Success: bytes(m.result?.$case === "value" ? m.result.value.content : undefined) };
      return named(
        m.name,
        { id: m.awakeableId, result, name: m.name },
        { id: m.awakeableId, result: failed ? "Failure" : "Success" },
      );
    }
    default:
      return {
        name: undefined,
        json: JSON.stringify({ Command: { Unknown: type } }),
        lite: JSON.stringify({ Command: { Unknown: type } }),
      };
  }
}

function attachTargetJson(target: AttachInvocationCommandMessage["target"]): Json {
  switch (target?.$case) {
    case "invocationId":
      return { InvocationId: target.value };
    case "idempotentRequestTarget": {
      const t = target.value;
      return {
        IdempotentRequest: {
          service_name: t.serviceName,
          service_key: t.serviceKey ?? null,
          service_handler: t.handlerName,
          idempotency_key: t.idempotencyKey,
        },
      };
    }
    case "workflowTarget":
      return { Workflow: { name: target.value.workflowName, key: target.value.workflowKey } };
    default:
      return null;
  }
}

function callJson(type: number, raw: Uint8Array, ctx: JournalContext): RenderedEntry {
  const oneWay = type === MessageType.OneWayCallCommand;
  const m = oneWay ? OneWayCallCommandMessage.decode(raw) : CallCommandMessage.decode(raw);
  const resolved = ctx.callTarget(m.serviceName, m.handlerName);
  const invocationId = ctx.calleeId(m.invocationIdNotificationIdx) ?? null;
  const target = invocationTarget(m.serviceName, m.handlerName, m.key, resolved);
  const request = {
    invocation_id: invocationId,
    invocation_target: target,
    span_context: EMPTY_SPAN_CONTEXT,
    parameter: bytes(m.parameter),
    headers: headersJson(m.headers),
    idempotency_key: m.idempotencyKey ?? null,
    completion_retention_duration: seconds(resolved?.completionRetentionMs ?? 0),
    journal_retention_duration: seconds(resolved?.journalRetentionMs ?? 0),
  };
  const kind = oneWay ? "OneWayCall" : "Call";
  const invokeTime = "invokeTime" in m ? m.invokeTime : 0;
  const body: Record<string, Json> = oneWay
    ? {
        request,
        invoke_time: invokeTime,
        invocation_id_completion_id: m.invocationIdNotificationIdx,
      }
    : {
        request,
        invocation_id_completion_id: m.invocationIdNotificationIdx,
        result_completion_id: "resultCompletionId" in m ? m.resultCompletionId : 0,
      };
  body["name"] = m.name;
  const lite: Record<string, Json> = { invocation_id: invocationId, invocation_target: target };
  if (oneWay) lite["invoke_time"] = invokeTime;
  lite["invocation_id_completion_id"] = m.invocationIdNotificationIdx;
  if (!oneWay) lite["result_completion_id"] = body["result_completion_id"];
  if (m.name !== "") lite["name"] = m.name;
  return {
    name: m.name,
    json: JSON.stringify({ Command: { [kind]: body } }),
    lite: JSON.stringify({ Command: { [kind]: lite } }),
  };
}

function notificationJson(type: number, raw: Uint8Array): RenderedEntry {
  const m = NotificationMessage.decode(raw);
  const result = m.result;
  let full: Json;
  let liteResult: string;
  switch (result?.$case) {
    case "value":
      full = { Success: bytes(result.value.content) };
      liteResult = "Success";
      break;
    case "failure":
      full = { Failure: failureJson(result.value) };
      liteResult = "Failure";
      break;
    case "invocationId":
      full = result.value;
      liteResult = "InvocationId";
      break;
    case "stateKeys":
      full = result.value.keys.map(text);
      liteResult = "StateKeys";
      break;
    default:
      full = "Void";
      liteResult = "Void";
  }
  if (type === MessageType.SignalNotification) {
    const id =
      m.id?.$case === "signalName"
        ? { Name: m.id.value }
        : { Index: m.id?.$case === "signalIdx" ? m.id.value : 0 };
    const liteId =
      m.id?.$case === "signalName" ? { SignalName: m.id.value } : { SignalIndex: id.Index ?? 0 };
    return {
      name: undefined,
      json: JSON.stringify({ Notification: { Signal: { id, result: full } } }),
      lite: JSON.stringify({ Notification: { ty: "Signal", id: liteId, result: liteResult } }),
    };
  }
  const kind = entryShortName(type) ?? `Unknown(${type})`;
  const completionId = m.id?.$case === "completionId" ? m.id.value : 0;
  const body: Record<string, Json> = { completion_id: completionId };
  switch (type) {
    case MessageType.SleepCompletion:
      break;
    case MessageType.CallInvocationIdCompletion:
      body["invocation_id"] = full;
      break;
    case MessageType.GetLazyStateKeysCompletion:
      body["state_keys"] = Array.isArray(full) ? full : [];
      break;
    default:
      body["result"] = full;
  }
  return {
    name: undefined,
    json: JSON.stringify({ Notification: { Completion: { [kind]: body } } }),
    lite: JSON.stringify({
      Notification: {
        ty: { Completion: kind },
        id: { CompletionId: completionId },
        result: liteResult,
      },
    }),
  };
}

/** Renders one journal entry; undecodable bytes are rendered as an unknown entry, never thrown. */
export function renderJournalEntry(
  messageType: number,
  raw: Uint8Array,
  ctx: JournalContext,
): RenderedEntry {
  try {
    return isCommand(messageType)
      ? commandJson(messageType, raw, ctx)
      : notificationJson(messageType, raw);
  } catch {
    const unknown = JSON.stringify({ Unknown: messageType });
    return { name: undefined, json: unknown, lite: unknown };
  }
}
