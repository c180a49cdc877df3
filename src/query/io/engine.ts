/**
 * SQL over Keel's state, on DuckDB in the SQL process (`sql_process.ts`, a child of the node): each
 * query gets its own DuckDB connection there, in which the catalog tables it reads are created as
 * temporary tables and filled from bounded, chunked scans of the partition stores done here (only
 * the columns and rows the query can see; see `plan.ts`); then the query runs there and its answer
 * comes back rendered (JSON or Arrow), and the connection (with its tables) is dropped.
 *
 * Why another process: a query can take more memory than any bound catches in time (DuckDB builds a
 * whole vector of rows before anyone sees it), and the process that runs out must not be the node.
 * If the SQL process dies, its queries fail with a clear error and the next query starts a new one;
 * a process left large by a query is stopped once idle, which gives the memory back.
 *
 * Scans work at most `scanWorkShare` of the wall time (they rest between chunks), so a large query
 * slows the node's own work by a bounded share instead of competing for the CPU flat out.
 *
 * Limits, each with a clear error: a query's wall time (`queryTimeoutMs`, covering waiting, scanning
 * and running), the rows it may scan (`scannedRowsMax`) and return (`resultRowsMax`), the bytes it
 * may return (`resultBytesMax`), and how many queries run (`concurrentQueriesMax`) or wait
 * (`queuedQueriesMax`) at once. DuckDB runs on one thread and cannot touch files.
 *
 * Only SELECT statements are accepted (DuckDB's parser refuses to serialize anything else).
 */

import { fork, type ChildProcess } from "node:child_process";
import { setTimeout as sleep, setImmediate as yieldToLoop } from "node:timers/promises";
import { toHex, describeError } from "../../core/index.js";
import {
  DUCKDB_TYPE,
  tableDef,
  type Column,
  type ColumnType,
  translateDialect,
  planQuery,
  type TableNeeds,
  tableRows,
  type Row,
  type ScanBudget,
  type SqlSource,
  type RenderedResult,
  type ResultFormat,
  type SqlOperation,
  type SqlReply,
  type SqlRequest,
} from "../index.js";

export type { RenderedResult, ResultFormat };

export interface SqlEngineOptions {
  readonly queryTimeoutMs: number;
  readonly scannedRowsMax: number;
  readonly resultRowsMax: number;
  /** Bytes of values a result may hold (see `approximateBytes` in render.ts). */
  readonly resultBytesMax: number;
  readonly concurrentQueriesMax: number;
  readonly queuedQueriesMax: number;
  readonly duckdbThreads: number;
  readonly duckdbMemoryLimit: string;
  /** The SQL process's V8 heap, in MB (`--max-old-space-size`). */
  readonly processHeapMb: number;
  /** Resident memory past which an idle SQL process is stopped, to give the memory back. */
  readonly processRecycleBytes: number;
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
  resultBytesMax: 64 * 1024 * 1024,
  concurrentQueriesMax: 2,
  queuedQueriesMax: 32,
  duckdbThreads: 1,
  duckdbMemoryLimit: "1GB",
  processHeapMb: 1024,
  processRecycleBytes: 256 * 1024 * 1024,
  scanWorkShare: 0.5,
};

/** How long a statement may go on after it was interrupted before the SQL process is stopped. */
const INTERRUPT_GRACE_MS = 2_000;

