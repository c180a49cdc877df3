/**
 * The SQL process: DuckDB and the conversion of results, in a child process of the node
 * (`engine.ts` starts it). A query can ask for more memory than any bound catches in time (DuckDB
 * builds a whole vector of 2,048 rows before anyone sees it, `repeat('a', 100000000)` included, and
 * turning values into JavaScript strings can exhaust a heap), and what dies then must not be the
 * node. Here it is this process: it asks the kernel to prefer it when memory runs out
 * (`oom_score_adj`), runs with a bounded heap, and exits with its IPC channel, so a node that dies
 * never leaves it behind. The node restarts it on the next query, and stops it when idle after a
 * query left it large, which gives its memory back to the system.
 *
 * Bounds of a result: `resultRowsMax` rows and `resultBytesMax` bytes of values, counted value by
 * value while converting, so at most one value past the bound is ever converted.
 */

import { writeFileSync } from "node:fs";
import {
  DuckDBInstance,
  type DuckDBConnection,
  type DuckDBPreparedStatement,
  type DuckDBValue,
} from "@duckdb/node-api";
import { describeError } from "../../core/index.js";
import {
  CATALOG,
  RESTATE_TYPE_NAME,
  INFORMATION_SCHEMA_TABLES,
  type RenderedResult,
  type SqlOperation,
  type SqlReply,
  type SqlRequest,
} from "../index.js";
import { approximateBytes, toArrowStream, toJsonRows, type QueryResult } from "./render.js";

/** A failure with the HTTP status the admin API answers. */
class QueryFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface OpenQuery {
  readonly connection: DuckDBConnection;
  readonly prepared: Map<string, DuckDBPreparedStatement>;
}

const send = (reply: SqlReply): void => {
  process.send?.(reply);
};

async function main(): Promise<void> {
  if (process.send === undefined) throw new Error("sql_process.js runs only as the node's child");
  try {
    // Raising one's own score needs no privilege; a system without /proc just keeps the default.
    writeFileSync("/proc/self/oom_score_adj", "1000");
  } catch {
    // not Linux, or a read-only /proc
  }
  const instance = await DuckDBInstance.create(":memory:", {
    threads: process.env["KEEL_SQL_THREADS"] ?? "1",
    memory_limit: process.env["KEEL_SQL_MEMORY_LIMIT"] ?? "1GB",
    enable_external_access: "false",
    autoinstall_known_extensions: "false",
  });
  const queries = new Map<number, OpenQuery>();
  // The node is gone (or stopped us): nothing here is worth finishing.
  process.on("disconnect", () => process.exit(0));
  process.on("message", (request: SqlRequest) => {
    void handle(instance, queries, request).then(
      (value) =>
        send({
          rpc: request.rpc,
          ok: true,
          ...(value === undefined ? {} : { value }),
          rssBytes: process.memoryUsage.rss(),
        }),
      (error: unknown) =>
        send({
          rpc: request.rpc,
          ok: false,
          status: error instanceof QueryFailure ? error.status : 500,
          message:
            error instanceof QueryFailure ? error.message : `Query error: ${describeError(error)}`,
          rssBytes: process.memoryUsage.rss(),
        }),
    );
  });
  send({ rpc: 0, ok: true, rssBytes: process.memoryUsage.rss() });
}

async function handle(
  instance: DuckDBInstance,
  queries: Map<number, OpenQuery>,
  request: SqlOperation,
): Promise<string | RenderedResult | undefined> {
  if (request.op === "open") {
    const connection = await instance.connect();
    await connection.run("SET TimeZone = 'UTC'");
    queries.set(request.query, { connection, prepared: new Map() });
    return undefined;
  }
  const query = queries.get(request.query);
  if (query === undefined) throw new Error(`query ${request.query} is not open`);
  switch (request.op) {
    case "close":
      queries.delete(request.query);
      for (const statement of query.prepared.values()) statement.destroySync();
      query.connection.closeSync();
      return undefined;
    case "parse":
      return parse(query.connection, request.sql);
    case "exec":
      await query.connection.run(request.sql);
      return undefined;
    case "prepare":
      query.prepared.set(request.name, await query.connection.prepare(request.sql));
      return undefined;
    case "insert": {
      const statement = query.prepared.get(request.name);
      if (statement === undefined) throw new Error(`no statement ${request.name}`);
      statement.bindVarchar(1, request.text);
      await statement.run();
      return undefined;
    }
    case "informationSchema":
      await loadInformationSchema(query.connection);
      return undefined;
    case "interrupt":
      query.connection.interrupt();
      return undefined;
    case "run":
      return run(query.connection, request);
  }
}

