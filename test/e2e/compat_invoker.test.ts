/**
 * Invoker and lifecycle semantics where Keel differed from Restate (issue 26), checked against both
 * servers: unresolvable call targets fail the attempt and are retried until the target is
 * registered; kill answers for the invocation asked for; an inactivity timeout of 0 suspends at every
 * await; cancelling an invocation that has not started removes it; failing attempts are logged.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  TARGET,
  call,
  eventually,
  postJson,
  readMarkers,
  register,
  sleep,
  sqlRows,
  startServices,
  startTarget,
  useServerWithServices,
  type ServiceEndpoint,
} from "./harness.js";

const fixture = useServerWithServices();
const run = `${Date.now() % 100_000}`;
const uniq = (name: string): string => `${name}-${run}`;

const ingress = (path: string): string => `${fixture.server.ingress}${path}`;
const admin = (path: string): string => `${fixture.server.admin}${path}`;
const send = async (
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ invocationId: string; status: string }> => {
  const res = await postJson(ingress(`${path}/send`), body, headers);
  assert.equal(res.status, 202, res.text);
  return res.json<{ invocationId: string; status: string }>();
};
const attach = (id: string) => call(ingress(`/restate/invocation/${id}/attach`));
const output = (id: string) => call(ingress(`/restate/invocation/${id}/output`));
const markers = (line: string): number =>
  readMarkers(fixture.services).filter((m) => m === line).length;
const invocationRow = async (id: string) =>
  (
    await sqlRows(
      fixture.server.admin,
      `SELECT status, last_failure, last_failure_error_code, retry_count FROM sys_invocation WHERE id = '${id}'`,
    )
  )[0];

/**
 * The server's log split into events, without colours: Keel writes one line per event, Restate a
 * block of lines starting with the time.
 */
