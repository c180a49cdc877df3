/**
 * The SQL catalog: Restate's introspection tables with their columns in Restate's order and types
 * (as `information_schema.columns` of Restate 1.7.12 lists them), and how each type lives in DuckDB.
 * Tables Keel has no data for (the 1.7 vqueue and limit tables) exist and stay empty, so that queries
 * naming them work as they do against Restate.
 */

/** Column types, named after what Restate reports (Arrow types). */
export type ColumnType =
  "u64" | "u32" | "str" | "bin" | "bool" | "ts" | "dur" | "list<u32>" | "list<str>";

export interface Column {
  readonly name: string;
  readonly type: ColumnType;
  readonly nullable: boolean;
}

/** A row of a table: column name → value; absent or undefined is NULL. */
export type Row = Record<string, unknown>;

export interface TableDef {
  readonly name: string;
  readonly columns: readonly Column[];
}

/** The DuckDB type a column is stored as. Timestamps are TIMESTAMPTZ (sessions run in UTC). */
export const DUCKDB_TYPE: Record<ColumnType, string> = {
  u64: "UBIGINT",
  u32: "UINTEGER",
  str: "VARCHAR",
  bin: "BLOB",
  bool: "BOOLEAN",
  ts: "TIMESTAMPTZ",
  dur: "INTERVAL",
  "list<u32>": "UINTEGER[]",
  "list<str>": "VARCHAR[]",
};

/** The type name Restate's `information_schema.columns` shows (DataFusion's Arrow names). */
export const RESTATE_TYPE_NAME: Record<ColumnType, string> = {
  u64: "UInt64",
  u32: "UInt32",
  str: "LargeUtf8",
  bin: "LargeBinary",
  bool: "Boolean",
  ts: 'Timestamp(ms, "+00:00")',
  dur: "Duration(ms)",
  "list<u32>": "List(UInt32)",
  "list<str>": "List(LargeUtf8)",
};

