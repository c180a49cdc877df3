/**
 * Rows of Restate's introspection tables, built from the partition stores, the schema and the
 * invoker's in-memory attempt state. Scans go in bounded chunks (`SCAN_CHUNK_ROWS` keys per store
 * read) and hand the event loop back between chunks, so a query never holds up the partitions' apply
 * loops for long; every chunk is charged to the query's budget (time and rows).
 *
 * Values follow the column types of `catalog.ts`: u64 as bigint, u32 as number, timestamps and
 * durations as milliseconds, binary as bytes; `undefined` is NULL. Columns a query does not need are
 * not computed when they are costly (journal JSON).
 */

import { fromUtf8Strict } from "../../core/bytes.js";
import {
  InboxEntry,
  InvocationPhase,
  InvocationStatus,
  JournalEntry,
  PromiseValue,
  ServiceType,
  VirtualObjectLock,
  type Target,
  type WaitSet,
} from "../../gen/keel/records.js";
import {
  INBOX_PREFIX,
  JOURNAL_PREFIX,
  LOCK_PREFIX,
  PROMISE_PREFIX,
  STATE_PREFIX,
  STATUS_PREFIX,
  journalPrefix,
  parseObjectKey,
  statePrefix,
  statusKey,
} from "../../partition/keys.js";
import type { PartitionReader } from "../../partition/store.js";
import { InvocationId } from "../../protocol/ids.js";
import { MessageType, journalEntryTypeName } from "../../protocol/message_types.js";
import { partitionKeyOf } from "../../protocol/partitioning.js";
import type { InvocationTaskInfo } from "../../runtime/invoker.js";
import {
  handlerTypeOf,
  retentionOf,
  type SchemaIndex,
  type ServiceSchema,
} from "../../schema/schema.js";
import { renderJournalEntry, type CallTarget, type JournalContext } from "./journal_json.js";
import type { TableNeeds } from "./plan.js";

export type Row = Record<string, unknown>;

/** What the tables are built from: KeelNode provides it. */
export interface SqlSource {
  readonly partitions: readonly { reader(): PartitionReader }[];
  schema(): SchemaIndex;
  invocationInfo(id: InvocationId): InvocationTaskInfo | undefined;
  partitionOf(key: bigint): number;
  /** The Restate version Keel reports (`created_using_restate_version`). */
  readonly restateVersion: string;
}

/** Limits of one query; `charge` throws a KeelError once a limit is passed. */
export interface ScanBudget {
  charge(rows: number): void;
  /** Hands the event loop back (between chunks). */
  pause(): Promise<void>;
}

export const SCAN_CHUNK_ROWS = 512;

async function* scanChunks(
  reader: () => PartitionReader,
  prefix: string,
  budget: ScanBudget,
): AsyncGenerator<[string, Uint8Array][]> {
  let after: string | undefined;
  for (;;) {
    const chunk = reader().scan(prefix, SCAN_CHUNK_ROWS, after);
    if (chunk.length === 0) return;
    budget.charge(chunk.length);
    yield chunk;
    if (chunk.length < SCAN_CHUNK_ROWS) return;
    after = chunk[chunk.length - 1]![0];
    await budget.pause();
  }
}

