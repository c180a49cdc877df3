/**
 * Restate's semantics through the official SDK and the ingress, one story per behaviour: virtual
 * objects, workflows, timers, calls, awakeables, idempotency, retries, suspension, cancel and kill.
 * Run with KEEL_TEST_TARGET=restate to check the same stories against the reference server: the tests
 * encode Restate's behaviour, not Keel's.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  TARGET,
  call,
  eventually,
  postJson,
  readMarkers,
  sleep,
  useServerWithServices,
} from "./harness.js";

const fixture = useServerWithServices();
const run = `${Date.now() % 100_000}`;
const uniq = (name: string): string => `${name}-${run}`;

const ingress = (path: string): string => `${fixture.server.ingress}${path}`;
const send = async (
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<string> => {
  const res = await postJson(ingress(`${path}/send`), body, headers);
  assert.equal(res.status, 202, res.text);
  return res.json<{ invocationId: string }>().invocationId;
};
const output = (id: string) => call(ingress(`/restate/invocation/${id}/output`));
const attach = (id: string) => call(ingress(`/restate/invocation/${id}/attach`));
const markerValue = (prefix: string): Promise<string> =>
  eventually(
    () =>
      readMarkers(fixture.services)
        .find((m) => m.startsWith(prefix))
        ?.slice(prefix.length),
    `marker ${prefix}`,
  );

describe(`1. virtual objects (${TARGET})`, () => {
  it("runs 40 concurrent exclusive calls on one key one at a time: each sees a distinct value 1..40", async () => {
    const key = uniq("c40");
    const results = await Promise.all(
      Array.from({ length: 40 }, () => postJson(ingress(`/Counter/${key}/add`), 1)),
    );
    assert.ok(results.every((r) => r.status === 200));
    const values = results.map((r) => r.json<number>()).sort((a, b) => a - b);
    assert.deepEqual(
      values,
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    assert.equal((await postJson(ingress(`/Counter/${key}/get`), null)).json(), 40);
  });

  it("answers a shared handler while an exclusive one is blocked on an awakeable; exclusive calls queue", async () => {
    const key = uniq("held");
    const holdId = await send(`/Counter/${key}/hold`, null);
    const awakeableId = await eventually(async () => {
      const res = await postJson(ingress(`/Counter/${key}/awakeableId`), null);
      return res.json<string | null>() ?? undefined;
    }, "the awakeable id from the shared handler");
    const addId = await send(`/Counter/${key}/add`, 5);
    await sleep(300);
    assert.equal((await output(addId)).status, 470, "the exclusive add waits behind the lock");
    assert.equal(
      (await postJson(ingress(`/Counter/${key}/get`), null)).json(),
      0,
      "shared reads go through",
    );
    const resolved = await postJson(ingress(`/restate/awakeables/${awakeableId}/resolve`), "go");
    assert.equal(resolved.status, 202);
    assert.equal((await attach(holdId)).json(), "released with go");
    assert.equal((await attach(addId)).json(), 5);
  });

  for (const object of ["Counter", "LazyCounter"]) {
    it(`gets, sets, lists and clears state (${object}, ${object === "LazyCounter" ? "lazy" : "eager"} state)`, async () => {
      const key = uniq(`state-${object}`);
      assert.equal(
        (await postJson(ingress(`/${object}/${key}/setMany`), { a: 1, b: "two", c: [3] })).json(),
        3,
      );
      assert.deepEqual((await postJson(ingress(`/${object}/${key}/keys`), null)).json(), [
        "a",
        "b",
        "c",
      ]);
      assert.equal((await postJson(ingress(`/${object}/${key}/clearOne`), "b")).json(), "b");
      assert.deepEqual((await postJson(ingress(`/${object}/${key}/keys`), null)).json(), [
        "a",
        "c",
      ]);
      assert.equal((await postJson(ingress(`/${object}/${key}/add`), 2)).json(), 2);
      assert.deepEqual((await postJson(ingress(`/${object}/${key}/keys`), null)).json(), [
        "a",
        "c",
        "count",
      ]);
      assert.equal((await postJson(ingress(`/${object}/${key}/clearAll`), null)).json(), 0);
      assert.equal((await postJson(ingress(`/${object}/${key}/get`), null)).json(), 0);
    });
  }
});

describe(`2. workflows (${TARGET})`, () => {
  it("runs once per id, waits on a promise resolved by its shared handler, refuses a second submit", async () => {
    const id = uniq("wf");
    const first = await postJson(ingress(`/Signup/${id}/run/send`), "a@b.c");
    assert.equal(first.status, 202);
    const { invocationId, status } = first.json<{ invocationId: string; status: string }>();
    assert.equal(status, "Accepted");
    const second = await postJson(ingress(`/Signup/${id}/run/send`), "again@b.c");
    assert.deepEqual(second.json(), { invocationId, status: "PreviouslyAccepted" });
    const refused = await postJson(ingress(`/Signup/${id}/run`), "again@b.c");
    assert.equal(refused.status, 409);
    assert.deepEqual(refused.json(), {
      code: 409,
      message: "the workflow method was already invoked",
      source: "invocation",
    });
    await eventually(
      async () =>
        (await postJson(ingress(`/Signup/${id}/stage`), null)).json() === "waiting"
          ? true
          : undefined,
      "stage waiting",
    );
    const notReady = await call(ingress(`/restate/workflow/Signup/${id}/output`));
    assert.equal(notReady.status, 470);
    assert.deepEqual(notReady.json(), {
      code: 470,
      message: "the invocation exists but has not completed yet",
      source: "ingress",
    });
    assert.equal((await postJson(ingress(`/Signup/${id}/peek`), null)).json(), null);
    assert.equal((await postJson(ingress(`/Signup/${id}/click`), "s3cret")).json(), "clicked");
    const attached = await call(ingress(`/restate/workflow/Signup/${id}/attach`));
    assert.equal(attached.status, 200);
    assert.equal(attached.json(), "signed up a@b.c with s3cret");
    assert.equal(attached.headers.get("x-restate-id"), invocationId);
    // A request that found the result retained is told until when (one that waited is not).
    const output = await call(ingress(`/restate/workflow/Signup/${id}/output`));
    assert.equal(output.json(), "signed up a@b.c with s3cret");
    assert.ok(output.headers.get("idempotency-expires") !== null, "completion retention applies");
    assert.equal(
      (await call(ingress(`/restate/workflow/Signup/${id}/output`))).json(),
      "signed up a@b.c with s3cret",
    );
    assert.equal((await postJson(ingress(`/Signup/${id}/peek`), null)).json(), "s3cret");
    assert.equal((await postJson(ingress(`/Signup/${id}/stage`), null)).json(), "done");
    assert.equal(
      (await postJson(ingress(`/Signup/${id}/run`), "x")).status,
      409,
      "still refused after completion",
    );
    const unknown = await call(ingress(`/restate/workflow/Signup/${uniq("never")}/output`));
    assert.equal(unknown.status, 404);
  });
});

describe(`3. durable timers (${TARGET})`, () => {
  it("delays a send until its time", async () => {
    const key = uniq("delayed");
    const res = await postJson(ingress(`/Counter/${key}/add/send?delay=1s`), 1);
    assert.equal(res.status, 202);
    const body = res.json<{ invocationId: string; status: string; executionTime: string }>();
    assert.equal(body.status, "Accepted");
    assert.match(body.executionTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    assert.equal((await postJson(ingress(`/Counter/${key}/get`), null)).json(), 0, "not yet");
    assert.equal((await attach(body.invocationId)).json(), 1);
    assert.ok(Date.now() >= Date.parse(body.executionTime) - 50, "ran at its execution time");
  });

  it("delays a one-way call from a handler", async () => {
    const key = uniq("delayed-call");
    assert.equal(
      (await postJson(ingress("/Chain/delayedAdd"), { key, delayMs: 800 })).json(),
      "scheduled",
    );
    assert.equal((await postJson(ingress(`/Counter/${key}/get`), null)).json(), 0);
    await eventually(
      async () =>
        (await postJson(ingress(`/Counter/${key}/get`), null)).json() === 1 ? true : undefined,
      "the delayed call",
    );
  });

  it("refuses a delay on a call", async () => {
    const res = await postJson(ingress(`/Counter/x/add?delay=1s`), 1);
    assert.equal(res.status, 400);
  });
});

describe(`4. service-to-service calls (${TARGET})`, () => {
  it("returns the right result through a chain of calls across partitions", async () => {
    const keys = Array.from({ length: 8 }, (_, i) => uniq(`chain${i}`));
    const res = await postJson(ingress("/Chain/call"), keys);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json(), {
      values: keys.map(() => 1),
      greeting: `hello ${keys.join(",")}!`,
    });
  });

  it("applies one-way messages exactly once", async () => {
    const keys = Array.from({ length: 8 }, (_, i) => uniq(`oneway${i}`));
    assert.equal((await postJson(ingress("/Chain/fanOut"), keys)).json(), keys.length);
    for (const key of keys) {
      await eventually(
        async () =>
          (await postJson(ingress(`/Counter/${key}/get`), null)).json() === 1 ? true : undefined,
        `one-way to ${key}`,
      );
    }
    await sleep(300);
    for (const key of keys)
      assert.equal(
        (await postJson(ingress(`/Counter/${key}/get`), null)).json(),
        1,
        `${key} applied once`,
      );
  });
});

describe(`5. awakeables (${TARGET})`, () => {
  it("completes a waiting invocation resolved through the ingress, with both URL forms", async () => {
    for (const form of ["awakeables", "a"]) {
      const tag = uniq(`aw-${form}`);
      const id = await send("/Awake/wait", tag);
      const awakeableId = await markerValue(`awakeable:${tag}:`);
      assert.match(awakeableId, /^sign_1/);
      const resolved = await postJson(ingress(`/restate/${form}/${awakeableId}/resolve`), { x: 1 });
      assert.equal(resolved.status, 202);
      assert.deepEqual((await attach(id)).json(), { got: { x: 1 }, id: awakeableId });
    }
  });

  it("fails a waiting invocation rejected through the ingress", async () => {
    const tag = uniq("aw-reject");
    const id = await send("/Awake/wait", tag);
    const awakeableId = await markerValue(`awakeable:${tag}:`);
    const rejected = await call(ingress(`/restate/a/${awakeableId}/reject`), {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "no way",
    });
    assert.equal(rejected.status, 202);
    const result = await attach(id);
    assert.equal(result.status, 500);
    assert.equal(result.json<{ message: string }>().message, "no way");
  });

  it("is resolved from another handler through the SDK", async () => {
    const tag = uniq("aw-sdk");
    const id = await send("/Awake/wait", tag);
    const awakeableId = await markerValue(`awakeable:${tag}:`);
    assert.equal(
      (
        await postJson(ingress("/Awake/resolve"), { id: awakeableId, value: "from a handler" })
      ).json(),
      "resolved",
    );
    assert.deepEqual((await attach(id)).json(), { got: "from a handler", id: awakeableId });
  });

  it("refuses a malformed awakeable id", async () => {
    const res = await postJson(ingress("/restate/a/prom_1bogus/resolve"), 1);
    assert.equal(res.status, 400);
  });
});

describe(`6. idempotency keys (${TARGET})`, () => {
  it("applies an idempotent call once and answers a repeat with the same result and id", async () => {
    const key = uniq("idem");
    const headers = { "idempotency-key": "op-1" };
    const first = await postJson(ingress(`/Counter/${key}/add`), 7, headers);
    const second = await postJson(ingress(`/Counter/${key}/add`), 7, headers);
    assert.equal(first.status, 200);
    assert.equal(first.text, second.text);
    assert.equal(first.json(), 7);
    assert.equal(first.headers.get("x-restate-id"), second.headers.get("x-restate-id"));
    assert.equal(first.headers.get("idempotency-expires"), null, "the first call waited");
    assert.ok(second.headers.get("idempotency-expires") !== null, "the repeat found it retained");
    assert.equal((await postJson(ingress(`/Counter/${key}/get`), null)).json(), 7, "applied once");
    const sent = await postJson(ingress(`/Counter/${key}/add/send`), 7, headers);
    assert.equal(sent.json<{ status: string }>().status, "PreviouslyAccepted");
    const byKey = await call(ingress(`/restate/invocation/Counter/${key}/add/op-1/attach`));
    assert.equal(byKey.json(), 7);
    const outputByKey = await call(ingress(`/restate/invocation/Counter/${key}/add/op-1/output`));
    assert.equal(outputByKey.json(), 7);
  });

  it("attaches a repeated idempotent send to the same running invocation", async () => {
    const headers = { "idempotency-key": uniq("greet-once") };
    const a = await postJson(ingress("/Greeter/slowGreet/send"), "idem", headers);
    const b = await postJson(ingress("/Greeter/slowGreet/send"), "idem", headers);
    assert.equal(a.json<{ status: string }>().status, "Accepted");
    assert.equal(b.json<{ status: string }>().status, "PreviouslyAccepted");
    assert.equal(
      a.json<{ invocationId: string }>().invocationId,
      b.json<{ invocationId: string }>().invocationId,
    );
    const result = await call(
      ingress(`/restate/invocation/Greeter/slowGreet/${headers["idempotency-key"]}/attach`),
    );
    assert.equal(result.json(), "slow hello idem");
  });

  it("refuses an idempotency key on a workflow's run", async () => {
    const res = await postJson(ingress(`/Signup/${uniq("wf-idem")}/run`), "x", {
      "idempotency-key": "k",
    });
    assert.equal(res.status, 400);
  });
});

describe(`7. retries and failure (${TARGET})`, () => {
  it("retries a step that throws twice; it succeeds on the third attempt", async () => {
    const tag = uniq("flaky");
    const res = await postJson(ingress("/Flaky/step"), tag);
    assert.equal(res.status, 200);
    assert.equal(res.json(), "succeeded on attempt 3");
    assert.deepEqual(
      readMarkers(fixture.services).filter((m) => m.startsWith(`flaky:${tag}:`)),
      [1, 2, 3].map((n) => `flaky:${tag}:${n}`),
    );
  });

  it("completes with a terminal error without retrying", async () => {
    const res = await postJson(ingress("/Greeter/fail"), "nope");
    assert.equal(res.status, 418);
    assert.deepEqual(res.json(), { code: 418, message: "nope", source: "invocation" });
  });
});

describe(`8. suspension and resumption (${TARGET})`, () => {
  it("suspends after the inactivity timeout and resumes with a new attempt when the timer fires", async () => {
    const tag = uniq("nap");
    const res = await postJson(ingress("/Sleeper/nap"), tag);
    assert.equal(res.json(), "rested");
    const attempts = readMarkers(fixture.services).filter((m) => m === `attempt:${tag}`);
    assert.equal(
      attempts.length,
      2,
      "one attempt suspended after 1 s of inactivity, a second resumed it",
    );
  });
});

describe(`9. cancel and kill (${TARGET})`, () => {
  it("cancels: the handler sees the cancellation and ends gracefully", async () => {
    const tag = uniq("cancel");
    const id = await send("/Sleeper/long", tag);
    await markerValue(`attempt:${tag}`);
    await sleep(200);
    const cancelled = await call(`${fixture.server.admin}/invocations/${id}/cancel`, {
      method: "PATCH",
    });
    assert.equal(cancelled.status, 202);
    const result = await attach(id);
    assert.equal(result.status, 200);
    assert.equal(result.json(), "cancelled and cleaned up");
  });

  it("propagates a cancel to the call the handler awaits", async () => {
    const id = await send("/Chain/callSlow", "never");
    await sleep(500);
    assert.equal(
      (await call(`${fixture.server.admin}/invocations/${id}/cancel`, { method: "PATCH" })).status,
      202,
    );
    const result = await attach(id);
    assert.equal(result.status, 409);
    assert.equal(
      result.json<{ message: string }>().message,
      "Cancelled",
      "the SDK fails the awaited call with CancelledError",
    );
  });

  it("kills: the invocation ends at once with 'killed'", async () => {
    const id = await send("/Sleeper/forever", null);
    await sleep(300);
    const killed = await call(`${fixture.server.admin}/invocations/${id}/kill`, {
      method: "PATCH",
    });
    assert.equal(killed.status, 200);
    const result = await attach(id);
    assert.equal(result.status, 409);
    assert.deepEqual(result.json(), { code: 409, message: "killed", source: "invocation" });
    assert.equal(
      (await call(`${fixture.server.admin}/invocations/${id}/kill`, { method: "PATCH" })).status,
      409,
      "already completed",
    );
  });

  it("kills the invocations it called, too", async () => {
    const tag = uniq("child");
    const id = await send("/Chain/callMarked", tag);
    await sleep(400);
    assert.equal(
      (await call(`${fixture.server.admin}/invocations/${id}/kill`, { method: "PATCH" })).status,
      200,
    );
    assert.equal((await attach(id)).json<{ message: string }>().message, "killed");
    await sleep(1500);
    assert.ok(
      !readMarkers(fixture.services).includes(`later:${tag}`),
      "the child was killed before it marked",
    );
  });

  it("answers 404 for an unknown invocation", async () => {
    const res = await call(
      `${fixture.server.admin}/invocations/inv_1521kvNaBygA1R0ZSxqpt0sHwqww6uMyB6/cancel`,
      { method: "PATCH" },
    );
    assert.equal(res.status, 404);
  });
});
