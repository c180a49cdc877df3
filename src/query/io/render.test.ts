import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  BIGINT,
  BLOB,
  DuckDBBlobValue,
  DuckDBIntervalValue,
  DuckDBListValue,
  DuckDBTimestampTZValue,
  INTERVAL,
  LIST,
  TIMESTAMPTZ,
  UBIGINT,
  UINTEGER,
  VARCHAR,
} from "@duckdb/node-api";
import { tableFromIPC } from "apache-arrow";
import { isoDuration, rfc3339, toArrowStream, toJsonRows, type QueryResult } from "./render.js";

const RESULT: QueryResult = {
  columns: [
    { name: "id", type: VARCHAR },
    { name: "partition_key", type: UBIGINT },
    { name: "value", type: BLOB },
    { name: "created_at", type: TIMESTAMPTZ },
    { name: "retention", type: INTERVAL },
    { name: "waiting", type: LIST(UINTEGER) },
    { name: "n", type: BIGINT },
  ],
  rows: [
    [
      "inv_1",
      18_446_744_073_709_551_615n,
      new DuckDBBlobValue(new Uint8Array([0x31, 0x31])),
      new DuckDBTimestampTZValue(1_795_694_210_496_000n),
      new DuckDBIntervalValue(0, 0, 86_400_000_000n),
      new DuckDBListValue([1, 2]),
      3n,
    ],
    ["inv_2", null, null, null, null, null, 0n],
  ],
};

describe("query results", () => {
  it("render durations and times as Restate's JSON does", () => {
    assert.equal(isoDuration(86_400_000n), "PT86400S");
    assert.equal(isoDuration(1500n), "PT1.5S");
    assert.equal(isoDuration(1n), "PT0.001S");
    assert.equal(isoDuration(0n), "P0D");
    assert.equal(rfc3339(1_795_694_210_496), "2026-11-26T11:56:50.496Z");
    assert.equal(rfc3339(1_795_694_210_000), "2026-11-26T11:56:50Z");
  });

  it("write JSON rows without NULL columns, exact u64, hex binary", () => {
    assert.equal(
      toJsonRows(RESULT),
      '{"rows":[{"id":"inv_1","partition_key":18446744073709551615,"value":"3131","created_at":"2026-11-26T11:56:50.496Z","retention":"PT86400S","waiting":[1,2],"n":3},{"id":"inv_2","n":0}]}',
    );
  });

  it("write an Arrow IPC stream with Restate's column types", () => {
    const table = tableFromIPC(toArrowStream(RESULT));
    assert.deepEqual(
      table.schema.fields.map((f) => String(f.type)),
      [
        "LargeUtf8",
        "Uint64",
        "LargeBinary",
        "Timestamp<MILLISECOND, +00:00>",
        "Duration<MILLISECOND>",
        "List<Uint32>",
        "Int64",
      ],
    );
    const first = table.get(0)!.toJSON();
    assert.equal(first["partition_key"], 18_446_744_073_709_551_615n);
    assert.equal(first["created_at"], 1_795_694_210_496);
    assert.equal(first["retention"], 86_400_000n);
    assert.deepEqual([...(first["value"] as Uint8Array)], [0x31, 0x31]);
    assert.equal(table.get(1)!.toJSON()["partition_key"], null);
  });
});
