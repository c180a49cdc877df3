/**
 * SQL over Keel's state, on DuckDB: each query gets its own DuckDB connection, in which the catalog
 * tables it reads are created as temporary tables and filled from bounded, chunked scans of the
 * partition stores (only the columns and rows the query can see; see `plan.ts`); then the query runs
 * and the connection (with its tables) is dropped.
 *
 * Scans work at most `scanWorkShare` of the wall time (they rest between chunks), so a large query
 * slows the node's own work by a bounded share instead of competing for the CPU flat out.
 *
 * Limits, each with a clear error: a query's wall time (`queryTimeoutMs`, covering waiting, scanning
 * and running), the rows it may scan (`scannedRowsMax`) and return (`resultRowsMax`), and how many
 * queries run (`concurrentQueriesMax`) or wait (`queuedQueriesMax`) at once. DuckDB runs on one
 * thread and cannot touch files, so queries neither starve the node nor read the disk.
 *
 * Only SELECT statements are accepted (DuckDB's parser refuses to serialize anything else).
 */

import { DuckDBInstance, type DuckDBConnection, type DuckDBValue } from "@duckdb/node-api";
import { setTimeout as sleep, setImmediate as yieldToLoop } from "node:timers/promises";
import { toHex, describeError } from "../../core/index.js";
import {
  CATALOG,
  DUCKDB_TYPE,
  RESTATE_TYPE_NAME,
  tableDef,
  type Column,
  type ColumnType,
  INFORMATION_SCHEMA_TABLES,
  translateDialect,
  planQuery,
  type TableNeeds,
  tableRows,
  type Row,
  type ScanBudget,
  type SqlSource,
} from "../index.js";
import type { QueryResult } from "./render.js";

export interface SqlEngineOptions {
  readonly queryTimeoutMs: number;
  readonly scannedRowsMax: number;
  readonly resultRowsMax: number;
  readonly concurrentQueriesMax: number;
  readonly queuedQueriesMax: number;
  readonly duckdbThreads: number;
  readonly duckdbMemoryLimit: string;
  /**
   * The share of wall time a scan may work: after each chunk it rests as long as the chunk took
   * times (1 - share) / share, leaving the rest to the partitions and the invoker.
   */
  readonly scanWorkShare: number;
}

export const SQL_ENGINE_DEFAULTS: SqlEngineOptions = {
  queryTimeoutMs: 30_000,
  scannedRowsMax: 5_000_000,
  resultRowsMax: 100_000,
  concurrentQueriesMax: 2,
  queuedQueriesMax: 32,
  duckdbThreads: 1,
  duckdbMemoryLimit: "1GB",
  scanWorkShare: 0.5,
};

