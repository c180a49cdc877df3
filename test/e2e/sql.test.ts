/**
 * `POST /query` for a fixed scenario, compared with what the reference server (Restate 1.7.12)
 * answers: the rows it recorded for the same scenario (`restate-samples/sql_samples.txt`, copied
 * below where they are independent of ids, times and partition keys), its column types
 * (`information_schema.columns`) and value encodings, JSON and Arrow. The file also runs against the
 * reference server itself (`KEEL_TEST_TARGET=restate`).
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { tableFromIPC } from "apache-arrow";
import {
  TARGET,
  call,
  eventually,
  postJson,
  sqlRows,
  startStack,
  type KeelServer,
  type ServiceEndpoint,
  type SqlRow as Row,
  type Stack,
} from "./harness.js";

/** Recorded from Restate 1.7.12 (`sql_samples.txt`), minus partition keys, ids and times. */
const RECORDED = {
  state: {
    service_name: "Counter",
    service_key: "bob",
    key: "count",
    key_length: 5,
    value_utf8: "11",
    value: "3131",
    value_length: 2,
  },
  promise: {
    service_name: "Signup",
    service_key: "wf1",
    key: "click",
    completed: true,
    completion_success_value: "2273336372657422",
    completion_success_value_utf8: '"s3cret"',
  },
  workflowJournal: [
    {
      index: 1,
      entry_type: "Command: SetState",
      name: "",
      version: 2,
      entry_json:
        '{"Command":{"SetState":{"key":"stage","value":[34,119,97,105,116,105,110,103,34],"name":""}}}',
      entry_lite_json: '{"Command":{"SetState":{"key":"stage"}}}',
    },
    {
      index: 2,
      entry_type: "Command: GetPromise",
      name: "",
      version: 2,
      entry_json: '{"Command":{"GetPromise":{"key":"click","completion_id":1,"name":""}}}',
      entry_lite_json: '{"Command":{"GetPromise":{"key":"click","completion_id":1}}}',
    },
    {
      index: 3,
      entry_type: "Notification: GetPromise",
      version: 2,
      entry_json:
        '{"Notification":{"Completion":{"GetPromise":{"completion_id":1,"result":{"Success":[34,115,51,99,114,101,116,34]}}}}}',
      entry_lite_json:
        '{"Notification":{"ty":{"Completion":"GetPromise"},"id":{"CompletionId":1},"result":"Success"}}',
    },
    {
      index: 4,
      entry_type: "Command: SetState",
      name: "",
      version: 2,
      entry_json:
        '{"Command":{"SetState":{"key":"stage","value":[34,100,111,110,101,34],"name":""}}}',
      entry_lite_json: '{"Command":{"SetState":{"key":"stage"}}}',
    },
    {
      index: 5,
      entry_type: "Command: Output",
      name: "",
      version: 2,
      entry_json:
        '{"Command":{"Output":{"result":{"Success":[34,115,105,103,110,101,100,32,117,112,32,97,64,98,46,99,32,119,105,116,104,32,115,51,99,114,101,116,34]},"name":""}}}',
      entry_lite_json: '{"Command":{"Output":{"result":"Success"}}}',
    },
  ],
  /** The columns of a completed, idempotent service invocation ("sys_invocation one"). */
  completedInvocationColumns: [
    "id",
    "target",
    "target_service_name",
    "target_handler_name",
    "target_service_ty",
    "idempotency_key",
    "invoked_by",
    "pinned_deployment_id",
    "pinned_service_protocol_version",
    "journal_size",
    "journal_commands_size",
    "created_at",
    "created_using_restate_version",
    "modified_at",
    "running_at",
    "completed_at",
    "completion_retention",
    "journal_retention",
    "status",
    "completion_result",
  ],
  /** `information_schema.columns` of two tables. */
  columns: {
    sys_inbox: [
      ["partition_key", "UInt64"],
      ["service_name", "LargeUtf8"],
      ["service_key", "LargeUtf8"],
      ["id", "LargeUtf8"],
      ["sequence_number", "UInt64"],
      ["created_at", 'Timestamp(ms, "+00:00")'],
    ],
    sys_deployment: [
      ["id", "LargeUtf8"],
      ["ty", "LargeUtf8"],
      ["endpoint", "LargeUtf8"],
      ["created_at", 'Timestamp(ms, "+00:00")'],
      ["min_service_protocol_version", "UInt32"],
      ["max_service_protocol_version", "UInt32"],
      ["services", "List(LargeUtf8)"],
    ],
  },
} as const;

