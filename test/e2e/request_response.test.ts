/**
 * Request/response deployments: an endpoint served over HTTP/1.1 (`http1Handler`, as Lambda-style
 * endpoints are) gets the whole journal per request and suspends whenever it needs something new;
 * the server re-invokes it as soon as what it waits for is journaled. Run with
 * KEEL_TEST_TARGET=restate to check the same stories against the reference fixture.server.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  TARGET,
  call,
  eventually,
  postJson,
  readMarkers,
  useServerWithServices,
} from "./harness.js";

describe(`request/response deployments over HTTP/1.1 (${TARGET})`, () => {
  const fixture = useServerWithServices({ http1: true, registration: { use_http_11: true } });

  it("registers the endpoint as a request/response deployment over HTTP/1.1", async () => {
    const deployments = (await call(`${fixture.server.admin}/deployments`)).json<{
      deployments: { protocol_type: string; http_version: string }[];
    }>();
    assert.equal(deployments.deployments[0]?.protocol_type, "RequestResponse");
    assert.equal(deployments.deployments[0]?.http_version, "HTTP/1.1");
  });

  it("runs three journaled steps, one re-invocation per step", async () => {
    const res = await postJson(`${fixture.server.ingress}/Greeter/greet`, "rr");
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json(), "hello rr!");
  });

  it("keeps object state and lets a shared handler read it", async () => {
    const key = `rr-${Date.now()}`;
    assert.equal((await postJson(`${fixture.server.ingress}/Counter/${key}/add`, 2)).json(), 2);
    assert.equal((await postJson(`${fixture.server.ingress}/Counter/${key}/add`, 3)).json(), 5);
    assert.equal((await postJson(`${fixture.server.ingress}/Counter/${key}/get`, null)).json(), 5);
  });

  it("suspends on a sleep and is re-invoked when the timer fires, running each step once", async () => {
    const res = await postJson(`${fixture.server.ingress}/Greeter/sleepy`, "rr-sleep");
    assert.equal(res.json(), "before-rr-sleep|after-rr-sleep");
    assert.deepEqual(
      readMarkers(fixture.services).filter(
        (m) => m.endsWith(":rr-sleep") && !m.startsWith("sleeping:"),
      ),
      ["before:rr-sleep", "after:rr-sleep"],
    );
  });

  it("resumes an invocation waiting on an awakeable and completes calls to other services", async () => {
    const tag = `rr-aw-${Date.now()}`;
    const sent = await postJson(`${fixture.server.ingress}/Awake/wait/send`, tag);
    const { invocationId } = sent.json<{ invocationId: string }>();
    const awakeableId = await eventually(
      () =>
        readMarkers(fixture.services)
          .find((m) => m.startsWith(`awakeable:${tag}:`))
          ?.split(":")[2],
      "the awakeable id",
    );
    assert.equal(
      (await postJson(`${fixture.server.ingress}/restate/a/${awakeableId}/resolve`, "yes")).status,
      202,
    );
    assert.deepEqual(
      (await call(`${fixture.server.ingress}/restate/invocation/${invocationId}/attach`)).json(),
      { got: "yes", id: awakeableId },
    );
    const chain = await postJson(`${fixture.server.ingress}/Chain/call`, [
      `rr-c1-${tag}`,
      `rr-c2-${tag}`,
    ]);
    assert.deepEqual(chain.json(), {
      values: [1, 1],
      greeting: `hello rr-c1-${tag},rr-c2-${tag}!`,
    });
  });
});