/** A query that failed, with the HTTP status the admin API answers. */
export class SqlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class SqlEngine {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly source: SqlSource,
    readonly options: SqlEngineOptions,
  ) {}

  static async create(
    source: SqlSource,
    options: Partial<SqlEngineOptions> = {},
  ): Promise<SqlEngine> {
    const resolved = { ...SQL_ENGINE_DEFAULTS, ...options };
    const instance = await DuckDBInstance.create(":memory:", {
      threads: String(resolved.duckdbThreads),
      memory_limit: resolved.duckdbMemoryLimit,
      enable_external_access: "false",
      autoinstall_known_extensions: "false",
    });
    return new SqlEngine(instance, source, resolved);
  }

  close(): void {
    this.instance.closeSync();
  }

  async query(sql: string): Promise<QueryResult> {
    const deadline = Date.now() + this.options.queryTimeoutMs;
    await this.acquire(deadline);
    const connection = await this.instance.connect();
    try {
      await connection.run("SET TimeZone = 'UTC'");
      const translated = translateDialect(sql);
      const plan = planQuery(await this.parse(connection, translated));
      const budget = this.budget(deadline);
      for (const [table, needs] of plan.tables) await this.load(connection, table, needs, budget);
      if (plan.informationSchema) await this.loadInformationSchema(connection);
      return await this.run(connection, translated, deadline);
    } catch (error) {
      if (error instanceof SqlError) throw error;
      throw new SqlError(500, `Query error: ${describeError(error)}`);
    } finally {
      connection.closeSync();
      this.release();
    }
  }

  private async acquire(deadline: number): Promise<void> {
    if (this.running < this.options.concurrentQueriesMax) {
      this.running++;
      return;
    }
    if (this.waiting.length >= this.options.queuedQueriesMax) {
      throw new SqlError(
        503,
        `Too many queries: ${this.running} running and ${this.waiting.length} waiting; retry later`,
      );
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const at = this.waiting.indexOf(wake);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(timeoutError(this.options.queryTimeoutMs));
      }, deadline - Date.now());
      const wake = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.waiting.push(wake);
    });
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next === undefined) this.running--;
    else next();
  }

  private budget(deadline: number): ScanBudget {
    let scanned = 0;
    const max = this.options.scannedRowsMax;
    const share = this.options.scanWorkShare;
    let workingSince = Date.now();
    return {
      charge: (rows) => {
        scanned += rows;
        if (scanned > max) {
          throw new SqlError(
            413,
            `Query error: the query reads more than ${max} rows of Keel's tables; narrow it with a WHERE clause (for example on id, or service_name and service_key)`,
          );
        }
        if (Date.now() > deadline) throw timeoutError(this.options.queryTimeoutMs);
      },
      pause: async () => {
        const rest = ((Date.now() - workingSince) * (1 - share)) / share;
        if (rest >= 1) await sleep(rest);
        else await yieldToLoop();
        workingSince = Date.now();
      },
    };
  }

  private async parse(connection: DuckDBConnection, sql: string): Promise<unknown> {
    const quoted = sql.replace(/'/g, "''");
    const reader = await connection.runAndReadAll(`SELECT json_serialize_sql('${quoted}')`);
    const text = reader.getRows()[0]?.[0];
    let parsed: unknown;
    try {
      parsed = JSON.parse(String(text));
    } catch {
      throw new SqlError(500, "Query error: the query could not be parsed");
    }
    const message = (parsed as { error_message?: unknown }).error_message;
    if (typeof message === "string" && message.startsWith("Only SELECT"))
      throw new SqlError(400, "Query error: only SELECT queries are supported");
    return parsed;
  }

  /**
   * Creates `table` in the connection and fills it from the partition stores. Each chunk of rows
   * travels as one JSON text that DuckDB parses on its own thread, so the event loop only pays for
   * building the rows and the text.
   */
  private async load(
    connection: DuckDBConnection,
    table: string,
    needs: TableNeeds,
    budget: ScanBudget,
  ): Promise<void> {
    const columns = tableDef(table).columns;
    const ddl = columns.map((c) => `"${c.name}" ${DUCKDB_TYPE[c.type]}`).join(", ");
    await connection.run(`CREATE TEMPORARY TABLE "${table}" (${ddl})`);
    const loaded = columns.filter((c) => needs.columns === undefined || needs.columns.has(c.name));
    if (loaded.length === 0) {
      // Only row counts matter (COUNT(*)): insert empty rows.
      for await (const rows of tableRows(table, needs, this.source, budget)) {
        if (rows.length > 0) {
          await connection.run(
            `INSERT INTO "${table}" ("${columns[0]!.name}") SELECT NULL FROM range(${rows.length})`,
          );
        }
      }
      return;
    }
    const spec = JSON.stringify(Object.fromEntries(loaded.map((c) => [c.name, JSON_TYPE[c.type]])));
    const insert = await connection.prepare(
      `INSERT INTO "${table}" (${loaded.map((c) => `"${c.name}"`).join(", ")}) ` +
        `SELECT ${loaded.map((c) => fromJson(c.name, c.type)).join(", ")} ` +
        `FROM (SELECT from_json(j, '${spec}') AS s FROM (SELECT unnest(json_extract($1::VARCHAR, '$[*]')) AS j))`,
    );
    try {
      for await (const rows of tableRows(table, needs, this.source, budget)) {
        if (rows.length === 0) continue;
        insert.bindVarchar(1, JSON.stringify(rows.map((row) => jsonRow(row, loaded))));
        await insert.run();
      }
    } finally {
      insert.destroySync();
    }
  }

  private async loadInformationSchema(connection: DuckDBConnection): Promise<void> {
    const columnsTable = INFORMATION_SCHEMA_TABLES["columns"]!;
    const tablesTable = INFORMATION_SCHEMA_TABLES["tables"]!;
    await connection.run(
      `CREATE TEMPORARY TABLE ${columnsTable} (table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR, column_name VARCHAR, ordinal_position UBIGINT, column_default VARCHAR, is_nullable VARCHAR, data_type VARCHAR, character_maximum_length UBIGINT, character_octet_length UBIGINT, numeric_precision UBIGINT, numeric_precision_radix UBIGINT, numeric_scale UBIGINT, datetime_precision UBIGINT, interval_type VARCHAR)`,
    );
    await connection.run(
      `CREATE TEMPORARY TABLE ${tablesTable} (table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR, table_type VARCHAR)`,
    );
    const columns = await connection.createAppender(columnsTable);
    const tables = await connection.createAppender(tablesTable);
    try {
      for (const def of CATALOG.values()) {
        const type = def.name === "sys_invocation" ? "VIEW" : "BASE TABLE";
        for (const value of ["datafusion", "public", def.name, type]) tables.appendVarchar(value);
        tables.endRow();
        def.columns.forEach((column, i) => {
          for (const value of ["datafusion", "public", def.name, column.name])
            columns.appendVarchar(value);
          columns.appendUBigInt(BigInt(i));
          columns.appendNull();
          columns.appendVarchar(column.nullable ? "YES" : "NO");
          columns.appendVarchar(RESTATE_TYPE_NAME[column.type]);
          for (let k = 0; k < 6; k++) columns.appendNull();
          columns.appendNull();
          columns.endRow();
        });
      }
      columns.flushSync();
      tables.flushSync();
    } finally {
      columns.closeSync();
      tables.closeSync();
    }
  }

  private async run(
    connection: DuckDBConnection,
    sql: string,
    deadline: number,
  ): Promise<QueryResult> {
    let timedOut = false;
    const timer = setTimeout(
      () => {
        timedOut = true;
        connection.interrupt();
      },
      Math.max(0, deadline - Date.now()),
    );
    try {
      const result = await connection.stream(sql);
      const names = result.columnNames();
      const types = result.columnTypes();
      const rows: DuckDBValue[][] = [];
      for (;;) {
        const chunk = await result.fetchChunk();
        if (chunk === null || chunk.rowCount === 0) break;
        if (rows.length + chunk.rowCount > this.options.resultRowsMax) {
          throw new SqlError(
            413,
            `Query error: the result has more than ${this.options.resultRowsMax} rows; add a LIMIT or narrow the query`,
          );
        }
        for (const row of chunk.getRows()) rows.push(row);
        if (Date.now() > deadline) throw timeoutError(this.options.queryTimeoutMs);
      }
      return {
        columns: names.map((name, i) => ({ name: outputName(name), type: types[i]! })),
        rows,
      };
    } catch (error) {
      if (timedOut) throw timeoutError(this.options.queryTimeoutMs);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** DuckDB names an unaliased `COUNT(*)` `count_star()`; DataFusion (and so Restate) `count(*)`. */
function outputName(name: string): string {
  return name === "count_star()" ? "count(*)" : name;
}

function timeoutError(timeoutMs: number): SqlError {
  return new SqlError(504, `Query error: the query did not finish within ${timeoutMs} ms`);
}

/** How each column type travels in the JSON text. */
const JSON_TYPE: Record<ColumnType, string> = {
  u64: "VARCHAR",
  u32: "UINTEGER",
  str: "VARCHAR",
  bin: "VARCHAR",
  bool: "BOOLEAN",
  ts: "BIGINT",
  dur: "BIGINT",
  "list<u32>": "UINTEGER[]",
  "list<str>": "VARCHAR[]",
};

/** The SQL that turns a parsed JSON field back into the column's type. */
function fromJson(name: string, type: ColumnType): string {
  const field = `s."${name}"`;
  switch (type) {
    case "u64":
      return `${field}::UBIGINT`;
    case "bin":
      return `from_hex(${field})`;
    case "ts":
      return `epoch_ms(${field})::TIMESTAMPTZ`;
    case "dur":
      return `to_milliseconds(${field})`;
    default:
      return field;
  }
}

/** A row with only the loaded, non-null columns, in JSON-friendly form. */
function jsonRow(row: Row, columns: readonly Column[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const column of columns) {
    const value = row[column.name];
    if (value === undefined || value === null) continue;
    switch (column.type) {
      case "u64":
        out[column.name] = (value as bigint | number).toString();
        break;
      case "bin":
        out[column.name] = toHex(value as Uint8Array);
        break;
      default:
        out[column.name] = value;
    }
  }
  return out;
}