const RFC3339_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$/;
const withoutPartitionKey = ({ partition_key: _pk, ...rest }: Row): Row => rest;

describe(`SQL introspection (${TARGET})`, () => {
  let stack: Stack;
  let server: KeelServer;
  let services: ServiceEndpoint;

  const query = async (sql: string, accept = "application/json"): Promise<Response> =>
    fetch(`${server.admin}/query`, {
      method: "POST",
      headers: { "content-type": "application/json", accept },
      body: JSON.stringify({ query: sql }),
    });
  const rows = (sql: string): Promise<Row[]> => sqlRows(server.admin, sql);
  const statusOf = async (target: string, status: string): Promise<Row> =>
    eventually(
      async () =>
        (
          await rows(
            `SELECT * FROM sys_invocation WHERE target = '${target}' AND status = '${status}'`,
          )
        )[0],
      `${target} ${status}`,
    );

  before(async () => {
    stack = await startStack();
    ({ server, services } = stack);
    const ingress = server.ingress;
    assert.equal(
      (await postJson(`${ingress}/Greeter/greet`, "alice", { "idempotency-key": "key1" })).status,
      200,
    );
    assert.equal((await postJson(`${ingress}/Counter/bob/add`, 11)).status, 200);
    assert.equal((await postJson(`${ingress}/Signup/wf1/run/send`, "a@b.c")).status, 202);
    await eventually(
      async () => ((await rows("SELECT key FROM sys_promise")).length > 0 ? true : undefined),
      "the workflow awaiting its promise",
    );
    assert.equal((await postJson(`${ingress}/Signup/wf1/click`, "s3cret")).status, 200);
    assert.equal((await postJson(`${ingress}/Sleeper/long/send`, "sql")).status, 202);
    assert.equal((await postJson(`${ingress}/Counter/held/hold/send`, null)).status, 202);
    await statusOf("Counter/held/hold", "running");
    assert.equal((await postJson(`${ingress}/Counter/held/add/send`, 1)).status, 202);
    await statusOf("Signup/wf1/run", "completed");
    await statusOf("Sleeper/long", "suspended");
    await statusOf("Counter/held/add", "pending");
  });

  after(() => stack?.stop());

  it("state: keys and values in Restate's encodings, partition keys as exact integers", async () => {
    const res = await query(
      "SELECT * FROM state WHERE service_name = 'Counter' AND service_key = 'bob'",
    );
    assert.equal(res.headers.get("content-type"), "application/json");
    const text = await res.text();
    assert.match(text, /^\{"rows":\[\{"partition_key":\d+,"service_name":"Counter"/);
    const [row] = (JSON.parse(text) as { rows: Row[] }).rows;
    assert.deepEqual(withoutPartitionKey(row!), RECORDED.state);
  });

  it("sys_promise: a completed workflow promise", async () => {
    const found = await rows("SELECT * FROM sys_promise WHERE service_key = 'wf1'");
    assert.deepEqual(found.map(withoutPartitionKey), [RECORDED.promise]);
  });

  it("sys_journal: a workflow run's entries, with entry_json the CLI can read", async () => {
    const run = await statusOf("Signup/wf1/run", "completed");
    const journal = await rows(
      `SELECT index, entry_type, name, version, entry_json, entry_lite_json, appended_at FROM sys_journal WHERE id = '${String(run["id"])}' ORDER BY index`,
    );
    assert.equal(journal.length, 6);
    assert.equal(journal[0]!["entry_type"], "Command: Input");
    assert.equal(journal[0]!["entry_lite_json"], '{"Command":{"Input":{}}}');
    for (const entry of journal) assert.match(String(entry["appended_at"]), RFC3339_MS);
    assert.deepEqual(
      journal.slice(1).map(({ appended_at: _a, ...rest }) => rest),
      RECORDED.workflowJournal,
    );
  });

  it("sys_invocation: a completed invocation has exactly Restate's columns, in its formats", async () => {
    const [greet] = await rows(
      "SELECT * FROM sys_invocation WHERE target = 'Greeter/greet' AND idempotency_key = 'key1'",
    );
    assert.ok(greet !== undefined);
    assert.deepEqual(Object.keys(greet), RECORDED.completedInvocationColumns);
    assert.match(String(greet["id"]), /^inv_1\w{33}$/);
    assert.equal(greet["target_service_ty"], "service");
    assert.equal(greet["invoked_by"], "ingress");
    assert.equal(greet["pinned_service_protocol_version"], 6);
    assert.equal(greet["created_using_restate_version"], "1.7.12");
    assert.equal(greet["completion_retention"], "PT86400S");
    assert.equal(greet["journal_retention"], "PT86400S");
    assert.equal(greet["completion_result"], "success");
    for (const column of ["created_at", "modified_at", "running_at", "completed_at"])
      assert.match(String(greet[column]), RFC3339_MS, column);
  });

  it("sys_invocation: what a suspended invocation waits for", async () => {
    const sleeper = await statusOf("Sleeper/long", "suspended");
    assert.deepEqual(sleeper["suspended_waiting_for_completions"], [1]);
    assert.deepEqual(sleeper["suspended_waiting_for_signals"], [1]);
    assert.equal(
      sleeper["suspended_waiting_future_json"],
      '{"Unknown":[{"Single":{"CompletionId":1}},{"Single":{"SignalIndex":1}}]}',
    );
    assert.equal(sleeper["completed_at"], undefined, "NULL columns are left out");
  });

  it("derives running and pending; the lock holder and the inbox are visible", async () => {
    const holder = await statusOf("Counter/held/hold", "running");
    assert.equal(holder["retry_count"], 1, "the attempt in flight is counted");
    assert.match(String(holder["last_start_at"]), RFC3339_MS);
    assert.equal(holder["last_attempt_server"], "restate-sdk-typescript/1.17.2");
    const waiting = await statusOf("Counter/held/add", "pending");
    assert.match(String(waiting["inboxed_at"]), RFC3339_MS);
    const [raw] = await rows(
      `SELECT status FROM sys_invocation_status WHERE id = '${String(waiting["id"])}'`,
    );
    assert.equal(raw?.["status"], "inboxed");
    const lock = await rows(
      "SELECT service_name, service_key, invocation_id FROM sys_keyed_service_status WHERE service_key = 'held'",
    );
    assert.deepEqual(lock, [
      { service_name: "Counter", service_key: "held", invocation_id: holder["id"] },
    ]);
    const inbox = await rows(
      "SELECT service_name, service_key, id, sequence_number FROM sys_inbox WHERE service_key = 'held'",
    );
    assert.equal(inbox.length, 1);
    assert.equal(inbox[0]!["id"], waiting["id"]);
    assert.equal(typeof inbox[0]!["sequence_number"], "number");
  });

  it("sys_service and sys_deployment describe the registration", async () => {
    const counter = await rows("SELECT * FROM sys_service WHERE name = 'Counter'");
    assert.deepEqual(Object.keys(counter[0]!), [
      "name",
      "revision",
      "public",
      "ty",
      "deployment_id",
    ]);
    assert.deepEqual(
      { ...counter[0], deployment_id: undefined },
      {
        name: "Counter",
        revision: 1,
        public: true,
        ty: "virtual_object",
        deployment_id: undefined,
      },
    );
    const [deployment] = await rows("SELECT * FROM sys_deployment");
    assert.equal(deployment?.["ty"], "http");
    assert.equal(deployment?.["endpoint"], `${services.url}/`);
    assert.match(String(deployment?.["created_at"]), RFC3339_MS);
    assert.deepEqual(
      [deployment?.["min_service_protocol_version"], deployment?.["max_service_protocol_version"]],
      [5, 7],
    );
    assert.ok((deployment?.["services"] as string[]).includes("Signup"));
  });

  it("information_schema.columns lists Restate's column types", async () => {
    for (const [table, expected] of Object.entries(RECORDED.columns)) {
      const found = await rows(
        `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '${table}'`,
      );
      assert.deepEqual(
        found.map((r) => [r["column_name"], r["data_type"]]),
        expected,
        table,
      );
    }
  });

  it("answers with an Arrow IPC stream unless JSON is asked for", async () => {
    const res = await query(
      "SELECT id, status, created_at, completion_retention, retry_count, journal_size, suspended_waiting_for_completions FROM sys_invocation WHERE target = 'Sleeper/long'",
      "*/*",
    );
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/vnd.apache.arrow.stream");
    const table = tableFromIPC(new Uint8Array(await res.arrayBuffer()));
    const types = Object.fromEntries(table.schema.fields.map((f) => [f.name, String(f.type)]));
    assert.deepEqual(types, {
      id: "LargeUtf8",
      status: "LargeUtf8",
      created_at: "Timestamp<MILLISECOND, +00:00>",
      completion_retention: "Duration<MILLISECOND>",
      retry_count: "Uint64",
      journal_size: "Uint32",
      suspended_waiting_for_completions: "List<Uint32>",
    });
    assert.equal(table.numRows, 1);
    const row = table.get(0)!.toJSON();
    assert.equal(row["status"], "suspended");
    assert.equal(row["completion_retention"], 86_400_000n);
    assert.equal(typeof row["created_at"], "number");
    assert.deepEqual([...(row["suspended_waiting_for_completions"] as Iterable<number>)], [1]);

    const count = tableFromIPC(
      new Uint8Array(
        await (
          await query("SELECT COUNT(*) FROM sys_invocation WHERE status != 'completed'", "*/*")
        ).arrayBuffer(),
      ),
    );
    assert.equal(String(count.schema.fields[0]!.type), "Int64", "the CLI reads counts as Int64");
    assert.equal(count.get(0)!.toArray()[0], 3n);
  });

  it("renders times, durations and counts exactly as Restate's JSON does", async () => {
    const [times] = await rows(
      `SELECT arrow_cast(1795694210000, 'Timestamp(Millisecond, Some("+00:00"))') AS whole, arrow_cast(1795694210100, 'Timestamp(Millisecond, Some("+00:00"))') AS fraction, arrow_cast(0, 'Duration(Millisecond)') AS zero, arrow_cast(1500, 'Duration(Millisecond)') AS short, arrow_cast(90061001, 'Duration(Millisecond)') AS long`,
    );
    assert.deepEqual(times, {
      whole: "2026-11-26T11:56:50Z",
      fraction: "2026-11-26T11:56:50.100Z",
      zero: "P0D",
      short: "PT1.5S",
      long: "PT90061.001S",
    });
    const [count] = await rows("SELECT count(*) FROM sys_service");
    const registered = (await call(`${server.admin}/services`)).json<{ services: unknown[] }>();
    assert.deepEqual(count, { "count(*)": registered.services.length });
  });

  it("accepts the DataFusion the CLI sends and reports query errors as JSON", async () => {
    const oldest = await rows(
      "SELECT target_service_name, COUNT(1) as n, FIRST_VALUE(id ORDER BY created_at ASC) as oldest FROM sys_invocation WHERE status == 'completed' AND target_service_name IN ('Signup') GROUP BY target_service_name",
    );
    assert.equal(oldest[0]?.["n"], 2);
    const res = await query("SELECT nope FROM sys_invocation");
    assert.equal(res.status, 500);
    const body = (await res.json()) as { message: string };
    assert.match(body.message, /nope/);
  });
});
