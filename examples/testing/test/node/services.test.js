// The services tested with node's own test runner: `node --test test/node/services.test.js`.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as clients from "@restatedev/restate-sdk-clients";
import { RestateTestEnvironment } from "keel/testing";
import { cart, greeter, payment } from "../../src/services.js";

describe("services on an embedded Keel (node:test)", () => {
  let env;
  let ingress;

  before(async () => {
    env = await RestateTestEnvironment.start({ services: [greeter, cart, payment] });
    ingress = clients.connect({ url: env.baseUrl() });
  });
  after(() => env?.stop());

  it("returns a handler's result", async () => {
    assert.equal(await ingress.serviceClient(greeter).greet("Ada"), "Hello, Ada!");
  });

  it("keeps an object's state, read back with stateOf", async () => {
    await ingress.objectClient(cart, "ada").add("tea");
    await ingress.objectClient(cart, "ada").add("milk");
    const state = env.stateOf(cart, "ada");
    assert.deepEqual(await state.get("items"), ["tea", "milk"]);
    await state.set("items", ["coffee"]);
    assert.equal(await ingress.objectClient(cart, "ada").add("sugar"), 2);
  });

  it("finishes a workflow that sleeps a day at once under the test clock", async () => {
    const started = Date.now();
    const workflow = ingress.workflowClient(payment, "order-1");
    await workflow.workflowSubmit("order-1");
    await env.clock.skipToNextTimer(); // waits for the sleep, then moves the clock a day on
    assert.equal(await workflow.workflowAttach(), "reminded order-1");
    assert.equal(await env.stateOf(payment, "order-1").get("status"), "reminded");
    assert.ok(Date.now() - started < 5_000);
  });
});
