/**
 * kill -9 in the middle of durable work, then a restart on the same data: every piece of in-flight
 * work completes correctly. Run with KEEL_TEST_TARGET=restate to check the reference server too.
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

describe(`kill -9 and restart in the middle of durable work (${TARGET})`, () => {
  const fixture = useServerWithServices();

  it("completes a sleep, a workflow on its promise, a delayed send and a cross-partition call", async () => {
    const ingress = (path: string): string => `${fixture.server.ingress}${path}`;
    const sendId = async (path: string, body: unknown): Promise<string> => {
      const res = await postJson(ingress(path), body);
      assert.equal(res.status, 202, res.text);
      return res.json<{ invocationId: string }>().invocationId;
    };
    const wf = `wf-crash-${Date.now()}`;
    const delayedKey = `delayed-crash-${Date.now()}`;

    const sleepId = await sendId("/Greeter/sleepy/send", "crash");
    const wfId = await sendId(`/Signup/${wf}/run/send`, "z@b.c");
    const delayedId = await sendId(`/Counter/${delayedKey}/add/send?delay=2s`, 1);
    const callId = await sendId("/Chain/callSlow/send", "across");

    await eventually(
      () => (readMarkers(fixture.services).includes("sleeping:crash") ? true : undefined),
      "the sleeper's first step",
    );
    await eventually(
      async () =>
        (await postJson(ingress(`/Signup/${wf}/stage`), null)).json() === "waiting"
          ? true
          : undefined,
      "the workflow waiting",
    );
    await sleep(300); // the cross-partition call is in flight: the callee sleeps 1.5 s

    await fixture.server.kill9();
    await fixture.server.restart();

    assert.equal((await postJson(ingress(`/Signup/${wf}/click`), "after-crash")).json(), "clicked");
    const results = await Promise.all(
      [sleepId, wfId, delayedId, callId].map((id) =>
        call(ingress(`/restate/invocation/${id}/attach`)),
      ),
    );
    assert.deepEqual(
      results.map((r) => [r.status, r.json()]),
      [
        [200, "before-crash|after-crash"],
        [200, "signed up z@b.c with after-crash"],
        [200, 1],
        [200, "slow hello across"],
      ],
    );
    assert.deepEqual(
      readMarkers(fixture.services).filter(
        (m) => m.endsWith(":crash") && !m.startsWith("sleeping:"),
      ),
      ["before:crash", "after:crash"],
      "the journaled first step did not run again",
    );
    assert.equal(
      (await postJson(ingress(`/Counter/${delayedKey}/get`), null)).json(),
      1,
      "the delayed send ran exactly once",
    );
  });

  it("retries after losing the endpoint connection: the invocation completes once the endpoint is back", async () => {
    const res = await postJson(`${fixture.server.ingress}/Greeter/sleepy/send`, "lost");
    const { invocationId } = res.json<{ invocationId: string }>();
    await eventually(
      () => (readMarkers(fixture.services).includes("sleeping:lost") ? true : undefined),
      "the first step",
    );
    await fixture.services.kill9();
    await sleep(800);
    await fixture.services.restart();
    const result = await call(
      `${fixture.server.ingress}/restate/invocation/${invocationId}/attach`,
    );
    assert.equal(result.status, 200);
    assert.equal(result.json(), "before-lost|after-lost");
    assert.deepEqual(
      readMarkers(fixture.services).filter(
        (m) => m.endsWith(":lost") && !m.startsWith("sleeping:"),
      ),
      ["before:lost", "after:lost"],
    );
  });
});
