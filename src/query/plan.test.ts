import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { translateDialect } from "./dialect.js";
import { planQuery, type QueryPlan } from "./plan.js";

let connection: DuckDBConnection;

async function plan(sql: string): Promise<QueryPlan> {
  const quoted = translateDialect(sql).replace(/'/g, "''");
  const reader = await connection.runAndReadAll(`SELECT json_serialize_sql('${quoted}')`);
  return planQuery(JSON.parse(String(reader.getRows()[0]![0])));
}

const filters = (p: QueryPlan, table: string) =>
  Object.fromEntries([...p.tables.get(table)!.filters].map(([k, v]) => [k, [...v].sort()]));
const columns = (p: QueryPlan, table: string) => {
  const c = p.tables.get(table)!.columns;
  return c === undefined ? "all" : [...c].sort();
};

describe("query planning", () => {
  before(async () => {
    connection = await (await DuckDBInstance.create(":memory:")).connect();
  });
  after(() => connection.closeSync());

  it("narrows the CLI's journal query to one invocation and the columns it names", async () => {
    const p = await plan(
      "SELECT sj.index, sj.entry_type, sj.name, sj.entry_json FROM sys_journal sj WHERE sj.id = 'inv_1' ORDER BY index DESC LIMIT 100",
    );
    assert.deepEqual([...p.tables.keys()], ["sys_journal"]);
    assert.deepEqual(filters(p, "sys_journal"), { id: ["inv_1"] });
    assert.deepEqual(columns(p, "sys_journal"), [
      "entry_json",
      "entry_type",
      "id",
      "index",
      "name",
    ]);
  });

  it("builds only the columns an outer query takes from a SELECT * subquery", async () => {
    const p = await plan(
      "SELECT COUNT(1) FROM (SELECT * FROM sys_invocation inv LIMIT 50000) WHERE status != 'completed'",
    );
    assert.deepEqual(columns(p, "sys_invocation"), ["status"]);
    assert.deepEqual(columns(await plan("select * from sys_invocation"), "sys_invocation"), "all");
    assert.deepEqual(
      columns(await plan("select * from (select * from sys_invocation)"), "sys_invocation"),
      "all",
    );
  });

  it("narrows each side of a join by its own filters only", async () => {
    const p = await plan(
      "SELECT inv.id, dp.id IS NOT NULL AS e FROM sys_invocation inv LEFT JOIN sys_deployment dp ON dp.id = inv.pinned_deployment_id WHERE inv.id in ('a','b') ORDER BY inv.created_at",
    );
    assert.deepEqual(filters(p, "sys_invocation"), { id: ["a", "b"] });
    assert.deepEqual(filters(p, "sys_deployment"), {});
  });

  it("does not narrow when a filter is not a top-level conjunct or one read lacks it", async () => {
    const or = await plan("select id from sys_invocation where id = 'a' or status = 'x'");
    assert.deepEqual(filters(or, "sys_invocation"), {});
    const twice = await plan(
      "select id from sys_invocation where id = 'a' union all select id from sys_invocation",
    );
    assert.deepEqual(filters(twice, "sys_invocation"), {});
    const both = await plan(
      "select id from sys_invocation where id = 'a' union all select id from sys_invocation where id = 'b'",
    );
    assert.deepEqual(filters(both, "sys_invocation"), { id: ["a", "b"] });
  });

  it("narrows state to a service key and sees information_schema reads", async () => {
    const p = await plan(
      "select key, value from state where service_name = 'Counter' and service_key = 'bob' ;",
    );
    assert.deepEqual(filters(p, "state"), { service_key: ["bob"], service_name: ["Counter"] });
    const info = await plan(
      "SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'sys_journal'",
    );
    assert.equal(info.informationSchema, true);
    assert.equal(info.tables.size, 0);
  });

  it("reports a parse error with DuckDB's message", async () => {
    await assert.rejects(plan("selec nope"), /syntax error/i);
  });
});
