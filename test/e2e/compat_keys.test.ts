/**
 * Keys and request edges where Keel differed from Restate (issue 26, points 1 and 12), run against
 * both servers (KEEL_TEST_TARGET=restate for the reference):
 *
 * - object keys, state keys, promise and signal names far longer than a store key are taken and work
 *   like short ones, from the ingress, from handlers, in SQL and in the admin API;
 * - an empty object key, `delay=0` and an empty idempotency key are taken as Restate takes them;
 * - request targets are read as Restate reads them: no HTTP version or another than 1.x is a 400,
 *   dot segments are names, a target over 65,534 bytes is a 414.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sendRaw } from "../fuzz/raw_http.js";
import { TARGET, call, eventually, sqlRows, useServerWithServices } from "./harness.js";

const fixture = useServerWithServices();
const run = `${Date.now() % 100_000}`;
/** A key `length` characters long, unique to this run. */
const longKey = (tag: string, length: number): string =>
  `${tag}-${run}-`.padEnd(length, tag.slice(0, 1));
const ingress = (path: string): string => `${fixture.server.ingress}${path}`;
/** Calls that would hang on a server that cannot store what they name fail after this long. */
const CALL_TIMEOUT_MS = 15_000;
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  call(ingress(path), {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
  });
const sendId = async (path: string, body: unknown): Promise<string> => {
  const res = await post(`${path}/send`, body);
  assert.equal(res.status, 202, res.text);
  return res.json<{ invocationId: string }>().invocationId;
};
const attach = (id: string) =>
  call(ingress(`/restate/invocation/${id}/attach`), {
    signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
  });
const rawRequest = (text: string) =>
  sendRaw(Number(new URL(fixture.server.ingress).port), Buffer.from(text, "latin1"), 10_000);

