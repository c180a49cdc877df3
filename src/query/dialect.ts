/**
 * Translates the DataFusion SQL that Restate's clients send into DuckDB SQL. Only the differences
 * that matter are rewritten, on tokens (string literals, quoted identifiers and comments are never
 * touched):
 * - `FIRST_VALUE(x [ORDER BY y])` / `LAST_VALUE(…)` used as aggregates (no `OVER`) → `first(…)` /
 *   `last(…)`; as window functions they stay;
 * - `arrow_cast(expr, 'Int64')` → `CAST(expr AS BIGINT)`;
 * - a timestamp or duration column cast to a number (`CAST(created_at AS BIGINT)`, `::`, `TRY_CAST`)
 *   gives its milliseconds, as Arrow's cast of `Timestamp(ms)` / `Duration(ms)` does (DuckDB refuses
 *   the cast): `CAST(epoch_ms(created_at) AS BIGINT)`. Only column references are recognised, by
 *   the names of the catalog's time columns; casts of other expressions are left as they are.
 * - `information_schema.columns` / `.tables` → Keel's copies with Restate's type names.
 * DuckDB already accepts `==`, `COUNT(1)`, `LIKE` and the rest of what the CLI sends.
 */

import { columnNamesOfTypes } from "./catalog.js";

export type TokenKind = "space" | "comment" | "string" | "quoted" | "word" | "number" | "punct";

export interface Token {
  readonly kind: TokenKind;
  readonly text: string;
}

export const INFORMATION_SCHEMA_TABLES: Readonly<Record<string, string>> = {
  columns: "__keel_information_schema_columns",
  tables: "__keel_information_schema_tables",
};

export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  const push = (kind: TokenKind, end: number): void => {
    tokens.push({ kind, text: sql.slice(at, end) });
    at = end;
  };
  while (at < sql.length) {
    const c = sql[at]!;
    if (/\s/.test(c)) {
      let end = at + 1;
      while (end < sql.length && /\s/.test(sql[end]!)) end++;
      push("space", end);
    } else if (sql.startsWith("--", at)) {
      const newline = sql.indexOf("\n", at);
      push("comment", newline < 0 ? sql.length : newline);
    } else if (sql.startsWith("/*", at)) {
      const close = sql.indexOf("*/", at + 2);
      push("comment", close < 0 ? sql.length : close + 2);
    } else if (c === "'" || c === '"') {
      push(c === "'" ? "string" : "quoted", quotedEnd(sql, at, c));
    } else if (/[A-Za-z_]/.test(c)) {
      let end = at + 1;
      while (end < sql.length && /[A-Za-z0-9_$]/.test(sql[end]!)) end++;
      push("word", end);
    } else if (/[0-9]/.test(c)) {
      let end = at + 1;
      while (end < sql.length && /[0-9.eE]/.test(sql[end]!)) end++;
      push("number", end);
    } else {
      push("punct", at + 1);
    }
  }
  return tokens;
}

/** The end of a quoted run starting at `start`; a doubled quote is an escaped quote. */
function quotedEnd(sql: string, start: number, quote: string): number {
  let at = start + 1;
  while (at < sql.length) {
    if (sql[at] === quote) {
      if (sql[at + 1] === quote) at += 2;
      else return at + 1;
    } else at++;
  }
  return sql.length;
}

const significant = (t: Token): boolean => t.kind !== "space" && t.kind !== "comment";

/** Index of the next significant token at or after `from`, or -1. */
function nextSignificant(tokens: readonly Token[], from: number): number {
  for (let i = from; i < tokens.length; i++) if (significant(tokens[i]!)) return i;
  return -1;
}

/** Index of the `)` closing the `(` at `open`, or -1. */
function matchingParen(tokens: readonly Token[], open: number): number {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind !== "punct") continue;
    if (t.text === "(") depth++;
    else if (t.text === ")" && --depth === 0) return i;
  }
  return -1;
}

/** Arrow type names (as `arrow_cast` takes them) and the DuckDB types they become. */
const ARROW_CAST_TYPES: ReadonlyMap<string, string> = new Map([
  ["int8", "TINYINT"],
  ["int16", "SMALLINT"],
  ["int32", "INTEGER"],
  ["int64", "BIGINT"],
  ["uint8", "UTINYINT"],
  ["uint16", "USMALLINT"],
  ["uint32", "UINTEGER"],
  ["uint64", "UBIGINT"],
  ["float32", "FLOAT"],
  ["float64", "DOUBLE"],
  ["boolean", "BOOLEAN"],
  ["utf8", "VARCHAR"],
  ["largeutf8", "VARCHAR"],
  ["utf8view", "VARCHAR"],
  ["binary", "BLOB"],
  ["largebinary", "BLOB"],
  ["date32", "DATE"],
]);