/** A query that failed, with the HTTP status the admin API answers. */
export class SqlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The node's side of the SQL process: starts it, numbers requests, fails them if it dies. */
class SqlProcess {
  private readonly pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: Error) => void }
  >();
  private nextRpc = 1;
  private exitReason: string | undefined;
  rssBytes = 0;

  private constructor(private readonly child: ChildProcess) {
    child.on("message", (reply: SqlReply) => {
      this.rssBytes = reply.rssBytes;
      const waiter = this.pending.get(reply.rpc);
      if (waiter === undefined) return;
      this.pending.delete(reply.rpc);
      if (reply.ok) waiter.resolve(reply.value);
      else waiter.reject(new SqlError(reply.status, reply.message));
    });
    child.on("exit", (code, signal) => {
      this.exitReason = signal !== null ? `signal ${signal}` : `exit code ${code}`;
      const failure = new SqlError(
        500,
        `Query error: the SQL process stopped (${this.exitReason}), most likely because the query needed more memory than it may use; it restarts with the next query`,
      );
      for (const waiter of this.pending.values()) waiter.reject(failure);
      this.pending.clear();
    });
  }

  static start(options: SqlEngineOptions): Promise<SqlProcess> {
    const child = fork(new URL("./sql_process.js", import.meta.url), [], {
      execArgv: [`--max-old-space-size=${options.processHeapMb}`],
      serialization: "advanced",
      stdio: ["ignore", "ignore", "inherit", "ipc"],
      env: {
        ...process.env,
        KEEL_SQL_THREADS: String(options.duckdbThreads),
        KEEL_SQL_MEMORY_LIMIT: options.duckdbMemoryLimit,
      },
    });
    const started = new SqlProcess(child);
    // Its first message says DuckDB is up.
    return new Promise((resolve, reject) => {
      started.pending.set(0, { resolve: () => resolve(started), reject });
      child.once("error", (error) => reject(error));
    });
  }

  get alive(): boolean {
    return this.exitReason === undefined;
  }

  get busy(): boolean {
    return this.pending.size > 0;
  }

  request(operation: SqlOperation): Promise<unknown> {
    if (!this.alive)
      return Promise.reject(new SqlError(500, "Query error: the SQL process stopped"));
    const rpc = this.nextRpc++;
    return new Promise((resolve, reject) => {
      this.pending.set(rpc, { resolve, reject });
      const request: SqlRequest = { rpc, ...operation };
      this.child.send(request);
    });
  }

  stop(): void {
    if (this.alive) this.child.kill("SIGKILL");
  }
}

export class SqlEngine {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private process: Promise<SqlProcess> | undefined;
  private nextQuery = 1;
  private closed = false;

  private constructor(
    private readonly source: SqlSource,
    readonly options: SqlEngineOptions,
  ) {}

  static create(source: SqlSource, options: Partial<SqlEngineOptions> = {}): Promise<SqlEngine> {
    const engine = new SqlEngine(source, { ...SQL_ENGINE_DEFAULTS, ...options });
    // Started now so the first query does not wait for it; a start that fails is retried by the
    // next query rather than failing every query from then on.
    engine.sqlProcess().catch(() => undefined);
    return Promise.resolve(engine);
  }

  close(): void {
    this.closed = true;
    void this.process?.then((p) => p.stop()).catch(() => undefined);
    this.process = undefined;
  }

  async query(sql: string, format: ResultFormat): Promise<RenderedResult> {
    const deadline = Date.now() + this.options.queryTimeoutMs;
    await this.acquire(deadline);
    let sqlProcess: SqlProcess | undefined;
    const query = this.nextQuery++;
    try {
      sqlProcess = await this.sqlProcess();
      const call = sqlProcess.request.bind(sqlProcess);
      await call({ op: "open", query });
      const translated = translateDialect(sql);
      const parsed: unknown = JSON.parse(
        String(await call({ op: "parse", query, sql: translated })),
      );
      const plan = planQuery(parsed);
      const budget = this.budget(deadline);
      for (const [table, needs] of plan.tables) await this.load(call, query, table, needs, budget);
      if (plan.informationSchema) await call({ op: "informationSchema", query });
      return await this.run(sqlProcess, query, translated, format, deadline);
    } catch (error) {
      if (error instanceof SqlError) throw error;
      throw new SqlError(500, `Query error: ${describeError(error)}`);
    } finally {
      if (sqlProcess?.alive === true)
        await sqlProcess.request({ op: "close", query }).catch(() => undefined);
      this.release();
      this.recycleIfLarge(sqlProcess);
    }
  }

  /** The running SQL process, started (again) if there is none. */
  private sqlProcess(): Promise<SqlProcess> {
    const current = this.process;
    if (current !== undefined) {
      return current.then((p) => {
        if (p.alive) return p;
        if (this.process === current) this.process = undefined;
        return this.sqlProcess();
      });
    }
    if (this.closed) return Promise.reject(new SqlError(503, "Query error: the node is stopping"));
    const started = SqlProcess.start(this.options);
    this.process = started;
    started.catch(() => {
      if (this.process === started) this.process = undefined;
    });
    return started;
  }

