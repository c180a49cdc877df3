/**
 * What the node and its SQL process (sql_process.ts) tell each other over the process's IPC channel:
 * requests numbered by the node, one answer each. A query is a DuckDB connection in the SQL process,
 * named by the node's query number; the node loads its tables in chunks, then runs it.
 */

export type ResultFormat = "json" | "arrow";

export type SqlRequest = { readonly rpc: number } & SqlOperation;

export type SqlOperation =
  | { readonly op: "open"; readonly query: number }
  | { readonly op: "close"; readonly query: number }
  /** DuckDB's parse tree of the query (`json_serialize_sql`), as JSON text. */
  | { readonly op: "parse"; readonly query: number; readonly sql: string }
  | { readonly op: "exec"; readonly query: number; readonly sql: string }
  /** Prepares `sql` (one `$1` parameter) under `name` for `insert`s. */
  | { readonly op: "prepare"; readonly query: number; readonly name: string; readonly sql: string }
  | { readonly op: "insert"; readonly query: number; readonly name: string; readonly text: string }
  | { readonly op: "informationSchema"; readonly query: number }
  | {
      readonly op: "run";
      readonly query: number;
      readonly sql: string;
      readonly format: ResultFormat;
      readonly resultRowsMax: number;
      readonly resultBytesMax: number;
    }
  /** Stops the query's running statement (no answer beyond an acknowledgement). */
  | { readonly op: "interrupt"; readonly query: number };

export interface RenderedResult {
  /** JSON text or an Arrow IPC stream. */
  readonly body: string | Uint8Array;
  readonly rows: number;
}

/** Every answer carries the SQL process's resident memory, so the node can recycle it. */
export type SqlReply =
  | {
      readonly rpc: number;
      readonly ok: true;
      readonly value?: string | RenderedResult;
      readonly rssBytes: number;
    }
  | {
      readonly rpc: number;
      readonly ok: false;
      readonly status: number;
      readonly message: string;
      readonly rssBytes: number;
    };
