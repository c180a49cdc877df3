import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { tokenize, translateDialect } from "./dialect.js";

describe("DataFusion to DuckDB dialect", () => {
  it("turns FIRST_VALUE used as an aggregate into first(), keeping ORDER BY", () => {
    assert.equal(
      translateDialect(
        "SELECT FIRST_VALUE(id ORDER BY created_at ASC) as oldest FROM t GROUP BY a",
      ),
      "SELECT first(id ORDER BY created_at ASC) as oldest FROM t GROUP BY a",
    );
    assert.equal(
      translateDialect("select first_value(id) as a, LAST_VALUE(x) b from t"),
      "select first(id) as a, last(x) b from t",
    );
  });

  it("keeps FIRST_VALUE as a window function", () => {
    const sql = "select first_value(id) over (partition by k order by t) from t";
    assert.equal(translateDialect(sql), sql);
  });

  it("rewrites arrow_cast to CAST with the DuckDB type", () => {
    assert.equal(translateDialect("select arrow_cast(1, 'Int64')"), "select CAST(1 AS BIGINT)");
    assert.equal(
      translateDialect("select arrow_cast(f(a, b), 'Timestamp(Millisecond, Some(\"+00:00\"))')"),
      "select CAST(f(a, b) AS TIMESTAMPTZ)",
    );
    assert.equal(
      translateDialect("select arrow_cast(1500, 'Duration(Millisecond)')"),
      "select to_microseconds(CAST((CAST(1500 AS DOUBLE) * 1000) AS BIGINT))",
      "numbers count the type's unit, as in Arrow",
    );
    const unknown = "select arrow_cast(1, 'Dictionary(Int32, Utf8)')";
    assert.equal(translateDialect(unknown), unknown, "unknown types are left to fail clearly");
  });

  it("casts time columns to numbers as milliseconds, as Arrow does", () => {
    assert.equal(
      translateDialect(
        "SELECT CAST(created_at AS BIGINT), TRY_CAST(i.modified_at AS DOUBLE) FROM t i",
      ),
      "SELECT CAST(epoch_ms(created_at) AS BIGINT), TRY_CAST(epoch_ms(i.modified_at) AS DOUBLE) FROM t i",
    );
    assert.equal(
      translateDialect("select t.created_at::INT8, completion_retention::bigint from t"),
      "select epoch_ms(t.created_at)::INT8, epoch_ms(completion_retention)::bigint from t",
    );
    assert.equal(
      translateDialect("select arrow_cast(created_at, 'Int64') from t"),
      "select CAST(epoch_ms(created_at) AS BIGINT) from t",
    );
    const untouched =
      "select CAST(created_at AS VARCHAR), created_at::TEXT, CAST(x AS BIGINT), CAST(f(created_at) AS BIGINT) from t";
    assert.equal(translateDialect(untouched), untouched, "other casts and expressions stay");
  });

  it("points information_schema at Keel's copies", () => {
    assert.equal(
      translateDialect(
        "SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'sys_journal' AND column_name IN ('promise_name')",
      ),
      "SELECT COUNT(*) FROM __keel_information_schema_columns WHERE table_name = 'sys_journal' AND column_name IN ('promise_name')",
    );
    assert.equal(
      translateDialect("select * from INFORMATION_SCHEMA.tables"),
      "select * from __keel_information_schema_tables",
    );
  });

  it("never touches string literals, quoted identifiers or comments", () => {
    const sql =
      "select 'first_value(x)', \"first_value\" -- first_value(y)\n from t where a = 'it''s' /* arrow_cast(1,'Int64') */";
    assert.equal(translateDialect(sql), sql);
    assert.equal(
      tokenize(sql)
        .map((t) => t.text)
        .join(""),
      sql,
    );
  });

  it("leaves the CLI's other queries as they are", () => {
    const sql =
      "SELECT id, target FROM sys_invocation_status WHERE status == 'inboxed' AND ((target = 'X' AND target_service_ty = 'service') OR (target LIKE 'X/%')) LIMIT 500";
    assert.equal(translateDialect(sql), sql);
  });
});