/**
 * DuckDB's parse tree of `sql`. A query that does not parse, or holds no statement (only blanks and
 * comments), is the client's error: 400 as Restate answers (they were 500s, the empty query's
 * message "Error in native callback").
 */
async function parse(connection: DuckDBConnection, sql: string): Promise<string> {
  if (/^[\s;]*$/.test(sql.replace(/--[^\n]*|\/\*[\s\S]*?\*\//g, "")))
    throw new QueryFailure(400, "Query error: no SQL statements were provided in the query string");
  const quoted = sql.replace(/'/g, "''");
  const reader = await connection.runAndReadAll(`SELECT json_serialize_sql('${quoted}')`);
  const text = reader.getRows()[0]?.[0];
  let parsed: unknown;
  try {
    parsed = JSON.parse(String(text));
  } catch {
    throw new QueryFailure(500, "Query error: the query could not be parsed");
  }
  const { error, error_message: message } = parsed as { error?: unknown; error_message?: unknown };
  if (typeof message === "string" && message.startsWith("Only SELECT"))
    throw new QueryFailure(400, "Query error: only SELECT queries are supported");
  if (error === true)
    throw new QueryFailure(
      400,
      `Query error: ${typeof message === "string" ? message : "the query could not be parsed"}`,
    );
  // Restate's engine runs one statement per query and refuses more with a 500.
  const statements = (parsed as { statements?: unknown }).statements;
  if (Array.isArray(statements) && statements.length > 1)
    throw new QueryFailure(500, "Query error: only a single SQL statement is supported");
  return String(text);
}

async function loadInformationSchema(connection: DuckDBConnection): Promise<void> {
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

async function run(
  connection: DuckDBConnection,
  request: Extract<SqlOperation, { op: "run" }>,
): Promise<RenderedResult> {
  const result = await connection.stream(request.sql);
  const names = result.columnNames();
  const types = result.columnTypes();
  const rows: DuckDBValue[][] = [];
  let bytes = 0;
  for (;;) {
    const chunk = await result.fetchChunk();
    if (chunk === null || chunk.rowCount === 0) break;
    if (rows.length + chunk.rowCount > request.resultRowsMax) {
      throw new QueryFailure(
        413,
        `Query error: the result has more than ${request.resultRowsMax} rows; add a LIMIT or narrow the query`,
      );
    }
    const vectors = names.map((_, column) => chunk.getColumnVector(column));
    for (let r = 0; r < chunk.rowCount; r++) {
      const row: DuckDBValue[] = [];
      for (const vector of vectors) {
        const value = vector.getItem(r);
        bytes += approximateBytes(value);
        if (bytes > request.resultBytesMax) {
          throw new QueryFailure(
            413,
            `Query error: the result holds more than ${request.resultBytesMax} bytes; select fewer rows or smaller columns`,
          );
        }
        row.push(value);
      }
      rows.push(row);
    }
  }
  const answer: QueryResult = {
    columns: names.map((name, i) => ({ name: outputName(name), type: types[i]! })),
    rows,
  };
  return {
    body: request.format === "json" ? toJsonRows(answer) : toArrowStream(answer),
    rows: rows.length,
  };
}

/** DuckDB names an unaliased `COUNT(*)` `count_star()`; DataFusion (and so Restate) `count(*)`. */
function outputName(name: string): string {
  return name === "count_star()" ? "count(*)" : name;
}

main().catch((error: unknown) => {
  process.stderr.write(`keel SQL process: ${describeError(error)}\n`);
  process.exit(1);
});