function logEvents(text: string): string[] {
  const plain = text.replace(/\x1b\[[0-9;]*m/g, "");
  return plain.split(/\n(?=\d{4}-\d\d-\d\dT)/);
}

/** Waits until the invocation is backing off after a failure that mentions `what`. */
const backingOffWith = (id: string, what: string) =>
  eventually(async () => {
    const row = await invocationRow(id);
    return row?.["status"] === "backing-off" && String(row["last_failure"]).includes(what)
      ? row
      : undefined;
  }, `${id} backing off with a failure naming ${what}`);

describe(`1. calls to targets that are not registered (${TARGET})`, () => {
  let late: ServiceEndpoint | undefined;

  it("retries a one-way send to an unknown service until it is registered, then delivers it once", async () => {
    const tag = uniq("late-send");
    const startedAt = Date.now();
    const { invocationId } = await send("/InvSemCaller/sendTo", {
      service: "InvSemLate",
      handler: "record",
      tag,
    });
    const row = await backingOffWith(invocationId, "InvSemLate/record");
    assert.match(String(row["last_failure"]), /not found/);
    assert.ok(Number(row["retry_count"]) >= 1, JSON.stringify(row));
    // Registered 5 s after the send; meanwhile the sender keeps backing off.
    await sleep(Math.max(0, 5000 - (Date.now() - startedAt)));
    assert.equal((await invocationRow(invocationId))?.["status"], "backing-off");
    assert.equal(markers(`late:${tag}`), 0);
    late = await startServices({
      fixture: { script: "invoker_late_endpoint.js" },
      markerFile: fixture.services.markerFile,
    });
    const registered = await register(fixture.server.admin, late.url);
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    const done = await eventually(
      async () => {
        const res = await output(invocationId);
        return res.status === 200 ? res : undefined;
      },
      "the sender to complete once the target is registered",
      30_000,
    );
    assert.equal(done.json(), "sent");
    await eventually(() => (markers(`late:${tag}`) > 0 ? true : undefined), "the late handler");
    await sleep(1000);
    assert.equal(markers(`late:${tag}`), 1, "delivered exactly once");
  });

  it("retries a call to a handler that is not registered with the same failure", async () => {
    const tag = uniq("missing-handler");
    const { invocationId } = await send("/InvSemCaller/callTo", {
      service: "InvSemPlain",
      handler: "nope",
      tag,
    });
    const row = await backingOffWith(invocationId, "InvSemPlain/nope");
    assert.equal(
      row["last_failure"],
      "[500 Internal] cannot process command Command: Call (command index 1) because of a failed precondition: the service handler InvSemPlain/nope was not found",
    );
    assert.equal(row["last_failure_error_code"], "RT0018");
    assert.equal(
      (await call(admin(`/invocations/${invocationId}/kill`), { method: "PATCH" })).status,
      200,
    );
  });

  it("retries a delayed send to an unknown service instead of dropping it", async () => {
    const tag = uniq("missing-delayed");
    const { invocationId } = await send("/InvSemCaller/sendTo", {
      service: "InvSemNowhere",
      handler: "record",
      tag,
      delayMs: 100,
    });
    const row = await backingOffWith(invocationId, "InvSemNowhere/record");
    assert.equal(
      row["last_failure"],
      "[500 Internal] cannot process command Command: OneWayCall (command index 1) because of a failed precondition: the service handler InvSemNowhere/record was not found",
    );
    assert.equal(
      (await call(admin(`/invocations/${invocationId}/kill`), { method: "PATCH" })).status,
      200,
    );
  });

  it("retries a call that gives a Service a key, naming the precondition", async () => {
    const tag = uniq("keyed-service");
    const { invocationId } = await send("/InvSemCaller/callTo", {
      service: "Greeter",
      handler: "echo",
      key: "k",
      tag,
    });
    const row = await backingOffWith(invocationId, "Greeter");
    assert.equal(
      row["last_failure"],
      "[500 Internal] cannot process command Command: Call (command index 1) because of a failed precondition: a key was provided, but the callee 'Greeter' is a Service. Only VirtualObjects or Workflows accept a key",
    );
    assert.equal(
      (await call(admin(`/invocations/${invocationId}/kill`), { method: "PATCH" })).status,
      200,
    );
  });

  it("calls a workflow's run with an idempotency key: the key is no obstacle", async () => {
    const key = uniq("wf-idem");
    const caller = await send("/InvSemCaller/callTo", {
      service: "Signup",
      handler: "run",
      key,
      tag: "a@b.c",
      idempotencyKey: `${key}-idem`,
    });
    await eventually(async () => {
      const res = await postJson(ingress(`/Signup/${key}/stage`), null);
      return res.json() === "waiting" ? true : undefined;
    }, "the workflow to run");
    assert.equal((await postJson(ingress(`/Signup/${key}/click`), "s3cret")).status, 200);
    assert.equal((await attach(caller.invocationId)).json(), "signed up a@b.c with s3cret");
  });

  it("retries a handler resolving an awakeable id that is not valid, instead of dropping it", async () => {
    const { invocationId } = await send("/Awake/resolve", {
      id: "sign_1notAValidAwakeableId",
      value: 1,
    });
    const row = await eventually(async () => {
      const r = await invocationRow(invocationId);
      return r?.["status"] === "backing-off" ? r : undefined;
    }, "the resolver to back off");
    // Restate names the decoder's error kind too (`…, TypeMismatch)`); the beginning is the same.
    assert.match(
      String(row["last_failure"]),
      /^\[500 Internal\] cannot decode entry: decoding error: InvalidAwakeableId\("sign_1notAValidAwakeableId"/,
    );
    assert.equal(row["last_failure_error_code"], "RT0012");
    assert.equal(
      (await call(admin(`/invocations/${invocationId}/kill`), { method: "PATCH" })).status,
      200,
    );
  });

  it("stops the late endpoint", async () => {
    await late?.stop();
  });
});

describe(`3. kill of a call tree on one partition (${TARGET})`, () => {
  const cases = [
    { route: "PATCH kill", forget: false },
    { route: "PATCH kill", forget: true },
    { route: "DELETE mode=kill", forget: false },
    { route: "DELETE mode=kill", forget: true },
  ] as const;
  for (const { route, forget } of cases) {
    const child = forget ? "completed and was forgotten" : "had already completed";
    it(`answers ${route} for the invocation asked for although a child ${child}`, async () => {
      const key = uniq(`tree-${route.split(" ")[0]!}-${forget}`);
      const { invocationId } = await send(`/InvSemRoot/${key}/tree`, forget);
      await eventually(
        () => (markers(`tree:${key}:quick first`) > 0 ? true : undefined),
        "the first call to finish",
      );
      const blocked = await eventually(async () => {
        const [row] = await sqlRows(
          fixture.server.admin,
          `SELECT id FROM sys_invocation WHERE target = 'InvSemLeaf/${key}/block'`,
        );
        return row?.["id"] as string | undefined;
      }, "the blocking child");
      const res =
        route === "PATCH kill"
          ? await call(admin(`/invocations/${invocationId}/kill`), { method: "PATCH" })
          : await call(admin(`/invocations/${invocationId}?mode=kill`), { method: "DELETE" });
      // The deprecated DELETE answers 202 for anything it found, as Restate's does.
      assert.equal(res.status, route === "PATCH kill" ? 200 : 202, res.text);
      const killed = await attach(invocationId);
      assert.match(killed.text, /killed/);
      assert.match((await attach(blocked)).text, /killed/);
    });
  }
});

describe(`5. an inactivity timeout of 0 (${TARGET})`, () => {
  it("suspends at every await when the service's manifest sets it", async () => {
    const tag = uniq("always-suspend");
    const res = await postJson(ingress("/InvSemSuspender/steps"), tag);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json(), "a-done");
    // Two sleeps and a run: each await that is not completed at once ends the attempt.
    assert.ok(markers(`attempt:${tag}`) >= 3, `attempts: ${markers(`attempt:${tag}`)}`);
    assert.equal(markers(`run-a:${tag}`), 1);
  });

  it("suspends at every await when the admin API sets it to 0", async () => {
    const patched = await call(admin("/services/InvSemPlain"), {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ inactivity_timeout: "0s" }),
    });
    assert.equal(patched.status, 200, patched.text);
    try {
      const tag = uniq("patched-suspend");
      const res = await postJson(ingress("/InvSemPlain/steps"), tag);
      assert.equal(res.status, 200, res.text);
      assert.ok(markers(`attempt:${tag}`) >= 3, `attempts: ${markers(`attempt:${tag}`)}`);
    } finally {
      await call(admin("/services/InvSemPlain"), {
        method: "PATCH",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ inactivity_timeout: "1m" }),
      });
    }
  });
});

