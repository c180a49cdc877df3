/**
 * The admin API beyond what the CLI exercises: service options, deployment updates, state edits with
 * the version token (and behind a key's lock), pause/resume/restart-as-new statuses and messages,
 * and Restate's error shape. Runs against the reference server too (`KEEL_TEST_TARGET=restate`), so
 * statuses and messages are Restate's; Keel's own routes are checked only against Keel.
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  TARGET,
  call,
  eventually,
  invocationOf,
  postJson,
  sqlRows,
  startStack,
  type KeelServer,
  type SqlRow as Row,
  type Stack,
} from "./harness.js";

describe(`admin API (${TARGET})`, () => {
  let stack: Stack;
  let server: KeelServer;

  const admin = (method: string, path: string, body?: unknown) =>
    call(`${server.admin}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const rows = (query: string): Promise<Row[]> => sqlRows(server.admin, query);
  const state = async (service: string, key: string): Promise<Record<string, string>> =>
    Object.fromEntries(
      (
        await rows(
          `SELECT key, value_utf8 FROM state WHERE service_name = '${service}' AND service_key = '${key}'`,
        )
      ).map((r) => [r["key"], r["value_utf8"]]),
    );
  const invocation = (target: string, status: string): Promise<string> =>
    invocationOf(server.admin, target, status);

  before(async () => {
    stack = await startStack();
    server = stack.server;
  });

  after(() => stack?.stop());

  it("answers unknown things in Restate's error shape", async () => {
    const unknownService = await admin("GET", "/v4/services/Nope");
    assert.equal(unknownService.status, 404);
    assert.deepEqual(unknownService.json(), {
      message: "The requested service 'Nope' does not exist",
      restate_code: null,
    });
    const missingId = `inv_1${"0".repeat(10)}1${"0".repeat(21)}1`;
    // Right after a start the reference server may still be placing partitions (503).
    const unknownInvocation = await eventually(async () => {
      const res = await admin("PATCH", `/v4/invocations/${missingId}/kill`);
      return res.status === 503 ? undefined : res;
    }, "partitions to be placed");
    assert.equal(unknownInvocation.status, 404);
    assert.deepEqual(unknownInvocation.json(), {
      message: `The requested invocation '${missingId}' does not exist`,
      restate_code: null,
    });
    const badId = await admin("PATCH", "/v4/invocations/nope/cancel");
    assert.equal(badId.status, 400);
    assert.match(
      badId.json<{ message: string }>().message,
      /The request field 'invocation_id' is invalid/,
    );
    const v1 = await admin("GET", "/v1/services");
    assert.equal(v1.status, 400);
    assert.equal(
      v1.text,
      "Unsupported Admin API version V1. This server supports versions between V2 and V4.",
    );
    assert.deepEqual((await admin("GET", "/v4/kafka-clusters")).json(), { clusters: [] });
    assert.deepEqual((await admin("GET", "/v4/subscriptions")).json(), { subscriptions: [] });
  });

  it("changes service options with PATCH, and a private service refuses ingress calls", async () => {
    const patched = await admin("PATCH", "/v4/services/Greeter", {
      public: false,
      idempotency_retention: "2h",
      journal_retention: "PT30M",
      workflow_completion_retention: null,
      inactivity_timeout: null,
      abort_timeout: null,
    });
    assert.equal(patched.status, 200, patched.text);
    const service = patched.json<Row>();
    assert.equal(service["public"], false);
    assert.equal(service["idempotency_retention"], "2h");
    assert.equal(service["journal_retention"], "30m");
    assert.equal((await admin("GET", "/v4/services/Greeter")).json<Row>()["public"], false);
    const refused = await postJson(`${server.ingress}/Greeter/greet`, "private");
    assert.equal(refused.status, 400);
    assert.equal((await admin("PATCH", "/v4/services/Greeter", { public: true })).status, 200);
    assert.equal((await postJson(`${server.ingress}/Greeter/greet`, "public")).status, 200);
    const bad = await admin("PATCH", "/v4/services/Greeter", { journal_retention: "soon" });
    assert.equal(bad.status, 422);
    assert.match(
      bad.text,
      /^Failed to deserialize the JSON body into the target type: journal_retention: /,
    );
    const notJson = await call(`${server.admin}/v4/services/Greeter`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: "{nope",
    });
    assert.equal(notJson.status, 400);
    assert.match(notJson.text, /^Failed to parse the request body as JSON: /);
    const missing = await admin("POST", "/v4/services/Counter/state", { new_state: {} });
    assert.equal(missing.status, 422);
    assert.equal(
      missing.text.replace(/ at line \d+ column \d+$/, ""),
      "Failed to deserialize the JSON body into the target type: missing field `object_key`",
    );
    assert.equal((await admin("GET", "/v4/no/such/path")).status, 404);
  });

  it("updates a deployment in place: same id, its services kept", async () => {
    const [deployment] = (await admin("GET", "/v4/deployments")).json<{ deployments: Row[] }>()
      .deployments;
    const id = String(deployment?.["id"]);
    const updated = await admin("PATCH", `/v4/deployments/${id}`, {
      additional_headers: { "x-test": "1" },
    });
    assert.equal(updated.status, 200, updated.text);
    const body = updated.json<Row>();
    assert.equal(body["id"], id);
    assert.deepEqual(body["additional_headers"], { "x-test": "1" });
    assert.ok((body["services"] as Row[]).some((s) => s["name"] === "Counter"));
    assert.equal((await postJson(`${server.ingress}/Greeter/greet`, "after")).status, 200);
  });

  it("edits state with the version token: a stale token is ignored, a current one applies", async () => {
    assert.equal((await postJson(`${server.ingress}/Counter/edit/add`, 11)).status, 200);
    const stale = await admin("POST", "/v4/services/Counter/state", {
      object_key: "edit",
      version: "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU",
      new_state: { count: [57, 57] },
    });
    assert.equal(stale.status, 202);
    const current = await admin("POST", "/v4/services/Counter/state", {
      object_key: "edit",
      version: "cMb9c90EhFbafdr3_Qpca1nBD50pQUEfUNXEqtsu7Ng",
      new_state: { count: [52, 50], other: [49] },
    });
    assert.equal(current.status, 202);
    await eventually(
      async () =>
        JSON.stringify(await state("Counter", "edit")) ===
        JSON.stringify({ count: "42", other: "1" })
          ? true
          : undefined,
      "the edited state",
    );
    const plain = await admin("POST", "/v4/services/Greeter/state", {
      object_key: "x",
      new_state: {},
    });
    assert.equal(plain.status, 400, "a service without keys has no state");
  });

  it("queues a state edit behind the invocation holding the key's lock", async () => {
    assert.equal((await postJson(`${server.ingress}/Counter/locked/add`, 1)).status, 200);
    assert.equal((await postJson(`${server.ingress}/Counter/locked/hold/send`, null)).status, 202);
    const holder = await invocation("Counter/locked/hold", "running");
    const awakeable = await eventually(
      async () => (await state("Counter", "locked"))["awakeable"],
      "the holder's awakeable",
    );
    assert.equal(
      (
        await admin("POST", "/v4/services/Counter/state", {
          object_key: "locked",
          new_state: { count: [55] },
        })
      ).status,
      202,
    );
    const held = await state("Counter", "locked");
    assert.equal(held["count"], "1", "not applied while the key is locked");
    const id = JSON.parse(awakeable) as string;
    assert.equal(
      (await postJson(`${server.ingress}/restate/awakeables/${id}/resolve`, "go")).status,
      202,
    );
    await invocation("Counter/locked/hold", "completed");
    await eventually(
      async () =>
        JSON.stringify(await state("Counter", "locked")) === JSON.stringify({ count: "7" })
          ? true
          : undefined,
      "the edit applied once the holder released the key",
    );
    assert.ok(holder.startsWith("inv_1"));
  });

  it("pauses a running invocation (202), again (200), resumes it (200)", async () => {
    assert.equal((await postJson(`${server.ingress}/Counter/pausing/hold/send`, null)).status, 202);
    const id = await invocation("Counter/pausing/hold", "running");
    assert.equal((await admin("PATCH", `/v4/invocations/${id}/pause`)).status, 202);
    await invocation("Counter/pausing/hold", "paused");
    assert.equal((await admin("PATCH", `/v4/invocations/${id}/pause`)).status, 200);
    assert.equal((await admin("PATCH", `/v4/invocations/${id}/resume`)).status, 200);
    await invocation("Counter/pausing/hold", "running");
    assert.equal((await admin("PATCH", `/v4/invocations/${id}/kill`)).status, 200);
    const completed = await admin("PATCH", `/v4/invocations/${id}/resume`);
    assert.equal(completed.status, 409);
    assert.equal(
      completed.json<Row>()["message"],
      `The invocation '${id}' is completed, cannot be resumed.`,
    );
    const notRunning = await admin("PATCH", `/v4/invocations/${id}/pause`);
    assert.equal(notRunning.status, 409);
    assert.equal(
      notRunning.json<Row>()["message"],
      `The invocation '${id}' is not running, cannot be paused.`,
    );
  });

  it("restarts as new from a journal prefix, refuses workflows and purged journals", async () => {
    assert.equal((await postJson(`${server.ingress}/Greeter/greet`, "prefix")).status, 200);
    const [greet] = await rows(
      "SELECT id FROM sys_invocation WHERE target = 'Greeter/greet' AND status = 'completed' ORDER BY created_at DESC LIMIT 1",
    );
    const id = String(greet?.["id"]);
    const restarted = await admin("PATCH", `/v4/invocations/${id}/restart-as-new?from=2`);
    assert.equal(restarted.status, 200, restarted.text);
    const newId = restarted.json<{ new_invocation_id: string }>().new_invocation_id;
    await invocation("Greeter/greet", "completed");
    const journal = await eventually(async () => {
      const entries = await rows(
        `SELECT index, entry_type, name FROM sys_journal WHERE id = '${newId}' ORDER BY index`,
      );
      return entries.some((e) => e["entry_type"] === "Command: Output") ? entries : undefined;
    }, "the restarted journal");
    assert.deepEqual(
      journal.slice(0, 3).map((e) => e["entry_type"]),
      ["Command: Input", "Command: Run", "Notification: Run"],
      "the copied prefix",
    );
    const outOfRange = await admin("PATCH", `/v4/invocations/${id}/restart-as-new?from=99`);
    assert.equal(outOfRange.status, 400);

    assert.equal((await postJson(`${server.ingress}/Signup/again/run/send`, "x@y")).status, 202);
    await invocation("Signup/again/run", "running");
    assert.equal((await postJson(`${server.ingress}/Signup/again/click`, "s")).status, 200);
    const workflow = await invocation("Signup/again/run", "completed");
    const refused = await admin("PATCH", `/v4/invocations/${workflow}/restart-as-new`);
    assert.equal(refused.status, 422);
    assert.match(
      refused.json<{ message: string }>().message,
      /Restarting workflows is not supported/,
    );

    assert.equal((await admin("PATCH", `/v4/invocations/${id}/purge-journal`)).status, 200);
    const purged = await admin("PATCH", `/v4/invocations/${id}/restart-as-new`);
    assert.equal(purged.status, 410);
    assert.match(purged.json<{ message: string }>().message, /the input is not available/);
  });
});