  /** Stops a SQL process that a query left large, once no query uses it: the memory goes back. */
  private recycleIfLarge(sqlProcess: SqlProcess | undefined): void {
    if (sqlProcess === undefined || !sqlProcess.alive || sqlProcess.busy) return;
    if (sqlProcess.rssBytes <= this.options.processRecycleBytes) return;
    void this.process?.then((current) => {
      if (current !== sqlProcess || current.busy) return;
      this.process = undefined;
      current.stop();
      // A fresh one waits for the next query, which then does not pay for its start.
      this.sqlProcess().catch(() => undefined);
    });
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

  /**
   * Creates `table` in the query's connection and fills it from the partition stores. Each chunk of
   * rows travels as one JSON text that DuckDB parses in the SQL process, so the event loop only pays
   * for building the rows and the text.
   */
  private async load(
    call: (operation: SqlOperation) => Promise<unknown>,
    query: number,
    table: string,
    needs: TableNeeds,
    budget: ScanBudget,
  ): Promise<void> {
    const columns = tableDef(table).columns;
    const ddl = columns.map((c) => `"${c.name}" ${DUCKDB_TYPE[c.type]}`).join(", ");
    await call({ op: "exec", query, sql: `CREATE TEMPORARY TABLE "${table}" (${ddl})` });
    const loaded = columns.filter((c) => needs.columns === undefined || needs.columns.has(c.name));
    if (loaded.length === 0) {
      // Only row counts matter (COUNT(*)): insert empty rows.
      for await (const rows of tableRows(table, needs, this.source, budget)) {
        if (rows.length > 0) {
          await call({
            op: "exec",
            query,
            sql: `INSERT INTO "${table}" ("${columns[0]!.name}") SELECT NULL FROM range(${rows.length})`,
          });
        }
      }
      return;
    }
    const spec = JSON.stringify(Object.fromEntries(loaded.map((c) => [c.name, JSON_TYPE[c.type]])));
    await call({
      op: "prepare",
      query,
      name: table,
      sql:
        `INSERT INTO "${table}" (${loaded.map((c) => `"${c.name}"`).join(", ")}) ` +
        `SELECT ${loaded.map((c) => fromJson(c.name, c.type)).join(", ")} ` +
        `FROM (SELECT from_json(j, '${spec}') AS s FROM (SELECT unnest(json_extract($1::VARCHAR, '$[*]')) AS j))`,
    });
    for await (const rows of tableRows(table, needs, this.source, budget)) {
      if (rows.length === 0) continue;
      const text = JSON.stringify(rows.map((row) => jsonRow(row, loaded)));
      await call({ op: "insert", query, name: table, text });
    }
  }

  private async run(
    sqlProcess: SqlProcess,
    query: number,
    sql: string,
    format: ResultFormat,
    deadline: number,
  ): Promise<RenderedResult> {
    let timedOut = false;
    let stopTimer: ReturnType<typeof setTimeout> | undefined;
    const timer = setTimeout(
      () => {
        timedOut = true;
        sqlProcess.request({ op: "interrupt", query }).catch(() => undefined);
        // A statement busy outside DuckDB's interruptible loops: stop the process itself.
        stopTimer = setTimeout(() => sqlProcess.stop(), INTERRUPT_GRACE_MS);
      },
      Math.max(0, deadline - Date.now()),
    );
    try {
      const rendered = (await sqlProcess.request({
        op: "run",
        query,
        sql,
        format,
        resultRowsMax: this.options.resultRowsMax,
        resultBytesMax: this.options.resultBytesMax,
      })) as RenderedResult;
      if (timedOut) throw timeoutError(this.options.queryTimeoutMs);
      return rendered;
    } catch (error) {
      if (timedOut) throw timeoutError(this.options.queryTimeoutMs);
      throw error;
    } finally {
      clearTimeout(timer);
      clearTimeout(stopTimer);
    }
  }
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