/** Rows of `table` for a query with `needs`, in chunks. */
export function tableRows(
  table: string,
  needs: TableNeeds,
  source: SqlSource,
  budget: ScanBudget,
): AsyncGenerator<Row[]> {
  const wanted = (column: string): boolean =>
    needs.columns === undefined || needs.columns.has(column);
  switch (table) {
    case "sys_invocation":
      return invocationRows(source, needs, budget, (id, status, info) =>
        invocationRow(id, status, info, wanted, true, source),
      );
    case "sys_invocation_status":
      return invocationRows(source, needs, budget, (id, status, info) =>
        invocationRow(id, status, info, wanted, false, source),
      );
    case "sys_invocation_state":
      return invocationRows(source, needs, budget, (id, status, info) =>
        status.phase === InvocationPhase.INVOCATION_PHASE_INVOKED && info !== undefined
          ? { partition_key: partitionKeyColumn(id, wanted), id, ...attemptColumns(info) }
          : undefined,
      );
    case "sys_journal":
      return journalRows(source, needs, budget, wanted);
    case "state":
      return stateRows(source, needs, budget);
    case "sys_inbox":
      return objectRows(source, INBOX_PREFIX, budget, (o, value) => {
        const entry = InboxEntry.decode(value);
        if (entry.kind?.$case !== "invocationId") return undefined;
        return {
          partition_key: o.partitionKey,
          service_name: o.service,
          service_key: o.key,
          id: InvocationId.fromBytes(entry.kind.value).toString(),
          // Keel numbers inbox entries from 1, Restate from 0.
          sequence_number: BigInt(parseInt(o.rest, 16) - 1),
        };
      });
    case "sys_keyed_service_status":
      return objectRows(source, LOCK_PREFIX, budget, (o, value) => ({
        partition_key: o.partitionKey,
        service_name: o.service,
        service_key: o.key,
        invocation_id: InvocationId.fromBytes(
          VirtualObjectLock.decode(value).invocationId,
        ).toString(),
      }));
    case "sys_promise":
      return objectRows(source, PROMISE_PREFIX, budget, (o, value) =>
        promiseRow(o, decodeURIComponent(o.rest), PromiseValue.decode(value)),
      );
    case "sys_service":
      return once(source.schema().schema.services.map(serviceRow));
    case "sys_deployment":
      return once(
        source.schema().schema.deployments.map((d) => ({
          id: d.id,
          ty: "http",
          endpoint: d.uri,
          created_at: d.createdAtMs,
          min_service_protocol_version: d.minProtocolVersion,
          max_service_protocol_version: d.maxProtocolVersion,
          services: d.services.map((s) => s.name),
        })),
      );
    default:
      // Tables of features Keel does not have (journal events, vqueues, limits) are empty.
      return once([]);
  }
}

async function* once(rows: Row[]): AsyncGenerator<Row[]> {
  await Promise.resolve();
  yield rows;
}

// ---- invocations ----

type InvocationRowBuilder = (
  id: string,
  status: InvocationStatus,
  info: InvocationTaskInfo | undefined,
) => Row | undefined;

/** Statuses of every partition, or only of the invocation ids the query filters on. */
async function* invocationRows(
  source: SqlSource,
  needs: TableNeeds,
  budget: ScanBudget,
  build: InvocationRowBuilder,
): AsyncGenerator<Row[]> {
  const ids = needs.filters.get("id");
  const infoOf = (text: string, status: InvocationStatus): InvocationTaskInfo | undefined => {
    if (status.phase !== InvocationPhase.INVOCATION_PHASE_INVOKED) return undefined;
    const id = InvocationId.parse(text);
    return id === undefined ? undefined : source.invocationInfo(id);
  };
  if (ids !== undefined) {
    const rows: Row[] = [];
    for (const text of ids) {
      const id = InvocationId.parse(text);
      if (id === undefined) continue;
      const raw = source.partitions[source.partitionOf(id.partitionKey)]
        ?.reader()
        .get(statusKey(id));
      if (raw === undefined) continue;
      const status = InvocationStatus.decode(raw);
      const row = build(text, status, infoOf(text, status));
      if (row !== undefined) rows.push(row);
    }
    budget.charge(rows.length);
    yield rows;
    return;
  }
  for (const partition of source.partitions) {
    for await (const chunk of scanChunks(() => partition.reader(), STATUS_PREFIX, budget)) {
      const rows: Row[] = [];
      for (const [key, value] of chunk) {
        const text = key.slice(STATUS_PREFIX.length);
        const status = InvocationStatus.decode(value);
        const row = build(text, status, infoOf(text, status));
        if (row !== undefined) rows.push(row);
      }
      yield rows;
    }
  }
}

function partitionKeyColumn(id: string, wanted: (c: string) => boolean): bigint | undefined {
  return wanted("partition_key") ? InvocationId.parse(id)?.partitionKey : undefined;
}

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

const ms = (value: number): number | undefined => (value > 0 ? value : undefined);