describe(`long keys (${TARGET})`, () => {
  it("runs a handler's one-way sends to objects with keys of 1,500 bytes and of 60 KB", async () => {
    for (const length of [1500, 60_000]) {
      const key = longKey("send", length);
      const sent = await post("/KeysSender/sendAdd", { key, n: 2 });
      assert.equal(sent.status, 200, sent.text);
      const added = await attach(sent.json<string>());
      assert.equal(added.status, 200, `the send to a key of ${length} bytes ran: ${added.text}`);
      assert.equal(added.json(), 2);
      const called = await post("/KeysSender/callAdd", { key, n: 1 });
      assert.equal(called.json(), 3, "a call reaches the same object");
      assert.equal((await post(`/KeysBox/${key}/count`, null)).json(), 3, "and the ingress too");
    }
  });

  it("stores state keys of 3 KB and 100 KB, eagerly and lazily, and lists them in full", async () => {
    for (const service of ["KeysBox", "KeysLazyBox"]) {
      const object = longKey("state", 3000);
      const names = ["count", "k".repeat(3000), "n".repeat(100_000)];
      for (const [i, name] of names.entries()) {
        const put = await post(`/${service}/${object}/put`, { name, value: i });
        assert.equal(put.status, 200, `${service}: ${put.text}`);
        assert.equal(put.json(), i + 1);
      }
      const read = await post(`/${service}/${object}/read`, names[2]);
      assert.equal(read.json(), 2, `${service} reads a long state key`);
      const listed = await post(`/${service}/${object}/names`, null);
      assert.deepEqual(listed.json(), [...names].sort());
      assert.equal((await post(`/${service}/${object}/drop`, names[1])).status, 200);
      const left = await post(`/${service}/${object}/names`, null);
      assert.deepEqual(left.json(), [names[0], names[2]].sort());
      assert.equal((await post(`/${service}/${object}/clearAll`, null)).status, 200);
      assert.deepEqual((await post(`/${service}/${object}/names`, null)).json(), []);
    }
  });

  it("shows long keys in full in the SQL state table", async () => {
    const object = longKey("sql", 3000);
    const name = "s".repeat(2500);
    assert.equal((await post(`/KeysBox/${object}/put`, { name, value: "v" })).status, 200);
    const rows = await sqlRows(
      fixture.server.admin,
      `SELECT service_key, key, key_length, value_utf8 FROM state WHERE service_name = 'KeysBox' AND service_key = '${object}'`,
    );
    assert.deepEqual(rows, [
      { service_key: object, key: name, key_length: 2500, value_utf8: '"v"' },
    ]);
    const scanned = await sqlRows(
      fixture.server.admin,
      `SELECT length(service_key) AS object_length, key_length FROM state WHERE service_name = 'KeysBox' AND key_length = 2500 AND starts_with(service_key, 'sql-${run}-')`,
    );
    assert.deepEqual(scanned, [{ object_length: 3000, key_length: 2500 }]);
  });

  it("holds the lock and queues the inbox of a long key, and shows both in SQL", async () => {
    const object = longKey("lock", 3000);
    const holder = await sendId(`/KeysBox/${object}/hold`, null);
    const awakeable = await eventually(async () => {
      const id = (await post(`/KeysBox/${object}/awakeableId`, null)).json<string | null>();
      return id ?? undefined;
    }, "the holder's awakeable");
    const queued = await sendId(`/KeysBox/${object}/add`, 5);
    const where = `WHERE service_name = 'KeysBox' AND service_key = '${object}'`;
    const locks = await sqlRows(
      fixture.server.admin,
      `SELECT service_key, invocation_id FROM sys_keyed_service_status ${where}`,
    );
    assert.deepEqual(locks, [{ service_key: object, invocation_id: holder }]);
    const inbox = await eventually(async () => {
      const rows = await sqlRows(
        fixture.server.admin,
        `SELECT service_key, id FROM sys_inbox ${where}`,
      );
      return rows.length > 0 ? rows : undefined;
    }, "the queued invocation in the inbox");
    assert.deepEqual(inbox, [{ service_key: object, id: queued }]);
    const resolved = await call(ingress(`/restate/a/${awakeable}/resolve`), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify("go"),
    });
    assert.equal(resolved.status, 202, resolved.text);
    assert.equal((await attach(holder)).json(), "released with go");
    assert.equal((await attach(queued)).json(), 5);
  });

  it("edits the state of a long key with a long state key through the admin API", async () => {
    const object = longKey("admin", 3000);
    const name = "a".repeat(4000);
    const edited = await call(`${fixture.server.admin}/services/KeysBox/state`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ object_key: object, new_state: { [name]: [49] } }),
    });
    assert.equal(edited.status, 202, edited.text);
    const names = await eventually(async () => {
      const listed = (await post(`/KeysBox/${object}/names`, null)).json<string[]>();
      return listed.length > 0 ? listed : undefined;
    }, "the edited state");
    assert.deepEqual(names, [name]);
    assert.equal((await post(`/KeysBox/${object}/read`, name)).json(), 1);
  });

  it("resolves a workflow's promise with a 5 KB name, and shows it in sys_promise", async () => {
    const workflow = longKey("flow", 2000);
    const name = "p".repeat(5000);
    const runId = await sendId(`/KeysFlow/${workflow}/run`, name);
    const resolved = await post(`/KeysFlow/${workflow}/resolve`, { name, value: "done" });
    assert.equal(resolved.status, 200, resolved.text);
    assert.equal((await attach(runId)).json(), "done");
    assert.equal((await post(`/KeysFlow/${workflow}/peek`, name)).json(), "done");
    const promises = await sqlRows(
      fixture.server.admin,
      `SELECT service_key, key, completed FROM sys_promise WHERE service_name = 'KeysFlow' AND service_key = '${workflow}'`,
    );
    assert.deepEqual(promises, [{ service_key: workflow, key: name, completed: true }]);
  });

  it("delivers a named signal with a 5 KB name", async () => {
    const name = `${run}-${"g".repeat(5000)}`;
    const waiter = await sendId("/KeysSignal/wait", name);
    const sent = await post("/KeysSignal/send", { id: waiter, name, value: "signalled" });
    assert.equal(sent.status, 200, sent.text);
    assert.equal((await attach(waiter)).json(), "signalled");
  });

  it("takes a key in a request target of 65,534 bytes and answers 414 past it", async () => {
    const path = (length: number): string => {
      const prefix = "/KeysBox/";
      const suffix = "/count";
      return `${prefix}${longKey("uri", length - prefix.length - suffix.length)}${suffix}`;
    };
    const longest = await rawRequest(`GET ${path(65_534)} HTTP/1.1\r\nhost: x\r\n\r\n`);
    assert.equal(longest.status, 200, longest.head);
    const tooLong = await rawRequest(`GET ${path(65_535)} HTTP/1.1\r\nhost: x\r\n\r\n`);
    assert.equal(tooLong.status, 414, tooLong.head);
  });
});

