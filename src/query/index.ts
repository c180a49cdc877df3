/**
 * SQL introspection (POST /query) with Restate's tables and columns: the catalog, the dialect
 * rewrites the official CLI needs, planning of narrowed scans, and rows built from partition stores.
 * The DuckDB engine and the answers' encodings are in io/.
 */

export { CATALOG, DUCKDB_TYPE, RESTATE_TYPE_NAME, tableDef } from "./catalog.js";
export type { Column, ColumnType } from "./catalog.js";
export { INFORMATION_SCHEMA_TABLES, translateDialect } from "./dialect.js";
export { planQuery } from "./plan.js";
export type { TableNeeds } from "./plan.js";
export { tableRows } from "./rows.js";
export type { Row, ScanBudget, SqlPartition, SqlSource } from "./rows.js";
export type {
  RenderedResult,
  ResultFormat,
  SqlOperation,
  SqlReply,
  SqlRequest,
} from "./sql_messages.js";