function invocationRow(
  id: string,
  status: InvocationStatus,
  info: InvocationTaskInfo | undefined,
  wanted: (column: string) => boolean,
  derived: boolean,
  source: SqlSource,
): Row {
  const target = status.target!;
  const phase = status.phase;
  const row: Row = {
    id,
    partition_key: derived ? undefined : partitionKeyColumn(id, wanted),
    target: targetText(target),
    target_service_name: target.service,
    target_service_key:
      target.serviceType === ServiceType.SERVICE_TYPE_SERVICE ? undefined : target.key,
    target_handler_name: target.handler,
    target_service_ty: SERVICE_TY[target.serviceType],
    idempotency_key: status.idempotencyKey === "" ? undefined : status.idempotencyKey,
    created_at: ms(status.createdAtMs),
    modified_at: ms(status.modifiedAtMs),
    inboxed_at: ms(status.inboxedAtMs),
    scheduled_at: ms(status.scheduledAtMs),
    running_at: ms(status.runningAtMs),
    completed_at: ms(status.completedAtMs),
    scheduled_start_at: status.executionTimeMs > 0 ? status.executionTimeMs : undefined,
    completion_retention: status.completionRetentionMs,
    journal_retention: status.journalRetentionMs,
    created_using_restate_version: source.restateVersion,
    status: derived ? derivedStatus(phase, info) : RAW_STATUS[phase],
  };
  Object.assign(row, invokedBy(status));
  const started =
    phase !== InvocationPhase.INVOCATION_PHASE_INBOXED &&
    phase !== InvocationPhase.INVOCATION_PHASE_SCHEDULED;
  if (status.pinned !== undefined) {
    row["pinned_deployment_id"] = status.pinned.deploymentId;
    row["pinned_service_protocol_version"] = status.pinned.protocolVersion;
  }
  if (started) {
    row["journal_size"] = status.journalPurged ? 0 : status.journalLength;
    row["journal_commands_size"] = status.journalPurged ? 0 : status.commandCount;
  }
  if (phase === InvocationPhase.INVOCATION_PHASE_SUSPENDED && status.waiting !== undefined) {
    row["suspended_waiting_for_completions"] = status.waiting.completions;
    row["suspended_waiting_for_signals"] = status.waiting.signals;
    if (wanted("suspended_waiting_future_json"))
      row["suspended_waiting_future_json"] = waitingFutureJson(status.waiting);
  }
  if (phase === InvocationPhase.INVOCATION_PHASE_COMPLETED) {
    const result = status.result?.kind;
    row["completion_result"] = result?.$case === "failure" ? "failure" : "success";
    if (result?.$case === "failure")
      row["completion_failure"] = `[${result.value.code}] ${result.value.message}`;
  }
  if (derived && info !== undefined) Object.assign(row, attemptColumns(info));
  else if (derived && phase === InvocationPhase.INVOCATION_PHASE_PAUSED && status.lastFailure)
    row["last_failure"] = failureText(status.lastFailure);
  return row;
}

function invokedBy(status: InvocationStatus): Row {
  const source = status.source?.kind;
  switch (source?.$case) {
    case "service": {
      const caller = source.value.target;
      return {
        invoked_by: "service",
        invoked_by_service_name: caller?.service,
        invoked_by_id: InvocationId.fromBytes(source.value.invocationId).toString(),
        invoked_by_target: caller === undefined ? undefined : targetText(caller),
      };
    }
    case "restartedFrom":
      return {
        invoked_by: "restart_as_new",
        restarted_from: InvocationId.fromBytes(source.value).toString(),
      };
    case "admin":
      return { invoked_by: "restate" };
    default:
      return { invoked_by: "ingress" };
  }
}