function arrowCastType(name: string): string | undefined {
  if (/^timestamp\s*\(/i.test(name)) return /,\s*some/i.test(name) ? "TIMESTAMPTZ" : "TIMESTAMP";
  if (/^duration\s*\(/i.test(name) || /^interval\s*\(/i.test(name)) return "INTERVAL";
  return ARROW_CAST_TYPES.get(name.toLowerCase());
}

/** Microseconds per unit of an Arrow time unit named in a type (`Timestamp(Millisecond, …)`). */
function unitMicros(name: string): number | undefined {
  const unit = /\(\s*(second|millisecond|microsecond|nanosecond)/i.exec(name)?.[1]?.toLowerCase();
  return unit === undefined
    ? undefined
    : { second: 1e6, millisecond: 1e3, microsecond: 1, nanosecond: 1e-3 }[unit];
}

/**
 * Arrow casts a number to a timestamp or duration as a count of the type's unit; DuckDB's CAST does
 * not, so a numeric literal gets an explicit conversion.
 */
function numericTimeCast(inner: string, name: string, type: string): string | undefined {
  if (!/^\s*-?\d+\s*$/.test(inner)) return undefined;
  const micros = unitMicros(name);
  if (micros === undefined) return undefined;
  const value = `(CAST(${inner.trim()} AS DOUBLE) * ${micros})`;
  if (type === "INTERVAL") return `to_microseconds(CAST(${value} AS BIGINT))`;
  return `CAST(make_timestamp(CAST(${value} AS BIGINT)) AS ${type})`;
}

/** Columns whose values Arrow casts to numbers as milliseconds. */
const TIME_COLUMNS: ReadonlySet<string> = columnNamesOfTypes(["ts", "dur"]);

const NUMERIC_TYPES: ReadonlySet<string> = new Set([
  "tinyint",
  "smallint",
  "int",
  "integer",
  "bigint",
  "hugeint",
  "int1",
  "int2",
  "int4",
  "int8",
  "long",
  "short",
  "signed",
  "utinyint",
  "usmallint",
  "uinteger",
  "ubigint",
  "uhugeint",
  "real",
  "float",
  "float4",
  "float8",
  "double",
  "decimal",
  "numeric",
]);

/**
 * If `tokens[from..to)` (significant tokens only) is a reference to a time column, `a.b.created_at`
 * or `created_at`, its text.
 */
function timeColumnReference(
  tokens: readonly Token[],
  from: number,
  to: number,
): string | undefined {
  const parts = tokens.slice(from, to).filter(significant);
  if (parts.length === 0 || parts.length % 2 === 0) return undefined;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const ok = i % 2 === 1 ? part.text === "." : part.kind === "word" || part.kind === "quoted";
    if (!ok) return undefined;
  }
  const last = parts[parts.length - 1]!;
  const name = last.kind === "quoted" ? last.text.slice(1, -1) : last.text.toLowerCase();
  return TIME_COLUMNS.has(name) ? parts.map((t) => t.text).join("") : undefined;
}

/** `CAST(<time column> AS <number type>)` (or `TRY_CAST`) → the same cast of its milliseconds. */
function rewriteTimeCast(
  tokens: readonly Token[],
  keyword: string,
  open: number,
): { text: string; end: number } | undefined {
  const close = matchingParen(tokens, open);
  if (close < 0) return undefined;
  let as = -1;
  for (let i = open + 1; i < close; i++) {
    const t = tokens[i]!;
    if (t.text === "(") return undefined;
    if (t.kind === "word" && t.text.toLowerCase() === "as") {
      as = i;
      break;
    }
  }
  if (as < 0) return undefined;
  const column = timeColumnReference(tokens, open + 1, as);
  const type = nextSignificant(tokens, as + 1);
  if (column === undefined || type < 0 || !NUMERIC_TYPES.has(tokens[type]!.text.toLowerCase()))
    return undefined;
  const typeText = tokens
    .slice(as + 1, close)
    .map((t) => t.text)
    .join("")
    .trim();
  return { text: `${keyword}(epoch_ms(${column}) AS ${typeText})`, end: close };
}

/**
 * At `tokens[at]`, the start of `<time column>::<number type>`: the number of tokens the column
 * reference spans, else undefined.
 */
function timeColumnColonCast(tokens: readonly Token[], at: number): number | undefined {
  let end = at + 1;
  while (tokens[end]?.text === "." && tokens[end + 1] !== undefined) end += 2;
  if (timeColumnReference(tokens, at, end) === undefined) return undefined;
  if (tokens[end]?.text !== ":" || tokens[end + 1]?.text !== ":") return undefined;
  const type = nextSignificant(tokens, end + 2);
  return type >= 0 && NUMERIC_TYPES.has(tokens[type]!.text.toLowerCase()) ? end - at : undefined;
}

export function translateDialect(sql: string): string {
  const tokens = tokenize(sql);
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.kind !== "word") {
      out.push(token.text);
      continue;
    }
    const word = token.text.toLowerCase();
    const open = nextSignificant(tokens, i + 1);
    const opensCall = open >= 0 && tokens[open]!.text === "(";
    if (word === "information_schema") {
      const dot = nextSignificant(tokens, i + 1);
      const name = dot >= 0 && tokens[dot]!.text === "." ? nextSignificant(tokens, dot + 1) : -1;
      const replacement =
        name >= 0 ? INFORMATION_SCHEMA_TABLES[tokens[name]!.text.toLowerCase()] : undefined;
      if (replacement !== undefined) {
        out.push(replacement);
        i = name;
        continue;
      }
    } else if ((word === "first_value" || word === "last_value") && opensCall) {
      const close = matchingParen(tokens, open);
      const after = close >= 0 ? nextSignificant(tokens, close + 1) : -1;
      const windowed = after >= 0 && tokens[after]!.text.toLowerCase() === "over";
      out.push(windowed ? token.text : word === "first_value" ? "first" : "last");
      continue;
    } else if ((word === "cast" || word === "try_cast") && opensCall) {
      const cast = rewriteTimeCast(tokens, token.text, open);
      if (cast !== undefined) {
        out.push(cast.text);
        i = cast.end;
        continue;
      }
    } else if (TIME_COLUMNS.has(word) || tokens[i + 1]?.text === ".") {
      const span = timeColumnColonCast(tokens, i);
      if (span !== undefined) {
        const reference = tokens
          .slice(i, i + span)
          .map((t) => t.text)
          .join("");
        out.push(`epoch_ms(${reference})`);
        i += span - 1;
        continue;
      }
    } else if (word === "arrow_cast" && opensCall) {
      const cast = rewriteArrowCast(tokens, open);
      if (cast !== undefined) {
        out.push(cast.text);
        i = cast.end;
        continue;
      }
    }
    out.push(token.text);
  }
  return out.join("");
}

/** `arrow_cast(expr, 'Type')` → `CAST(expr AS T)`; undefined when the shape or type is unknown. */
function rewriteArrowCast(
  tokens: readonly Token[],
  open: number,
): { text: string; end: number } | undefined {
  const close = matchingParen(tokens, open);
  if (close < 0) return undefined;
  let depth = 0;
  let comma = -1;
  for (let i = open + 1; i < close; i++) {
    const t = tokens[i]!;
    if (t.text === "(") depth++;
    else if (t.text === ")") depth--;
    else if (t.text === "," && depth === 0) comma = i;
  }
  if (comma < 0) return undefined;
  const literal = nextSignificant(tokens, comma + 1);
  if (literal < 0 || tokens[literal]!.kind !== "string") return undefined;
  if (nextSignificant(tokens, literal + 1) !== close) return undefined;
  const name = tokens[literal]!.text.slice(1, -1).replace(/''/g, "'").trim();
  const type = arrowCastType(name);
  if (type === undefined) return undefined;
  const inner = translateDialect(
    tokens
      .slice(open + 1, comma)
      .map((t) => t.text)
      .join(""),
  );
  const column = timeColumnReference(tokens, open + 1, comma);
  if (column !== undefined && NUMERIC_TYPES.has(type.toLowerCase()))
    return { text: `CAST(epoch_ms(${column}) AS ${type})`, end: close };
  return { text: numericTimeCast(inner, name, type) ?? `CAST(${inner} AS ${type})`, end: close };
}
