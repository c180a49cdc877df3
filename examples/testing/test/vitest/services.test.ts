// The services tested with Vitest (TypeScript): `vitest run --dir test/vitest`.
import * as clients from "@restatedev/restate-sdk-clients";
import { RestateTestEnvironment } from "keel/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cart, greeter, payment } from "../../src/services.js";

describe("services on an embedded Keel (Vitest)", () => {
  let env: RestateTestEnvironment;
  let ingress: clients.Ingress;

  beforeAll(async () => {
    env = await RestateTestEnvironment.start({ services: [greeter, cart, payment] });
    ingress = clients.connect({ url: env.baseUrl() });
  });
  afterAll(() => env?.stop());

  it("returns a handler's result", async () => {
    expect(await ingress.serviceClient(greeter).greet("Lin")).toBe("Hello, Lin!");
  });

  it("keeps an object's state, read back with stateOf", async () => {
    await ingress.objectClient(cart, "lin").add("bread");
    const state = env.stateOf<{ items: string[] }>(cart, "lin");
    expect(await state.getAll()).toStrictEqual({ items: ["bread"] });
    await state.setAll({ items: [] });
    expect(await state.get("items")).toStrictEqual([]);
  });

  it("finishes a workflow that sleeps a day at once under the test clock", async () => {
    const workflow = ingress.workflowClient(payment, "order-2");
    await workflow.workflowSubmit("order-2");
    await env.clock.skipToNextTimer();
    expect(await workflow.workflowAttach()).toBe("reminded order-2");
    expect(await env.stateOf(payment, "order-2").get("status")).toBe("reminded");
  });
});
