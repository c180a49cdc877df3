/**
 * Rows of `sys_invocation`, `sys_invocation_status` and `sys_invocation_state`, one column at a time:
 * each column has an extractor over a lazy view of the stored status (`StatusView`) and, for the
 * attempt columns and the derived status, the invoker's memory. Only the columns a query needs are
 * extracted, so a count touches little more than each status's phase.
 *
 * What a column shows follows Restate's `sys_invocation_status` (columns present only in the phases
 * where Restate fills them) and `sys_invocation_state` (attempt information while the invoker has a
 * task for the invocation).
 */

import { InvocationPhase, ServiceType, type Target, type WaitSet } from "../gen/keel/records.js";
import { InvocationId } from "../core/index.js";
import { journalEntryTypeName } from "../service-protocol/index.js";
import type { InvocationTaskInfo } from "../invoker/index.js";
import type { Row } from "./catalog.js";
import { StatusView } from "./status_view.js";

export type InvocationTable = "sys_invocation" | "sys_invocation_status" | "sys_invocation_state";

interface Subject {
  readonly id: string;
  readonly view: StatusView;
  /** The invoker's task, looked up only when a column needs it. */
  info(): InvocationTaskInfo | undefined;
}

type Extractor = (s: Subject, restateVersion: string) => unknown;

const SERVICE_TY: Record<number, string> = {
  [ServiceType.SERVICE_TYPE_SERVICE]: "service",
  [ServiceType.SERVICE_TYPE_VIRTUAL_OBJECT]: "virtual_object",
  [ServiceType.SERVICE_TYPE_WORKFLOW]: "workflow",
};

const RAW_STATUS: Record<number, string> = {
  [InvocationPhase.INVOCATION_PHASE_INBOXED]: "inboxed",
  [InvocationPhase.INVOCATION_PHASE_SCHEDULED]: "scheduled",
  [InvocationPhase.INVOCATION_PHASE_INVOKED]: "invoked",
  [InvocationPhase.INVOCATION_PHASE_SUSPENDED]: "suspended",
  [InvocationPhase.INVOCATION_PHASE_PAUSED]: "paused",
  [InvocationPhase.INVOCATION_PHASE_COMPLETED]: "completed",
};

/** `Svc/handler` or `Obj/key/handler`, as Restate formats targets. */
export function targetText(target: Target): string {
  return target.serviceType === ServiceType.SERVICE_TYPE_SERVICE
    ? `${target.service}/${target.handler}`
    : `${target.service}/${target.key}/${target.handler}`;
}

/** Restate's derived status (sys_invocation): running, backing-off and ready need the invoker. */
export function derivedStatus(
  phase: InvocationPhase,
  info: InvocationTaskInfo | undefined,
): string {
  switch (phase) {
    case InvocationPhase.INVOCATION_PHASE_INBOXED:
      return "pending";
    case InvocationPhase.INVOCATION_PHASE_INVOKED:
      if (info?.inFlight === true) return "running";
      return info !== undefined && info.retryCount > 0 ? "backing-off" : "ready";
    default:
      return RAW_STATUS[phase] ?? "unknown";
  }
}

const positive = (value: number): number | undefined => (value > 0 ? value : undefined);
const started = (s: Subject): boolean =>
  s.view.phase !== InvocationPhase.INVOCATION_PHASE_INBOXED &&
  s.view.phase !== InvocationPhase.INVOCATION_PHASE_SCHEDULED;
const isService = (s: Subject): boolean =>
  s.view.target.serviceType === ServiceType.SERVICE_TYPE_SERVICE;
const suspendedWaiting = (s: Subject): WaitSet | undefined =>
  s.view.phase === InvocationPhase.INVOCATION_PHASE_SUSPENDED ? s.view.waiting : undefined;
const completion = (s: Subject) =>
  s.view.phase === InvocationPhase.INVOCATION_PHASE_COMPLETED ? s.view.result?.kind : undefined;

function caller(s: Subject): { id: string; target: Target | undefined } | undefined {
  const source = s.view.source?.kind;
  if (source?.$case !== "service") return undefined;
  return {
    id: InvocationId.fromBytes(source.value.invocationId).toString(),
    target: source.value.target,
  };
}

