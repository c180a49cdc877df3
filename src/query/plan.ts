/**
 * Decides what a query needs from the partition stores, from DuckDB's parse tree of it
 * (`json_serialize_sql`): which catalog tables it reads, which of their columns, and which equality
 * filters every read of a table is subject to, so that scans can be narrowed (an invocation id, a
 * service key) and only the needed columns are built.
 *
 * Narrowing must never change an answer, so it is conservative:
 * - a filter narrows a table only if it is a top-level conjunct of the WHERE of the SELECT that reads
 *   the table, compares one of the table's columns with string literals (`=` or `IN`), and every read
 *   of the table in the query has a filter on that column (the union of their values is loaded);
 * - all columns are built when a `*` can reach the result; a `*` inside a FROM subquery of a SELECT
 *   without `*` only passes columns on by name, so names referenced anywhere suffice.
 */

import { CATALOG } from "./catalog.js";
import { INFORMATION_SCHEMA_TABLES } from "./dialect.js";

type Json = Record<string, unknown>;

export interface TableNeeds {
  /** Column names to build; undefined = all. */
  columns: Set<string> | undefined;
  /** Equality filters (column → allowed values) that hold for every read of the table. */
  filters: Map<string, Set<string>>;
}

export interface QueryPlan {
  /** Catalog tables the query reads. */
  readonly tables: Map<string, TableNeeds>;
  /** Whether the query reads Keel's information_schema copies. */
  readonly informationSchema: boolean;
}

interface TableRead {
  readonly table: string;
  readonly needsAll: boolean;
  readonly filters: Map<string, Set<string>>;
}

const isObject = (v: unknown): v is Json =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const INFO_TABLES = new Set(Object.values(INFORMATION_SCHEMA_TABLES));

/** Plans from the output of `json_serialize_sql`; throws with DuckDB's message on a parse error. */
export function planQuery(serialized: unknown): QueryPlan {
  if (!isObject(serialized)) throw new Error("the query could not be parsed");
  if (serialized["error"] === true) {
    const message = serialized["error_message"];
    throw new Error(typeof message === "string" ? message : "the query could not be parsed");
  }
  const reads: TableRead[] = [];
  const names = new Set<string>();
  let informationSchema = false;
  const visit = {
    read(table: string, needsAll: boolean, filters: Map<string, Set<string>>): void {
      if (INFO_TABLES.has(table)) informationSchema = true;
      else if (CATALOG.has(table)) reads.push({ table, needsAll, filters });
    },
    name(column: string): void {
      names.add(column);
    },
  };
  const statements = serialized["statements"];
  for (const statement of Array.isArray(statements) ? statements : []) {
    if (isObject(statement)) walkQuery(statement["node"], true, visit);
  }
  const tables = new Map<string, TableNeeds>();
  for (const read of reads) {
    const existing = tables.get(read.table);
    if (existing === undefined) {
      tables.set(read.table, {
        columns: read.needsAll ? undefined : new Set(),
        filters: new Map([...read.filters].map(([c, v]) => [c, new Set(v)])),
      });
      continue;
    }
    if (read.needsAll) existing.columns = undefined;
    for (const [column, values] of existing.filters) {
      const other = read.filters.get(column);
      if (other === undefined) existing.filters.delete(column);
      else for (const v of other) values.add(v);
    }
  }
  for (const [table, needs] of tables) {
    const columns = CATALOG.get(table)!.columns.map((c) => c.name);
    // A filter on a column the table lacks binds to an outer query's table: it says nothing here.
    for (const column of needs.filters.keys())
      if (!columns.includes(column)) needs.filters.delete(column);
    if (needs.columns === undefined) continue;
    for (const column of columns) if (names.has(column)) needs.columns.add(column);
  }
  return { tables, informationSchema };
}

interface Visitor {
  read(table: string, needsAll: boolean, filters: Map<string, Set<string>>): void;
  name(column: string): void;
}

function walkQuery(node: unknown, starReachesResult: boolean, visit: Visitor): void {
  if (!isObject(node)) return;
  if (node["type"] === "SELECT_NODE") return walkSelect(node, starReachesResult, visit);
  search(node, starReachesResult, visit);
}

/** Finds nested queries, table reads and column names anywhere below `value`. */
function search(value: unknown, starReachesResult: boolean, visit: Visitor): void {
  if (Array.isArray(value)) {
    for (const item of value) search(item, starReachesResult, visit);
    return;
  }
  if (!isObject(value)) return;
  const type = value["type"];
  if (type === "SELECT_NODE") return walkSelect(value, starReachesResult, visit);
  if (value["class"] === "COLUMN_REF") noteColumn(value, visit);
  if (type === "BASE_TABLE") {
    visit.read(tableName(value), true, new Map());
    return;
  }
  if (type === "JOIN") noteUsing(value, visit);
  for (const child of Object.values(value)) search(child, starReachesResult, visit);
}

