/**
 * The official typed ingress client (`@restatedev/restate-sdk-clients`) against the server, unchanged:
 * calls, sends, idempotency, delayed sends, objects, workflows (submit/attach/output), awakeables and
 * terminal errors. Run with KEEL_TEST_TARGET=restate to check the same against the reference server.
 */

import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as clients from "@restatedev/restate-sdk-clients";
import type {
  ServiceDefinition,
  VirtualObjectDefinition,
  WorkflowDefinition,
} from "@restatedev/restate-sdk";
import { TARGET, eventually, readMarkers, useServerWithServices } from "./harness.js";

// Only the names and handler signatures of the fixture's services (test/fixtures/services.ts) matter.
type Ctx = unknown;
const Greeter = { name: "Greeter" } as ServiceDefinition<
  "Greeter",
  {
    greet: (ctx: Ctx, name: string) => Promise<string>;
    fail: (ctx: Ctx, message: string) => Promise<string>;
    slowGreet: (ctx: Ctx, name: string) => Promise<string>;
  }
>;
const Counter = { name: "Counter" } as VirtualObjectDefinition<
  "Counter",
  {
    add: (ctx: Ctx, n: number) => Promise<number>;
    get: (ctx: Ctx) => Promise<number>;
  }
>;
const Signup = { name: "Signup" } as WorkflowDefinition<
  "Signup",
  {
    run: (ctx: Ctx, email: string) => Promise<string>;
    click: (ctx: Ctx, secret: string) => Promise<string>;
  }
>;
const Awake = { name: "Awake" } as ServiceDefinition<
  "Awake",
  {
    wait: (ctx: Ctx, tag: string) => Promise<{ got: unknown; id: string }>;
  }
>;

describe(`official ingress client (${TARGET})`, () => {
  const fixture = useServerWithServices();
  let ingress: clients.Ingress;
  const run = `${Date.now() % 100_000}`;

  before(() => {
    ingress = clients.connect({ url: fixture.server.ingress });
  });

  it("calls a service and an object", async () => {
    assert.equal(await ingress.serviceClient(Greeter).greet("typed"), "hello typed!");
    const key = `client-${run}`;
    assert.equal(await ingress.objectClient(Counter, key).add(2), 2);
    assert.equal(await ingress.objectClient(Counter, key).get(), 2);
  });

  it("repeats an idempotent call with the same result, and attaches to an idempotent send", async () => {
    const opts = clients.rpc.opts<number, number>({ idempotencyKey: `idem-${run}` });
    const key = `client-idem-${run}`;
    assert.equal(await ingress.objectClient(Counter, key).add(5, opts), 5);
    assert.equal(await ingress.objectClient(Counter, key).add(5, opts), 5);
    assert.equal(await ingress.objectClient(Counter, key).get(), 5);
    const send = await ingress
      .serviceSendClient(Greeter)
      .slowGreet("attached", clients.rpc.sendOpts({ idempotencyKey: `send-${run}` }));
    assert.match(send.invocationId, /^inv_1/);
    assert.equal(await ingress.result(send), "slow hello attached");
  });

  it("delays a send", async () => {
    const key = `client-delay-${run}`;
    const send = await ingress
      .objectSendClient(Counter, key)
      .add(1, clients.rpc.sendOpts({ delay: { milliseconds: 600 } }));
    assert.match(send.invocationId, /^inv_1/);
    assert.equal(await ingress.objectClient(Counter, key).get(), 0);
    await eventually(
      async () => ((await ingress.objectClient(Counter, key).get()) === 1 ? true : undefined),
      "the delayed send",
    );
  });

  it("submits a workflow, reads its output before and after, and attaches", async () => {
    const wf = ingress.workflowClient(Signup, `client-wf-${run}`);
    const submission = await wf.workflowSubmit("c@d.e");
    assert.equal(submission.status, "Accepted");
    assert.equal((await wf.workflowOutput()).ready, false);
    assert.equal(await wf.click("pw"), "clicked");
    assert.equal(await wf.workflowAttach(), "signed up c@d.e with pw");
    const output = await wf.workflowOutput();
    assert.equal(output.ready, true);
    assert.equal(output.ready && output.result, "signed up c@d.e with pw");
    assert.equal((await wf.workflowSubmit("again")).status, "PreviouslyAccepted");
  });

  it("resolves and rejects awakeables", async () => {
    const tag = `client-aw-${run}`;
    const send = await ingress
      .serviceSendClient(Awake)
      .wait(tag, clients.rpc.sendOpts({ idempotencyKey: tag }));
    const id = await eventually(
      () =>
        readMarkers(fixture.services)
          .find((m) => m.startsWith(`awakeable:${tag}:`))
          ?.split(":")[2],
      "the awakeable",
    );
    await ingress.resolveAwakeable(id, { ok: true });
    assert.deepEqual(await ingress.result(send), { got: { ok: true }, id });
    const tag2 = `client-aw2-${run}`;
    const send2 = await ingress
      .serviceSendClient(Awake)
      .wait(tag2, clients.rpc.sendOpts({ idempotencyKey: tag2 }));
    const id2 = await eventually(
      () =>
        readMarkers(fixture.services)
          .find((m) => m.startsWith(`awakeable:${tag2}:`))
          ?.split(":")[2],
      "the awakeable",
    );
    await ingress.rejectAwakeable(id2, "denied");
    await assert.rejects(
      ingress.result(send2),
      (error: unknown) => error instanceof clients.HttpCallError && error.status === 500,
    );
  });

  it("surfaces a terminal error as an HttpCallError with its status", async () => {
    await assert.rejects(
      async () => ingress.serviceClient(Greeter).fail("no"),
      (error: unknown) => {
        assert.ok(error instanceof clients.HttpCallError);
        assert.equal(error.status, 418);
        return true;
      },
    );
  });
});