function invokedBy(s: Subject): string {
  switch (s.view.source?.kind?.$case) {
    case "service":
      return "service";
    case "restartedFrom":
      return "restart_as_new";
    case "admin":
      return "restate";
    case "subscription":
      return "subscription";
    default:
      return "ingress";
  }
}

/** Restate's awaited-future JSON for a suspension: any of the awaited notifications. */
function waitingFutureJson(waiting: WaitSet): string {
  const singles = [
    ...waiting.completions.map((c) => ({ Single: { CompletionId: c } })),
    ...waiting.signals.map((n) => ({ Single: { SignalIndex: n } })),
    ...waiting.namedSignals.map((n) => ({ Single: { SignalName: n } })),
  ];
  return JSON.stringify(singles.length === 1 ? singles[0] : { Unknown: singles });
}

/** Restate's error code names, as `[500 Internal] message` shows them. */
const ERROR_CODE_NAMES: ReadonlyMap<number, string> = new Map([
  [400, "Bad request"],
  [404, "Not found"],
  [409, "Conflict"],
  [410, "Gone"],
  [415, "Unsupported media type"],
  [470, "Not ready"],
  [500, "Internal"],
  [570, "Journal mismatch"],
  [571, "Protocol violation"],
  [572, "Awaiting two async results"],
  [573, "Unsupported feature"],
]);

function failureText(failure: { code: number; message: string; stacktrace?: string }): string {
  const name = ERROR_CODE_NAMES.get(failure.code);
  const head = `[${failure.code}${name === undefined ? "" : ` ${name}`}] ${failure.message}`;
  return failure.stacktrace === undefined || failure.stacktrace === ""
    ? head
    : `${head}\n${failure.stacktrace}`;
}

const partitionKey: Extractor = (s) => InvocationId.parse(s.id)?.partitionKey;

/** The columns common to sys_invocation and sys_invocation_status. */
const STATUS_COLUMNS: Record<string, Extractor> = {
  partition_key: partitionKey,
  id: (s) => s.id,
  target: (s) => targetText(s.view.target),
  target_service_name: (s) => s.view.target.service,
  target_service_key: (s) => (isService(s) ? undefined : s.view.target.key),
  target_handler_name: (s) => s.view.target.handler,
  target_service_ty: (s) => SERVICE_TY[s.view.target.serviceType],
  idempotency_key: (s) => s.view.idempotencyKey,
  invoked_by: invokedBy,
  invoked_by_service_name: (s) => caller(s)?.target?.service,
  invoked_by_id: (s) => caller(s)?.id,
  invoked_by_subscription_id: (s) => {
    const source = s.view.source?.kind;
    return source?.$case === "subscription" ? source.value : undefined;
  },
  invoked_by_target: (s) => {
    const target = caller(s)?.target;
    return target === undefined ? undefined : targetText(target);
  },
  restarted_from: (s) => {
    const source = s.view.source?.kind;
    return source?.$case === "restartedFrom"
      ? InvocationId.fromBytes(source.value).toString()
      : undefined;
  },
  pinned_deployment_id: (s) => s.view.pinned?.deploymentId,
  pinned_service_protocol_version: (s) => s.view.pinned?.protocolVersion,
  journal_size: (s) =>
    started(s) ? (s.view.journalPurged ? 0 : s.view.number("journalLength")) : undefined,
  journal_commands_size: (s) =>
    started(s) ? (s.view.journalPurged ? 0 : s.view.number("commandCount")) : undefined,
  created_at: (s) => positive(s.view.number("createdAtMs")),
  created_using_restate_version: (_s, version) => version,
  modified_at: (s) => positive(s.view.number("modifiedAtMs")),
  inboxed_at: (s) => positive(s.view.number("inboxedAtMs")),
  scheduled_at: (s) => positive(s.view.number("scheduledAtMs")),
  scheduled_start_at: (s) => positive(s.view.number("executionTimeMs")),
  running_at: (s) => positive(s.view.number("runningAtMs")),
  completed_at: (s) => positive(s.view.number("completedAtMs")),
  completion_retention: (s) => s.view.number("completionRetentionMs"),
  journal_retention: (s) => s.view.number("journalRetentionMs"),
  suspended_waiting_for_completions: (s) => suspendedWaiting(s)?.completions,
  suspended_waiting_for_signals: (s) => suspendedWaiting(s)?.signals,
  suspended_waiting_future_json: (s) => {
    const waiting = suspendedWaiting(s);
    return waiting === undefined ? undefined : waitingFutureJson(waiting);
  },
  status: (s) => RAW_STATUS[s.view.phase],
  completion_result: (s) => {
    const result = completion(s);
    if (s.view.phase !== InvocationPhase.INVOCATION_PHASE_COMPLETED) return undefined;
    return result?.$case === "failure" ? "failure" : "success";
  },
  completion_failure: (s) => {
    const result = completion(s);
    return result?.$case === "failure"
      ? `[${result.value.code}] ${result.value.message}`
      : undefined;
  },
};