/** `name:type` words; a trailing `!` marks a non-nullable column. */
const TABLES: Record<string, string> = {
  state:
    "partition_key:u64 scope:str service_name:str service_key:str key:str key_length:u64 " +
    "value_utf8:str value:bin value_length:u64",
  sys_deployment:
    "id:str ty:str endpoint:str created_at:ts min_service_protocol_version:u32 " +
    "max_service_protocol_version:u32 services:list<str>",
  sys_inbox:
    "partition_key:u64 service_name:str service_key:str id:str sequence_number:u64 " +
    "created_at:ts",
  sys_invocation:
    "id:str vqueue_id:str target:str target_service_name:str target_service_key:str " +
    "target_handler_name:str target_service_ty:str scope:str limit_key:str " +
    "idempotency_key:str invoked_by:str invoked_by_service_name:str invoked_by_id:str " +
    "invoked_by_subscription_id:str invoked_by_target:str restarted_from:str " +
    "pinned_deployment_id:str pinned_service_protocol_version:u32 trace_id:str " +
    "journal_size:u32 journal_commands_size:u32 created_at:ts " +
    "created_using_restate_version:str modified_at:ts inboxed_at:ts scheduled_at:ts " +
    "scheduled_start_at:ts running_at:ts completed_at:ts completion_retention:dur " +
    "journal_retention:dur suspended_waiting_for_completions:list<u32> " +
    "suspended_waiting_for_signals:list<u32> suspended_waiting_future_json:str " +
    "retry_count:u64 last_start_at:ts next_retry_at:ts last_attempt_deployment_id:str " +
    "last_attempt_server:str last_failure:str last_failure_error_code:str " +
    "last_failure_related_entry_index:u64 last_failure_related_entry_name:str " +
    "last_failure_related_entry_type:str last_failure_related_command_index:u64 " +
    "last_failure_related_command_name:str last_failure_related_command_type:str " +
    "last_awaiting_on_future_json:str status:str! completion_result:str " +
    "completion_failure:str",
  sys_invocation_state:
    "partition_key:u64 id:str in_flight:bool retry_count:u64 last_start_at:ts " +
    "last_attempt_deployment_id:str last_attempt_server:str next_retry_at:ts last_failure:str " +
    "last_failure_error_code:str last_failure_related_command_index:u64 " +
    "last_failure_related_command_name:str last_failure_related_command_type:str " +
    "last_failure_related_entry_index:u64 last_failure_related_entry_name:str " +
    "last_failure_related_entry_type:str last_awaiting_on_future_json:str",
  sys_invocation_status:
    "partition_key:u64 id:str vqueue_id:str status:str completion_result:str " +
    "completion_failure:str target:str target_service_name:str target_service_key:str " +
    "target_handler_name:str target_service_ty:str scope:str limit_key:str " +
    "idempotency_key:str invoked_by:str invoked_by_id:str invoked_by_subscription_id:str " +
    "invoked_by_service_name:str invoked_by_target:str restarted_from:str " +
    "pinned_deployment_id:str pinned_service_protocol_version:u32 trace_id:str " +
    "journal_size:u32 journal_commands_size:u32 created_at:ts " +
    "created_using_restate_version:str modified_at:ts inboxed_at:ts scheduled_at:ts " +
    "scheduled_start_at:ts running_at:ts completed_at:ts completion_retention:dur " +
    "journal_retention:dur suspended_waiting_for_completions:list<u32> " +
    "suspended_waiting_for_signals:list<u32> suspended_waiting_future_json:str",
  sys_journal:
    "partition_key:u64 id:str index:u32 entry_type:str name:str completed:bool invoked_id:str " +
    "invoked_target:str sleep_wakeup_at:ts promise_name:str raw:bin raw_length:u64 " +
    "version:u32 entry_json:str entry_lite_json:str appended_at:ts",
  sys_journal_events:
    "partition_key:u64 id:str after_journal_entry_index:u32 appended_at:ts event_type:str " +
    "event_json:str",
  sys_keyed_service_status: "partition_key:u64 service_name:str service_key:str invocation_id:str",
  sys_locks: "partition_key:u64 scope:str lock_name:str acquired_at:ts acquired_by:str",
  sys_promise:
    "partition_key:u64 scope:str service_name:str service_key:str key:str completed:bool " +
    "completion_success_value:bin completion_success_value_utf8:str completion_failure:str",
  sys_rules:
    "pattern:str concurrency:u32 description:str disabled:bool version:u32 last_modified:ts",
  sys_scheduler:
    "partition_key:u64 id:str num_inbox:u64 status:str head_entry_id:str scheduled_at:ts " +
    "blocked_on:str blocked_on_json:str invoker_concurrency_block_duration:dur " +
    "throttling_rules_block_duration:dur invoker_throttling_block_duration:dur " +
    "invoker_memory_block_duration:dur concurrency_rules_block_duration:dur " +
    "lock_block_duration:dur deployment_concurrency_block_duration:dur",
  sys_service: "name:str revision:u64 public:bool ty:str deployment_id:str",
  sys_user_limits:
    "partition_key:u64 scope:str l1:str l2:str level:str usage:u32 concurrency_limit:u32 " +
    "rule_pattern:str available:u32 num_waiters:u64",
  sys_vqueue_entry_status:
    "partition_key:u64 entry_id:str vqueue_id:str stage:str status:str has_lock:bool " +
    "next_at:ts sequence_number:u64 entry_kind:str created_at:ts transitioned_at:ts " +
    "num_attempts:u32 num_errors:u32 num_pauses:u32 num_suspensions:u32 num_yields:u32 " +
    "first_attempt_at:ts latest_attempt_at:ts first_runnable_at:ts deployment:str " +
    "needed_memory:u64 retry_attempts:u32 retry_count_since_last_stored_command:u32 " +
    "latest_attempt_blocked_on_invoker_concurrency:dur " +
    "latest_attempt_blocked_on_throttling_rules:dur " +
    "latest_attempt_blocked_on_invoker_throttling:dur " +
    "latest_attempt_blocked_on_invoker_memory:dur " +
    "latest_attempt_blocked_on_concurrency_rules:dur latest_attempt_blocked_on_lock:dur " +
    "latest_attempt_blocked_on_deployment_concurrency:dur " +
    "total_blocked_on_invoker_concurrency:dur total_blocked_on_throttling_rules:dur " +
    "total_blocked_on_invoker_throttling:dur total_blocked_on_invoker_memory:dur " +
    "total_blocked_on_concurrency_rules:dur total_blocked_on_lock:dur " +
    "total_blocked_on_deployment_concurrency:dur",
  sys_vqueue_meta:
    "partition_key:u64 id:str is_active:bool queue_is_paused:bool service_name:str scope:str " +
    "limit_key:str lock_name:str created_at:ts last_enqueued_at:ts last_start_at:ts " +
    "last_attempt_at:ts last_finish_at:ts avg_queue_duration:dur avg_inbox_duration:dur " +
    "avg_run_duration:dur avg_suspension_duration:dur avg_end_to_end_duration:dur " +
    "avg_blocked_on_concurrency_rules:dur avg_blocked_on_invoker_concurrency:dur " +
    "avg_blocked_on_invoker_throttling:dur avg_blocked_on_lock:dur num_inbox:u64 " +
    "num_running:u64 num_suspended:u64 num_paused:u64 num_finished:u64",
  sys_vqueues:
    "partition_key:u64 id:str stage:str status:str has_lock:bool run_at:ts " +
    "sequence_number:u64 entry_id:str entry_kind:str created_at:ts transitioned_at:ts " +
    "num_attempts:u32 num_errors:u32 num_pauses:u32 num_suspensions:u32 num_yields:u32 " +
    "first_attempt_at:ts latest_attempt_at:ts first_runnable_at:ts deployment:str",
};

function parseColumns(spec: string): Column[] {
  return spec.split(" ").map((word) => {
    const [name, rawType] = word.split(":") as [string, string];
    const nullable = !rawType.endsWith("!");
    const type = (nullable ? rawType : rawType.slice(0, -1)) as ColumnType;
    if (!(type in DUCKDB_TYPE)) throw new Error(`catalog: unknown column type ${rawType}`);
    return { name, type, nullable };
  });
}

export const CATALOG: ReadonlyMap<string, TableDef> = new Map(
  Object.entries(TABLES).map(([name, spec]) => [name, { name, columns: parseColumns(spec) }]),
);

export function tableDef(name: string): TableDef {
  const def = CATALOG.get(name);
  if (def === undefined) throw new Error(`catalog: no table ${name}`);
  return def;
}

/** The names of the columns of these types in any table (a name has one type in every table). */
export function columnNamesOfTypes(types: readonly ColumnType[]): ReadonlySet<string> {
  const names = new Set<string>();
  for (const table of CATALOG.values())
    for (const column of table.columns) if (types.includes(column.type)) names.add(column.name);
  return names;
}