function walkSelect(node: Json, starReachesResult: boolean, visit: Visitor): void {
  const hasStar = containsStar(node["select_list"]);
  const tables: Json[] = [];
  const subqueries: unknown[] = [];
  const fromExtras: unknown[] = [];
  collectFrom(node["from_table"], tables, subqueries, fromExtras, visit);
  const conjuncts = topLevelConjuncts(node["where_clause"]);
  const single = tables.length === 1 && subqueries.length === 0;
  for (const table of tables) {
    const name = tableName(table);
    const alias =
      typeof table["alias"] === "string" && table["alias"] !== "" ? table["alias"] : name;
    visit.read(
      name,
      hasStar && starReachesResult,
      filtersFor(conjuncts, alias.toLowerCase(), single),
    );
  }
  for (const sub of subqueries) walkQuery(sub, starReachesResult && hasStar, visit);
  for (const [key, child] of Object.entries(node)) {
    if (key !== "from_table") search(child, true, visit);
  }
  for (const extra of fromExtras) search(extra, true, visit);
}

/** Splits a FROM tree into base tables and subqueries; join conditions go to `extras`. */
function collectFrom(
  ref: unknown,
  tables: Json[],
  subqueries: unknown[],
  extras: unknown[],
  visit: Visitor,
): void {
  if (!isObject(ref)) return;
  switch (ref["type"]) {
    case "BASE_TABLE":
      tables.push(ref);
      return;
    case "SUBQUERY":
      subqueries.push(isObject(ref["subquery"]) ? ref["subquery"]["node"] : undefined);
      return;
    case "JOIN":
      noteUsing(ref, visit);
      collectFrom(ref["left"], tables, subqueries, extras, visit);
      collectFrom(ref["right"], tables, subqueries, extras, visit);
      extras.push(ref["condition"]);
      return;
    default:
      // Table functions, VALUES lists, …: look inside for anything else.
      extras.push(ref);
  }
}

function tableName(table: Json): string {
  const name = table["table_name"];
  return typeof name === "string" ? name.toLowerCase() : "";
}

function noteColumn(ref: Json, visit: Visitor): void {
  const names: unknown = ref["column_names"];
  if (Array.isArray(names) && names.length > 0) {
    const last: unknown = names[names.length - 1];
    if (typeof last === "string") visit.name(last.toLowerCase());
  }
}

function noteUsing(join: Json, visit: Visitor): void {
  const using = join["using_columns"];
  if (Array.isArray(using))
    for (const c of using) if (typeof c === "string") visit.name(c.toLowerCase());
}

function containsStar(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(containsStar);
  if (!isObject(value)) return false;
  if (value["class"] === "STAR") return true;
  return Object.values(value).some(containsStar);
}

function topLevelConjuncts(where: unknown): Json[] {
  if (!isObject(where)) return [];
  if (where["class"] === "CONJUNCTION" && where["type"] === "CONJUNCTION_AND") {
    const children = where["children"];
    return Array.isArray(children) ? children.flatMap(topLevelConjuncts) : [];
  }
  return [where];
}

/** Equality filters on the table read under `alias` among the WHERE conjuncts. */
function filtersFor(
  conjuncts: readonly Json[],
  alias: string,
  unqualifiedIsThisTable: boolean,
): Map<string, Set<string>> {
  const filters = new Map<string, Set<string>>();
  const columnOf = (ref: unknown): string | undefined => {
    if (!isObject(ref) || ref["class"] !== "COLUMN_REF") return undefined;
    const names = ref["column_names"];
    if (!Array.isArray(names)) return undefined;
    const parts = names.map((n) => String(n).toLowerCase());
    if (parts.length === 1 && unqualifiedIsThisTable) return parts[0];
    if (parts.length === 2 && parts[0] === alias) return parts[1];
    return undefined;
  };
  const add = (column: string, values: string[]): void => {
    const existing = filters.get(column);
    // Two conjuncts on one column: keeping either one is still a superset of the answer.
    if (existing === undefined) filters.set(column, new Set(values));
  };
  for (const conjunct of conjuncts) {
    if (conjunct["type"] === "COMPARE_EQUAL") {
      const left = conjunct["left"];
      const right = conjunct["right"];
      const column = columnOf(left) ?? columnOf(right);
      const literal = stringLiteral(columnOf(left) !== undefined ? right : left);
      if (column !== undefined && literal !== undefined) add(column, [literal]);
    } else if (conjunct["type"] === "COMPARE_IN") {
      const children = conjunct["children"];
      if (!Array.isArray(children) || children.length < 2) continue;
      const column = columnOf(children[0]);
      const literals = children.slice(1).map(stringLiteral);
      const values = literals.filter((l): l is string => l !== undefined);
      if (column !== undefined && values.length === literals.length) add(column, values);
    }
  }
  return filters;
}

function stringLiteral(value: unknown): string | undefined {
  if (!isObject(value) || value["class"] !== "CONSTANT") return undefined;
  const constant = value["value"];
  if (!isObject(constant) || constant["is_null"] === true) return undefined;
  const type = constant["type"];
  if (!isObject(type) || type["id"] !== "VARCHAR") return undefined;
  return typeof constant["value"] === "string" ? constant["value"] : undefined;
}