/** The sys_invocation_state columns, from the invoker's memory. */
const ATTEMPT_COLUMNS: Record<string, Extractor> = {
  in_flight: (s) => s.info()?.inFlight,
  retry_count: (s) => {
    const info = s.info();
    return info === undefined ? undefined : BigInt(info.retryCount);
  },
  last_start_at: (s) => s.info()?.lastStartAtMs,
  next_retry_at: (s) => s.info()?.nextRetryAtMs,
  last_attempt_deployment_id: (s) => s.info()?.lastDeploymentId,
  last_attempt_server: (s) => s.info()?.lastServer,
  last_failure: (s) => {
    const failure = s.info()?.lastFailure;
    if (failure !== undefined) return failureText(failure);
    // A paused invocation has no task: show why it paused, which the status keeps.
    const paused = s.view.phase === InvocationPhase.INVOCATION_PHASE_PAUSED;
    const last = paused ? s.view.lastFailure : undefined;
    return last === undefined ? undefined : failureText(last);
  },
  last_failure_error_code: (s) => s.info()?.lastFailure?.errorCode,
  last_failure_related_command_index: (s) => {
    const index = s.info()?.lastFailure?.relatedCommandIndex;
    return index === undefined ? undefined : BigInt(index);
  },
  last_failure_related_command_name: (s) => s.info()?.lastFailure?.relatedCommandName || undefined,
  last_failure_related_command_type: (s) => {
    const type = s.info()?.lastFailure?.relatedCommandType;
    return type === undefined ? undefined : journalEntryTypeName(type);
  },
};

const EXTRACTORS: Record<InvocationTable, Record<string, Extractor>> = {
  sys_invocation: {
    ...STATUS_COLUMNS,
    ...ATTEMPT_COLUMNS,
    status: (s) => derivedStatus(s.view.phase, s.info()),
  },
  sys_invocation_status: STATUS_COLUMNS,
  sys_invocation_state: { partition_key: partitionKey, id: (s) => s.id, ...ATTEMPT_COLUMNS },
};

/**
 * Builds the rows of one invocation table from stored statuses, extracting only `columns`.
 * `sys_invocation_state` has rows only for invocations the invoker is working on.
 */
export function invocationRowBuilder(
  table: InvocationTable,
  columns: readonly string[],
  restateVersion: string,
  invocationInfo: (id: InvocationId) => InvocationTaskInfo | undefined,
): (id: string, status: Uint8Array) => Row | undefined {
  const extractors = columns
    .map((name) => [name, EXTRACTORS[table][name]] as const)
    .filter((e): e is readonly [string, Extractor] => e[1] !== undefined);
  // One view for every row: extractors use it only while their row is being built.
  const view = new StatusView();
  return (id, bytes) => {
    view.load(bytes);
    let looked = false;
    let task: InvocationTaskInfo | undefined;
    const subject: Subject = {
      id,
      view,
      info: () => {
        if (!looked) {
          looked = true;
          const parsed =
            view.phase === InvocationPhase.INVOCATION_PHASE_INVOKED
              ? InvocationId.parse(id)
              : undefined;
          task = parsed === undefined ? undefined : invocationInfo(parsed);
        }
        return task;
      },
    };
    if (table === "sys_invocation_state" && subject.info() === undefined) return undefined;
    const row: Row = {};
    for (const [name, extract] of extractors) {
      const value = extract(subject, restateVersion);
      if (value !== undefined) row[name] = value;
    }
    return row;
  };
}
