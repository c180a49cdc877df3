/**
 * Query results in the two forms Restate's `/query` answers with:
 * - JSON `{"rows":[…]}` as Restate (arrow-json) writes it: NULL columns omitted, binary as lowercase
 *   hex, timestamps in RFC 3339 UTC with a `Z` (milliseconds only when non-zero), durations in
 *   ISO 8601 (`PT86400S`), lists as arrays, 64-bit integers as exact JSON numbers;
 * - an Arrow IPC stream (schema, record batches, end of stream) with Restate's column types:
 *   strings LargeUtf8, binary LargeBinary, timestamps Timestamp(ms, "+00:00"), durations
 *   Duration(ms), counts Int64.
 */

import {
  Bool,
  DateDay,
  Duration,
  Field,
  Float32,
  Float64,
  Int16,
  Int32,
  Int64,
  Int8,
  LargeBinary,
  LargeUtf8,
  List,
  Null,
  RecordBatch,
  Schema,
  Struct,
  Table,
  TimeUnit,
  Timestamp,
  Uint16,
  Uint32,
  Uint64,
  Uint8,
  makeData,
  tableToIPC,
  vectorFromArray,
  type DataType,
} from "apache-arrow";
import {
  DuckDBBlobValue,
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBIntervalValue,
  DuckDBListValue,
  DuckDBArrayValue,
  DuckDBMapValue,
  DuckDBStructValue,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  DuckDBTypeId,
  type DuckDBType,
  type DuckDBValue,
} from "@duckdb/node-api";
import { toHex } from "../../core/index.js";

export interface QueryResult {
  readonly columns: readonly { readonly name: string; readonly type: DuckDBType }[];
  readonly rows: readonly (readonly DuckDBValue[])[];
}

const MS_PER_DAY = 86_400_000;
const DAYS_PER_MONTH = 30;

// ---- values ----

/** Milliseconds since the epoch of a timestamp value, or undefined for other values. */
function timestampMs(value: DuckDBValue): number | undefined {
  if (value instanceof DuckDBTimestampTZValue || value instanceof DuckDBTimestampValue)
    return Number(value.micros / 1000n);
  if (value instanceof DuckDBTimestampMillisecondsValue) return Number(value.millis);
  if (value instanceof DuckDBTimestampSecondsValue) return Number(value.seconds) * 1000;
  if (value instanceof DuckDBTimestampNanosecondsValue) return Number(value.nanos / 1_000_000n);
  return undefined;
}

function intervalMs(value: DuckDBIntervalValue): bigint {
  return (
    BigInt(value.months * DAYS_PER_MONTH + value.days) * BigInt(MS_PER_DAY) + value.micros / 1000n
  );
}

/** RFC 3339 in UTC, with a fraction only when there are milliseconds (`…T10:09:17.001Z`). */
export function rfc3339(ms: number): string {
  const iso = new Date(ms).toISOString();
  return ms % 1000 === 0 ? iso.replace(/\.000Z$/, "Z") : iso;
}

/** ISO 8601 duration as Restate prints them: seconds only (`PT86400S`, `PT1.5S`), `P0D` for zero. */
export function isoDuration(ms: bigint): string {
  if (ms === 0n) return "P0D";
  const sign = ms < 0n ? "-" : "";
  const abs = ms < 0n ? -ms : ms;
  const seconds = abs / 1000n;
  const fraction = abs % 1000n;
  const fractionText =
    fraction === 0n ? "" : `.${fraction.toString().padStart(3, "0").replace(/0+$/, "")}`;
  return `${sign}PT${seconds}${fractionText}S`;
}

/**
 * Roughly the bytes a value takes in an answer: text and binary by length (binary twice, as hex),
 * scalars a few bytes, lists, structs and maps by their parts. Bounds a result while it is converted.
 */
export function approximateBytes(value: DuckDBValue): number {
  if (value === null) return 1;
  if (typeof value === "string") return value.length;
  if (typeof value !== "object") return 8;
  if (value instanceof DuckDBBlobValue) return 2 * value.bytes.length;
  if (value instanceof DuckDBListValue || value instanceof DuckDBArrayValue)
    return value.items.reduce<number>((sum, item) => sum + 1 + approximateBytes(item), 2);
  if (value instanceof DuckDBStructValue)
    return Object.entries(value.entries).reduce<number>(
      (sum, [key, item]) => sum + key.length + 3 + approximateBytes(item),
      2,
    );
  if (value instanceof DuckDBMapValue)
    return value.entries.reduce<number>(
      (sum, entry) => sum + 3 + approximateBytes(entry.key) + approximateBytes(entry.value),
      2,
    );
  return 32;
}