/** Restate's awaited-future JSON for a suspension: any of the awaited notifications. */
function waitingFutureJson(waiting: WaitSet): string {
  const singles = [
    ...waiting.completions.map((c) => ({ Single: { CompletionId: c } })),
    ...waiting.signals.map((s) => ({ Single: { SignalIndex: s } })),
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

function failureText(failure: {
  code: number;
  message: string;
  stacktrace?: string | undefined;
}): string {
  const name = ERROR_CODE_NAMES.get(failure.code);
  const head = `[${failure.code}${name === undefined ? "" : ` ${name}`}] ${failure.message}`;
  return failure.stacktrace === undefined || failure.stacktrace === ""
    ? head
    : `${head}\n${failure.stacktrace}`;
}

/** The sys_invocation_state columns, from the invoker's memory. */
function attemptColumns(info: InvocationTaskInfo): Row {
  const row: Row = {
    in_flight: info.inFlight,
    retry_count: BigInt(info.retryCount),
    last_start_at: info.lastStartAtMs,
    next_retry_at: info.nextRetryAtMs,
    last_attempt_deployment_id: info.lastDeploymentId,
    last_attempt_server: info.lastServer,
  };
  const failure = info.lastFailure;
  if (failure !== undefined) {
    row["last_failure"] = failureText(failure);
    if (failure.relatedCommandIndex !== undefined)
      row["last_failure_related_command_index"] = BigInt(failure.relatedCommandIndex);
    if (failure.relatedCommandName !== undefined && failure.relatedCommandName !== "")
      row["last_failure_related_command_name"] = failure.relatedCommandName;
    if (failure.relatedCommandType !== undefined)
      row["last_failure_related_command_type"] = journalEntryTypeName(failure.relatedCommandType);
  }
  return row;
}

// ---- journal ----

async function* journalRows(
  source: SqlSource,
  needs: TableNeeds,
  budget: ScanBudget,
  wanted: (column: string) => boolean,
): AsyncGenerator<Row[]> {
  const ids = needs.filters.get("id");
  if (ids !== undefined) {
    for (const text of ids) {
      const id = InvocationId.parse(text);
      const partition =
        id === undefined ? undefined : source.partitions[source.partitionOf(id.partitionKey)];
      if (id === undefined || partition === undefined) continue;
      const entries: IndexedEntry[] = [];
      for await (const chunk of scanChunks(() => partition.reader(), journalPrefix(id), budget))
        for (const [key, value] of chunk) entries.push(indexedEntry(key, value));
      yield journalEntryRows(id, text, entries, wanted, source);
    }
    return;
  }
  // One range scan per partition; an invocation's entries are adjacent in key order.
  for (const partition of source.partitions) {
    let current: { text: string; entries: IndexedEntry[] } | undefined;
    const flush = (): Row[] => {
      if (current === undefined) return [];
      const id = InvocationId.parse(current.text);
      return id === undefined
        ? []
        : journalEntryRows(id, current.text, current.entries, wanted, source);
    };
    for await (const chunk of scanChunks(() => partition.reader(), JOURNAL_PREFIX, budget)) {
      const rows: Row[] = [];
      for (const [key, value] of chunk) {
        const text = key.slice(JOURNAL_PREFIX.length, key.lastIndexOf("/"));
        if (current?.text !== text) {
          rows.push(...flush());
          current = { text, entries: [] };
        }
        current.entries.push(indexedEntry(key, value));
      }
      yield rows;
    }
    yield flush();
  }
}

interface IndexedEntry {
  readonly index: number;
  readonly entry: JournalEntry;
}

function indexedEntry(key: string, value: Uint8Array): IndexedEntry {
  return {
    index: parseInt(key.slice(key.lastIndexOf("/") + 1), 16),
    entry: JournalEntry.decode(value),
  };
}

function journalEntryRows(
  id: InvocationId,
  text: string,
  entries: readonly IndexedEntry[],
  wanted: (column: string) => boolean,
  source: SqlSource,
): Row[] {
  const rendering = wanted("entry_json") || wanted("entry_lite_json") || wanted("name");
  const callees = new Map<number, string>();
  if (rendering) {
    for (const { entry } of entries) {
      if (entry.messageType !== MessageType.CallInvocationIdCompletion) continue;
      const rendered = JSON.parse(
        renderJournalEntry(entry.messageType, entry.raw, NO_CONTEXT).json,
      ) as {
        Notification: {
          Completion: { CallInvocationId: { completion_id: number; invocation_id: string } };
        };
      };
      const c = rendered.Notification.Completion.CallInvocationId;
      callees.set(c.completion_id, c.invocation_id);
    }
  }
  const ctx: JournalContext = {
    calleeId: (completionId) => callees.get(completionId),
    callTarget: (service, handler) => callTargetOf(source.schema(), service, handler),
  };
  const partitionKey = wanted("partition_key") ? id.partitionKey : undefined;
  return entries.map(({ index, entry }) => {
    const rendered = rendering ? renderJournalEntry(entry.messageType, entry.raw, ctx) : undefined;
    return {
      partition_key: partitionKey,
      id: text,
      index,
      entry_type: journalEntryTypeName(entry.messageType),
      name: rendered?.name,
      raw: entry.raw,
      raw_length: BigInt(entry.raw.length),
      version: 2,
      entry_json: rendered?.json,
      entry_lite_json: rendered?.lite,
      appended_at: ms(entry.appendedAtMs),
    };
  });
}

const NO_CONTEXT: JournalContext = { calleeId: () => undefined, callTarget: () => undefined };

function callTargetOf(
  schema: SchemaIndex,
  service: string,
  handler: string,
): CallTarget | undefined {
  const resolved = schema.handler(service, handler);
  if (resolved === undefined) return undefined;
  const retention = retentionOf(resolved.service, resolved.handler, false);
  return {
    serviceType: resolved.service.ty,
    handlerType: handlerTypeOf(resolved.service, resolved.handler),
    completionRetentionMs: retention.completionRetentionMs,
    journalRetentionMs: retention.journalRetentionMs,
  };
}

// ---- keyed tables ----

interface ObjectKeyParts {
  partitionKey: bigint;
  service: string;
  key: string;
  rest: string;
}

async function* objectRows(
  source: SqlSource,
  prefix: string,
  budget: ScanBudget,
  build: (o: ObjectKeyParts, value: Uint8Array) => Row | undefined,
): AsyncGenerator<Row[]> {
  for (const partition of source.partitions) {
    for await (const chunk of scanChunks(() => partition.reader(), prefix, budget)) {
      const rows: Row[] = [];
      for (const [key, value] of chunk) {
        const parts = parseObjectKey(key);
        if (parts === undefined) continue;
        const row = build(parts, value);
        if (row !== undefined) rows.push(row);
      }
      yield rows;
    }
  }
}

function stateRow(o: ObjectKeyParts, value: Uint8Array): Row {
  const keyBytes = hexBytes(o.rest);
  const key = fromUtf8Strict(keyBytes) ?? o.rest;
  return {
    partition_key: o.partitionKey,
    service_name: o.service,
    service_key: o.key,
    key,
    key_length: BigInt(keyBytes.length),
    value_utf8: fromUtf8Strict(value),
    value,
    value_length: BigInt(value.length),
  };
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** State rows, narrowed to one partition and key prefix when the query names service and key. */
async function* stateRows(
  source: SqlSource,
  needs: TableNeeds,
  budget: ScanBudget,
): AsyncGenerator<Row[]> {
  const services = needs.filters.get("service_name");
  const keys = needs.filters.get("service_key");
  if (services === undefined || keys === undefined) {
    yield* objectRows(source, STATE_PREFIX, budget, stateRow);
    return;
  }
  for (const service of services) {
    for (const key of keys) {
      const partitionKey = partitionKeyOf(key);
      const partition = source.partitions[source.partitionOf(partitionKey)];
      if (partition === undefined) continue;
      const prefix = statePrefix({ partitionKey, service, key });
      for await (const chunk of scanChunks(() => partition.reader(), prefix, budget)) {
        yield chunk.map(([k, value]) => stateRow(parseObjectKey(k)!, value));
      }
    }
  }
}

function promiseRow(o: ObjectKeyParts, name: string, promise: PromiseValue): Row {
  const row: Row = {
    partition_key: o.partitionKey,
    service_name: o.service,
    service_key: o.key,
    key: name,
    completed: promise.completed !== undefined,
  };
  const result = promise.completed?.kind;
  if (result?.$case === "value") {
    row["completion_success_value"] = result.value;
    row["completion_success_value_utf8"] = fromUtf8Strict(result.value);
  } else if (result?.$case === "void") {
    row["completion_success_value"] = new Uint8Array(0);
    row["completion_success_value_utf8"] = "";
  } else if (result?.$case === "failure") {
    row["completion_failure"] = `[${result.value.code}] ${result.value.message}`;
  }
  return row;
}

function serviceRow(service: ServiceSchema): Row {
  return {
    name: service.name,
    revision: BigInt(service.revision),
    public: service.public,
    ty:
      service.ty === "Service"
        ? "service"
        : service.ty === "VirtualObject"
          ? "virtual_object"
          : "workflow",
    deployment_id: service.deploymentId,
  };
}
