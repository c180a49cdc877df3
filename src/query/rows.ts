/**
 * Rows of Restate's introspection tables, built from the partition stores, the schema and the
 * invoker's in-memory attempt state. Scans go in bounded chunks (`SCAN_CHUNK_ROWS` keys per store
 * read) and hand the event loop back between chunks, so a query never holds up the partitions' apply
 * loops for long; every chunk is charged to the query's budget (time and rows).
 *
 * Values follow the column types of `catalog.ts`: u64 as bigint, u32 as number, timestamps and
 * durations as milliseconds, binary as bytes; `undefined` is NULL. Columns a query does not need are
 * not computed when they are costly (invocation columns, see `invocation_rows.ts`; journal JSON).
 */

import { fromUtf8Strict, toHex, InvocationId, partitionKeyOf } from "../core/index.js";
import { JournalEntry, type PromiseValue } from "../gen/keel/records.js";
import {
  INBOX_PREFIX,
  JOURNAL_PREFIX,
  LOCK_PREFIX,
  PROMISE_PREFIX,
  STATE_PREFIX,
  STATUS_PREFIX,
  invocationIdAfter,
  journalPrefix,
  statePrefix,
  statusKey,
  type ObjectRef,
  decodeInboxEntry,
  decodeLockEntry,
  decodePromiseEntry,
  decodeStateEntry,
} from "../partition-store/index.js";
import { NotificationMessage } from "../gen/keel/service_protocol.js";
import { MessageType, journalEntryTypeName } from "../service-protocol/index.js";
import type { InvocationTaskInfo } from "../invoker/index.js";
import {
  handlerTypeOf,
  retentionOf,
  type SchemaIndex,
  type ServiceSchema,
} from "../schema/index.js";
import { tableDef, type Row } from "./catalog.js";
import { invocationRowBuilder, type InvocationTable } from "./invocation_rows.js";
import { renderJournalEntry, type CallTarget, type JournalContext } from "./journal_json.js";
import type { TableNeeds } from "./plan.js";

export type { Row };

/** What the tables are built from: KeelNode provides it. */
/** A partition as SQL reads it: chunks of its store in key order, wherever it is led. */
export interface SqlPartition {
  scan(prefix: string, limit: number, startAfter?: string): Promise<[string, Uint8Array][]>;
  /** What the invoker of the partition's leader knows of these invocations, by id (text form). */
  invocationInfos(ids: readonly InvocationId[]): Promise<ReadonlyMap<string, InvocationTaskInfo>>;
}