describe(`request edges (${TARGET})`, () => {
  it("takes the empty object key: one object, like any other key", async () => {
    const before = (await post("/KeysBox//count", null)).json<number>();
    const first = await post("/KeysBox//add", 1);
    assert.equal(first.status, 200, first.text);
    const second = await post("/KeysBox//add", 1);
    assert.equal(second.json(), first.json<number>() + 1, "the same object, the same state");
    assert.equal((await post("/KeysBox//count", null)).json(), before + 2);
    const [row] = await sqlRows(
      fixture.server.admin,
      `SELECT target, target_service_key FROM sys_invocation WHERE id = '${second.headers.get("x-restate-id") ?? ""}'`,
    );
    assert.deepEqual(row, { target: "KeysBox//add", target_service_key: "" });
  });

  it("takes delay=0 on a send, and shows its execution time", async () => {
    const key = longKey("delay", 20);
    const sent = await post(`/KeysBox/${key}/add/send?delay=0`, 1);
    assert.equal(sent.status, 202, sent.text);
    const body = sent.json<{ invocationId: string; executionTime?: string; status: string }>();
    assert.equal(body.status, "Accepted");
    assert.match(body.executionTime ?? "", /^\d{4}-\d\d-\d\dT[\d:.]+Z$/);
    assert.equal((await attach(body.invocationId)).json(), 1);
    const unitless = await post(`/KeysBox/${key}/add/send?delay=10`, 1);
    assert.equal(unitless.status, 400, "a number other than 0 needs a unit");
    const onCall = await post(`/KeysBox/${key}/add?delay=0`, 1);
    assert.equal(onCall.status, 400, "no delay on a call");
  });

  it("takes an empty idempotency key as a key: repeated requests are one invocation", async () => {
    const key = longKey("idem", 20);
    const headers = { "idempotency-key": "" };
    const first = await post(`/KeysBox/${key}/add`, 1, headers);
    assert.equal(first.status, 200, first.text);
    const again = await post(`/KeysBox/${key}/add`, 1, headers);
    assert.equal(again.json(), 1, "the second request answers the first's result");
    assert.equal(again.headers.get("x-restate-id"), first.headers.get("x-restate-id"));
    const sent = await post(`/KeysBox/${key}/add/send`, 1, headers);
    assert.equal(sent.json<{ status: string }>().status, "PreviouslyAccepted");
    const [row] = await sqlRows(
      fixture.server.admin,
      `SELECT idempotency_key FROM sys_invocation WHERE id = '${first.headers.get("x-restate-id") ?? ""}'`,
    );
    assert.deepEqual(row, { idempotency_key: "" });
    assert.equal((await post(`/KeysBox/${key}/add`, 1)).json(), 2, "without a key, a new one");
  });

  it("refuses an idempotency key that is not visible ASCII", async () => {
    const refused = await post(`/KeysBox/${longKey("idem-bytes", 10)}/add`, 1, {
      "idempotency-key": "caf\u00e9",
    });
    assert.equal(refused.status, 400, refused.text);
    assert.match(refused.json<{ message: string }>().message, /^bad header idempotency-key: /);
  });

  it("refuses a request line without an HTTP version or with another than 1.x", async () => {
    for (const line of ["GET /restate/health", "GET /restate/health HTTP/2.0"]) {
      const answer = await rawRequest(`${line}\r\n\r\n`);
      assert.equal(answer.status, 400, `${line}: ${answer.head}`);
      assert.match(answer.head, /content-length: 0/);
    }
    const old = await rawRequest("GET /restate/health HTTP/1.0\r\n\r\n");
    assert.equal(old.status, 200, old.head);
    const hostless = await rawRequest("GET /restate/health HTTP/1.1\r\nconnection: close\r\n\r\n");
    assert.equal(hostless.status, 200, `no Host header is needed: ${hostless.head}`);
  });

  it("reads dot segments as names, never as a way up", async () => {
    const request = (path: string): string =>
      `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 5\r\nconnection: close\r\n\r\n"bob"`;
    // Restate answers that no service '..' (or 'a', or '.') exists.
    for (const path of ["/../../Greeter/greet", "/a/../Greeter/greet", "/./Greeter/greet"]) {
      const answer = await rawRequest(request(path));
      assert.equal(answer.status, 404, `${path}: ${answer.head}`);
    }
    const normalized = await rawRequest(request("//Greeter/greet/"));
    assert.equal(normalized.status, 200, "outer slashes are trimmed");
  });

  it("reads paths as Restate does: raw names, decoded keys, 2 to 7 slashes", async () => {
    const notFound = await post("/Keys%42ox/x/count", null);
    assert.equal(notFound.status, 404, "service names are not percent-decoded");
    assert.match(notFound.json<{ message: string }>().message, /service 'Keys%42ox' not found/);
    const tooDeep = await post("/a/b/c/d/e/f/g/h", null);
    assert.equal(tooDeep.status, 400);
    assert.equal(tooDeep.json<{ message: string }>().message, "bad path: /a/b/c/d/e/f/g/h");
    const key = `pct-${run}-%zz`;
    assert.equal((await post(`/KeysBox/${key}/add`, 4)).json(), 4, "a stray % stays in the key");
    const [row] = await sqlRows(
      fixture.server.admin,
      `SELECT service_key FROM state WHERE service_name = 'KeysBox' AND service_key = '${key}'`,
    );
    assert.deepEqual(row, { service_key: key });
    const health = await call(ingress("/restate/health"));
    assert.ok(health.json<{ services: string[] }>().services.includes("KeysBox"));
  });
});