/** A JSON fragment for one non-null value. */
function jsonValue(value: DuckDBValue): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (value === null) return "null";
  const ts = timestampMs(value);
  if (ts !== undefined) return JSON.stringify(rfc3339(ts));
  if (value instanceof DuckDBBlobValue) return JSON.stringify(toHex(value.bytes));
  if (value instanceof DuckDBIntervalValue) return JSON.stringify(isoDuration(intervalMs(value)));
  if (value instanceof DuckDBListValue || value instanceof DuckDBArrayValue)
    return `[${value.items.map(jsonValue).join(",")}]`;
  if (value instanceof DuckDBDecimalValue) return String(value.toDouble());
  if (value instanceof DuckDBStructValue) {
    const fields = Object.entries(value.entries)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => `${JSON.stringify(k)}:${jsonValue(v)}`);
    return `{${fields.join(",")}}`;
  }
  if (value instanceof DuckDBMapValue) {
    const fields = value.entries.map(
      (e) => `${JSON.stringify(String(e.key))}:${jsonValue(e.value)}`,
    );
    return `{${fields.join(",")}}`;
  }
  if (value instanceof DuckDBDateValue) return JSON.stringify(value.toString());
  return JSON.stringify(String(value));
}

/** `{"rows":[…]}` with NULL columns left out of each row. */
export function toJsonRows(result: QueryResult): string {
  const names = result.columns.map((c) => JSON.stringify(c.name));
  const rows = result.rows.map((row) => {
    const fields: string[] = [];
    row.forEach((value, i) => {
      if (value !== null) fields.push(`${names[i]!}:${jsonValue(value)}`);
    });
    return `{${fields.join(",")}}`;
  });
  return `{"rows":[${rows.join(",")}]}`;
}

// ---- Arrow ----

function arrowType(type: DuckDBType): DataType {
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return new Bool();
    case DuckDBTypeId.TINYINT:
      return new Int8();
    case DuckDBTypeId.SMALLINT:
      return new Int16();
    case DuckDBTypeId.INTEGER:
      return new Int32();
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.HUGEINT:
      return new Int64();
    case DuckDBTypeId.UTINYINT:
      return new Uint8();
    case DuckDBTypeId.USMALLINT:
      return new Uint16();
    case DuckDBTypeId.UINTEGER:
      return new Uint32();
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.UHUGEINT:
      return new Uint64();
    case DuckDBTypeId.FLOAT:
      return new Float32();
    case DuckDBTypeId.DOUBLE:
    case DuckDBTypeId.DECIMAL:
      return new Float64();
    case DuckDBTypeId.BLOB:
      return new LargeBinary();
    case DuckDBTypeId.TIMESTAMP_TZ:
      return new Timestamp(TimeUnit.MILLISECOND, "+00:00");
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_S:
    case DuckDBTypeId.TIMESTAMP_MS:
    case DuckDBTypeId.TIMESTAMP_NS:
      return new Timestamp(TimeUnit.MILLISECOND);
    case DuckDBTypeId.DATE:
      return new DateDay();
    case DuckDBTypeId.INTERVAL:
      return new Duration(TimeUnit.MILLISECOND);
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY:
      return new List(new Field("item", arrowType(type.valueType), true));
    case DuckDBTypeId.SQLNULL:
      return new Null();
    default:
      // Strings, and anything without a natural Arrow form (structs, maps, uuids) as text.
      return new LargeUtf8();
  }
}

/** The JS value apache-arrow expects for `type`. */
function arrowValue(value: DuckDBValue, type: DataType): unknown {
  if (value === null) return null;
  const ts = timestampMs(value);
  if (ts !== undefined) return ts;
  if (value instanceof DuckDBBlobValue) return value.bytes;
  if (value instanceof DuckDBIntervalValue) return intervalMs(value);
  if (value instanceof DuckDBDecimalValue) return value.toDouble();
  if (value instanceof DuckDBDateValue) return Date.UTC(1970, 0, 1 + value.days);
  if (value instanceof DuckDBListValue || value instanceof DuckDBArrayValue) {
    const child: DataType = type instanceof List ? (type.valueType as DataType) : new LargeUtf8();
    return value.items.map((item) => arrowValue(item, child));
  }
  if (type instanceof Int64 || type instanceof Uint64)
    return typeof value === "bigint" ? value : BigInt(value as number);
  if (type instanceof LargeUtf8 && typeof value !== "string") {
    return value instanceof DuckDBStructValue || value instanceof DuckDBMapValue
      ? jsonValue(value)
      : String(value);
  }
  return value;
}

/** The result as an Arrow IPC stream. */
export function toArrowStream(result: QueryResult): Uint8Array {
  const fields = result.columns.map((c) => new Field(c.name, arrowType(c.type), true));
  const schema = new Schema(fields);
  const length = result.rows.length;
  const children = fields.map((field, i) => {
    const values = result.rows.map((row) => arrowValue(row[i]!, field.type));
    return vectorFromArray(values, field.type).data[0]!;
  });
  const data = makeData({ type: new Struct(fields), length, nullCount: 0, children });
  return tableToIPC(new Table(schema, [new RecordBatch(schema, data)]), "stream");
}