export interface SqlSource {
  /** By partition id. */
  readonly partitions: readonly SqlPartition[];
  schema(): SchemaIndex;
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

export const SCAN_CHUNK_ROWS = 1024;

/**
 * A partition's entries under `prefix` in chunks. A chunk shorter than asked ends the scan only when
 * the partition is read here; one from another node may have been cut short to fit a message, so the
 * scan goes on until a chunk comes back empty.
 */
async function* scanChunks(
  partition: SqlPartition,
  prefix: string,
  budget: ScanBudget,
): AsyncGenerator<[string, Uint8Array][]> {
  let after: string | undefined;
  for (;;) {
    const chunk = await partition.scan(prefix, SCAN_CHUNK_ROWS, after);
    if (chunk.length === 0) return;
    budget.charge(chunk.length);
    yield chunk;
    after = chunk[chunk.length - 1]![0];
    await budget.pause();
  }
}

/** The value stored under exactly `key` in a partition. */
async function getEntry(partition: SqlPartition, key: string): Promise<Uint8Array | undefined> {
  const [found] = await partition.scan(key, 1);
  return found !== undefined && found[0] === key ? found[1] : undefined;
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
    case "sys_invocation_status":
    case "sys_invocation_state":
      return invocationRows(table, source, needs, budget);
    case "sys_journal":
      return journalRows(source, needs, budget, wanted);
    case "state":
      return stateRows(source, needs, budget);
    case "sys_inbox":
      return objectRows(source, INBOX_PREFIX, budget, (key, value) => {
        const inbox = decodeInboxEntry(key, value);
        const kind = inbox?.entry.kind;
        if (inbox === undefined || kind?.$case !== "invocationId") return undefined;
        return {
          ...objectColumns(inbox.object),
          id: InvocationId.fromBytes(kind.value).toString(),
          // Keel numbers inbox entries from 1, Restate from 0.
          sequence_number: BigInt(inbox.seq - 1),
        };
      });
    case "sys_keyed_service_status":
      return objectRows(source, LOCK_PREFIX, budget, (key, value) => {
        const lock = decodeLockEntry(key, value);
        if (lock === undefined) return undefined;
        return { ...objectColumns(lock.object), invocation_id: lock.holder.toString() };
      });
    case "sys_promise":
      return objectRows(source, PROMISE_PREFIX, budget, (key, value) => {
        const entry = decodePromiseEntry(key, value);
        return entry === undefined
          ? undefined
          : promiseRow(entry.object, entry.name, entry.promise);
      });
    case "sys_service":
      return once(source.schema().services.map(serviceRow));
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

/** Statuses of every partition, or only of the invocation ids the query filters on. */
async function* invocationRows(
  table: InvocationTable,
  source: SqlSource,
  needs: TableNeeds,
  budget: ScanBudget,
): AsyncGenerator<Row[]> {
  const columns = needs.columns ?? tableDef(table).columns.map((c) => c.name);
  // The invoker's view is read per chunk, from the node leading the partition.
  let infos: ReadonlyMap<string, InvocationTaskInfo> = new Map();
  const build = invocationRowBuilder(table, [...columns], source.restateVersion, (id) =>
    infos.get(id.toString()),
  );
  const ids = needs.filters.get("id");
  if (ids !== undefined) {
    const rows: Row[] = [];
    for (const text of ids) {
      const id = InvocationId.parse(text);
      if (id === undefined) continue;
      const partition = source.partitions[source.partitionOf(id.partitionKey)];
      const raw = partition === undefined ? undefined : await getEntry(partition, statusKey(id));
      if (raw === undefined) continue;
      infos = await partition!.invocationInfos([id]);
      const row = build(text, raw);
      if (row !== undefined) rows.push(row);
    }
    budget.charge(rows.length);
    yield rows;
    return;
  }
  for (const partition of source.partitions) {
    for await (const chunk of scanChunks(partition, STATUS_PREFIX, budget)) {
      const chunkIds = chunk.map(([key]) => invocationIdAfter(STATUS_PREFIX, key));
      infos = await partition.invocationInfos(chunkIds.filter((id) => id !== undefined));
      const rows: Row[] = [];
      for (const [i, [, value]] of chunk.entries()) {
        const id = chunkIds[i];
        const row = id === undefined ? undefined : build(id.toString(), value);
        if (row !== undefined) rows.push(row);
      }
      yield rows;
    }
  }
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
      for await (const chunk of scanChunks(partition, journalPrefix(id), budget))
        for (const [key, value] of chunk) entries.push(indexedEntry(key, value));
      yield journalEntryRows(id, text, entries, wanted, source);
    }
    return;
  }
  // One range scan per partition; an invocation's entries are adjacent in key order.
  for (const partition of source.partitions) {
    // Journal keys name invocations by hex id; rows show the textual id.
    let current: { hex: string; entries: IndexedEntry[] } | undefined;
    const flush = (): Row[] => {
      if (current === undefined) return [];
      const id = InvocationId.fromHex(current.hex);
      return id === undefined
        ? []
        : journalEntryRows(id, id.toString(), current.entries, wanted, source);
    };
    for await (const chunk of scanChunks(partition, JOURNAL_PREFIX, budget)) {
      const rows: Row[] = [];
      for (const [key, value] of chunk) {
        const hex = key.slice(JOURNAL_PREFIX.length, key.lastIndexOf("/"));
        if (current?.hex !== hex) {
          rows.push(...flush());
          current = { hex, entries: [] };
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
  // Restate keeps a call's callee id with the call; Keel has it in the CallInvocationId notification.
  const callees = new Map<number, string>();
  if (rendering) {
    for (const { entry } of entries) {
      if (entry.messageType !== MessageType.CallInvocationIdCompletion) continue;
      const notification = NotificationMessage.decode(entry.raw);
      if (
        notification.id?.$case === "completionId" &&
        notification.result?.$case === "invocationId"
      )
        callees.set(notification.id.value, notification.result.value);
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
      appended_at: entry.appendedAtMs > 0 ? entry.appendedAtMs : undefined,
    };
  });
}

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

function objectColumns(o: ObjectRef): Row {
  return { partition_key: o.partitionKey, service_name: o.service, service_key: o.key };
}

async function* objectRows(
  source: SqlSource,
  prefix: string,
  budget: ScanBudget,
  build: (storeKey: string, value: Uint8Array) => Row | undefined,
): AsyncGenerator<Row[]> {
  for (const partition of source.partitions) {
    for await (const chunk of scanChunks(partition, prefix, budget)) {
      const rows: Row[] = [];
      for (const [key, value] of chunk) {
        const row = build(key, value);
        if (row !== undefined) rows.push(row);
      }
      yield rows;
    }
  }
}

function stateRow(storeKey: string, stored: Uint8Array): Row | undefined {
  const entry = decodeStateEntry(storeKey, stored);
  if (entry === undefined) return undefined;
  const { key, value } = entry;
  return {
    ...objectColumns(entry.object),
    key: fromUtf8Strict(key) ?? toHex(key),
    key_length: BigInt(key.length),
    value_utf8: fromUtf8Strict(value),
    value,
    value_length: BigInt(value.length),
  };
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
      for await (const chunk of scanChunks(partition, prefix, budget)) {
        const rows: Row[] = [];
        for (const [k, value] of chunk) {
          const row = stateRow(k, value);
          if (row !== undefined) rows.push(row);
        }
        yield rows;
      }
    }
  }
}

function promiseRow(o: ObjectRef, name: string, promise: PromiseValue): Row {
  const row: Row = {
    ...objectColumns(o),
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
