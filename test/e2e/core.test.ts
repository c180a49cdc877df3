/**
 * The single-node core, end to end: a real keel-server, a real endpoint written with the official
 * SDK, registered through the admin API and called through the ingress.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  call,
  eventually,
  postJson,
  readMarkers,
  register,
  useServerWithServices,
} from "./harness.js";

describe("single-node core", () => {
  const fixture = useServerWithServices({ server: "keel" });

  it("registers like Restate: 201 new, 200 unchanged, dry runs store nothing", async () => {
    const again = await register(fixture.server.admin, fixture.services.url);
    assert.equal(again.status, 200);
    const dry = await register(
      fixture.server.admin,
      fixture.services.url.replace("127.0.0.1", "localhost"),
      {
        dry_run: true,
      },
    );
    assert.equal(dry.status, 201);
    const deployments = (await call(`${fixture.server.admin}/deployments`)).json<{
      deployments: { uri: string }[];
    }>();
    assert.equal(deployments.deployments.length, 1, "the dry run stored nothing");
    const svc = (await call(`${fixture.server.admin}/services/Greeter`)).json<{
      name: string;
      ty: string;
      handlers: { name: string }[];
    }>();
    assert.equal(svc.ty, "Service");
    assert.ok(svc.handlers.some((h) => h.name === "greet"));
    assert.equal((await call(`${fixture.server.admin}/health`)).status, 200);
    const version = (await call(`${fixture.server.admin}/version`)).json<{
      min_admin_api_version: number;
      max_admin_api_version: number;
    }>();
    assert.deepEqual([version.min_admin_api_version, version.max_admin_api_version], [2, 4]);
  });

  it("runs a handler with three ctx.run steps and returns its result", async () => {
    const res = await postJson(`${fixture.server.ingress}/Greeter/greet`, "world");
    assert.equal(res.status, 200);
    assert.equal(res.json(), "hello world!");
    assert.match(res.headers.get("x-restate-id") ?? "", /^inv_1[0-9a-zA-Z]{33}$/);
  });

  it("accepts a send with 202, then attach and output return the result", async () => {
    const sent = await postJson(`${fixture.server.ingress}/Greeter/greet/send`, "later");
    assert.equal(sent.status, 202);
    const { invocationId, status } = sent.json<{ invocationId: string; status: string }>();
    assert.equal(status, "Accepted");
    assert.equal(sent.headers.get("x-restate-id"), invocationId);
    const attached = await call(
      `${fixture.server.ingress}/restate/invocation/${invocationId}/attach`,
    );
    assert.equal(attached.status, 200);
    assert.equal(attached.json(), "hello later!");
    const output = await call(
      `${fixture.server.ingress}/restate/invocation/${invocationId}/output`,
    );
    assert.equal(output.status, 200);
    assert.equal(output.json(), "hello later!");
  });

  it("gives the caller a terminal error's code and message", async () => {
    const res = await postJson(`${fixture.server.ingress}/Greeter/fail`, "it broke");
    assert.equal(res.status, 418);
    assert.equal(res.headers.get("x-restate-error-source"), "invocation");
    assert.deepEqual(res.json(), { code: 418, message: "it broke", source: "invocation" });
  });

  it("answers 404 with a JSON error body for an unknown service or handler", async () => {
    const service = await postJson(`${fixture.server.ingress}/Nope/greet`, "x");
    assert.equal(service.status, 404);
    assert.deepEqual(service.json(), {
      code: 404,
      message: "service 'Nope' not found, make sure to register the service before calling it.",
      source: "ingress",
    });
    const handler = await postJson(`${fixture.server.ingress}/Greeter/nope`, "x");
    assert.equal(handler.status, 404);
    assert.match(
      handler.json<{ message: string }>().message,
      /exists, but the handler 'nope' was not found/,
    );
  });

  it("answers malformed requests with a 4xx and keeps serving", async () => {
    const wrongType = await call(`${fixture.server.ingress}/Greeter/greet`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "x",
    });
    assert.equal(wrongType.status, 400);
    assert.match(
      wrongType.json<{ message: string }>().message,
      /Content-type 'text\/plain' does not match 'application\/json'/,
    );
    assert.equal((await call(`${fixture.server.ingress}/Greeter`, { method: "POST" })).status, 400);
    assert.equal(
      (await call(`${fixture.server.ingress}/Greeter/greet`, { method: "PUT" })).status,
      405,
    );
    assert.equal(
      (await call(`${fixture.server.ingress}/restate/invocation/xyz/attach`)).json<{
        message: string;
      }>().message,
      "bad invocation id 'xyz': bad format",
    );
    // Service names are not percent-decoded (as in Restate): no service '%E0%A4%A'.
    assert.equal(
      (await call(`${fixture.server.ingress}/%E0%A4%A/x`, { method: "POST" })).status,
      404,
    );
    assert.equal(
      (await call(`${fixture.server.ingress}/Counter/%E0%A4%A/add`, { method: "POST" })).status,
      400,
      "a key that is not UTF-8 once decoded",
    );
    assert.equal(
      (await call(`${fixture.server.ingress}/Greeter/greet/send?delay=soon`, { method: "POST" }))
        .status,
      400,
    );
    const bad = await call(`${fixture.server.admin}/deployments`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{not json",
    });
    assert.equal(bad.status, 400);
    // Restate's HTTP layer answers a body that is not JSON in plain text.
    assert.match(bad.text, /^Failed to parse the request body as JSON: /);
    // Keys longer than a store key are taken (stored by digest), as Restate takes them.
    const longKey = await postJson(`${fixture.server.ingress}/Counter/${"k".repeat(2000)}/add`, 1);
    assert.equal(longKey.status, 200, longKey.text);
    const longState = await call(`${fixture.server.admin}/services/Counter/state`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ object_key: "k", new_state: { ["s".repeat(1500)]: [1] } }),
    });
    assert.equal(longState.status, 202, longState.text);
    const res = await postJson(`${fixture.server.ingress}/Greeter/greet`, "still here");
    assert.equal(res.json(), "hello still here!");
    assert.equal((await postJson(`${fixture.server.ingress}/Counter/k/add`, 1)).status, 200);
  });

  it("survives kill -9 mid-sleep: the invocation completes and the first step does not run again", async () => {
    const sent = await postJson(`${fixture.server.ingress}/Greeter/sleepy/send`, "crash");
    const { invocationId } = sent.json<{ invocationId: string }>();
    // Wait until the first step's result is journaled and the handler sleeps.
    await eventually(
      () => (readMarkers(fixture.services).includes("sleeping:crash") ? true : undefined),
      "the sleep",
    );
    await fixture.server.kill9();
    await fixture.server.restart();
    const attached = await call(
      `${fixture.server.ingress}/restate/invocation/${invocationId}/attach`,
    );
    assert.equal(attached.status, 200);
    assert.equal(attached.json(), "before-crash|after-crash");
    const markers = readMarkers(fixture.services).filter(
      (m) => m.endsWith(":crash") && !m.startsWith("sleeping:"),
    );
    assert.deepEqual(markers, ["before:crash", "after:crash"], "each step body ran exactly once");
  });

  it("shuts down cleanly on SIGTERM", async () => {
    assert.equal(await fixture.server.stop(), 0, "SIGTERM shuts keel-server down with exit code 0");
  });
});