describe(`5c. the server's default inactivity timeout of 0 (${TARGET})`, () => {
  it("suspends at every await of services that set no timeout", async () => {
    const server = await startTarget({
      extraArgs: ["--inactivity-timeout", "0s"],
      env: { RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT: "0s" },
    });
    const services = await startServices();
    try {
      const registered = await register(server.admin, services.url);
      assert.equal(registered.status, 201, JSON.stringify(registered.body));
      const described = await call(`${server.admin}/services/InvSemPlain`);
      assert.equal(described.json<Record<string, unknown>>()["inactivity_timeout"], "0s");
      const tag = uniq("server-default");
      const res = await postJson(`${server.ingress}/InvSemPlain/steps`, tag);
      assert.equal(res.status, 200, res.text);
      const attempts = readMarkers(services).filter((m) => m === `attempt:${tag}`).length;
      assert.ok(attempts >= 3, `attempts: ${attempts}`);
    } finally {
      await services.stop();
      await server.stop();
      server.cleanup();
    }
  });
});

describe(`5b. an abort timeout of 0 (${TARGET})`, () => {
  it("aborts the attempt as soon as its request is closed, and retries", async () => {
    const patch = (body: Record<string, string>) =>
      call(admin("/services/InvSemPlain"), {
        method: "PATCH",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const patched = await patch({ inactivity_timeout: "0s", abort_timeout: "0s" });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.json<Record<string, unknown>>()["abort_timeout"], "0s");
    try {
      const tag = uniq("abort-zero");
      const { invocationId } = await send("/InvSemPlain/steps", tag);
      const row = await backingOffWith(invocationId, "abort timeout");
      assert.equal(
        row["last_failure"],
        "[500 Internal] the invocation stream was closed after the 'abort timeout' (0s) fired.",
      );
      assert.equal(
        (await call(admin(`/invocations/${invocationId}/kill`), { method: "PATCH" })).status,
        200,
      );
    } finally {
      await patch({ inactivity_timeout: "1m", abort_timeout: "10m" });
    }
  });
});

describe(`6. cancelling an invocation before it starts (${TARGET})`, () => {
  it("removes a delayed send; the same idempotency key schedules a fresh one", async () => {
    const tag = uniq("delayed-cancel");
    const delayed = await postJson(ingress("/Greeter/echo/send?delay=1h"), tag, {
      "idempotency-key": tag,
    });
    assert.equal(delayed.status, 202, delayed.text);
    const id = delayed.json<{ invocationId: string }>().invocationId;
    const cancelled = await call(admin(`/invocations/${id}/cancel`), { method: "PATCH" });
    assert.equal(cancelled.status, 200, cancelled.text);
    await eventually(
      async () => ((await output(id)).status === 404 ? true : undefined),
      "the cancelled invocation to be gone",
    );
    assert.equal((await attach(id)).status, 404);
    assert.equal(
      (await sqlRows(fixture.server.admin, `SELECT id FROM sys_invocation WHERE id = '${id}'`))
        .length,
      0,
    );
    const again = await postJson(ingress("/Greeter/echo/send?delay=200ms"), tag, {
      "idempotency-key": tag,
    });
    assert.equal(again.status, 202, again.text);
    assert.equal(again.json<{ status: string }>().status, "Accepted");
    const result = await eventually(async () => {
      const res = await attach(id);
      return res.status === 200 ? res : undefined;
    }, "the fresh invocation to run");
    assert.equal(result.json(), tag);
  });

  it("removes an invocation waiting in an object's inbox", async () => {
    const key = uniq("inbox-cancel");
    const hold = await send(`/Counter/${key}/hold`, null);
    const awakeableId = await eventually(async () => {
      const res = await postJson(ingress(`/Counter/${key}/awakeableId`), null);
      return res.json<string | null>() ?? undefined;
    }, "the awakeable id");
    const waiting = await send(`/Counter/${key}/add`, 5);
    await eventually(async () => {
      const row = await invocationRow(waiting.invocationId);
      // Restate 1.7 shows an invocation waiting in the inbox as `pending`.
      return row?.["status"] === "pending" ? true : undefined;
    }, "the add to wait in the inbox");
    const cancelled = await call(admin(`/invocations/${waiting.invocationId}/cancel`), {
      method: "PATCH",
    });
    assert.equal(cancelled.status, 200, cancelled.text);
    assert.equal((await output(waiting.invocationId)).status, 404);
    assert.equal(
      (await postJson(ingress(`/restate/awakeables/${awakeableId}/resolve`), "go")).status,
      202,
    );
    assert.equal((await attach(hold.invocationId)).json(), "released with go");
    assert.equal((await postJson(ingress(`/Counter/${key}/get`), null)).json(), 0);
  });
});

describe(`10. failing attempts (${TARGET})`, () => {
  it("logs a warning naming the invocation and its failure at the default level", async () => {
    const tag = uniq("logged");
    const { invocationId } = await send("/InvSemPlain/failing", tag);
    await backingOffWith(invocationId, `failing on purpose (${tag})`);
    const line = await eventually(
      () =>
        logEvents(fixture.server.output.join("")).find(
          (l) => l.includes(invocationId) && l.includes(`failing on purpose (${tag})`),
        ),
      "a warning about the failed attempt",
    ).catch((error: unknown) => {
      throw new Error(
        `${String(error)}; the server wrote:\n${fixture.server.output.join("").slice(-3000)}`,
      );
    });
    assert.match(line, /WARN/);
    assert.match(line, /InvSemPlain\/failing/);
    assert.equal(
      (await call(admin(`/invocations/${invocationId}/kill`), { method: "PATCH" })).status,
      200,
    );
  });
});
