/**
 * The embedded test kit (`keel/testing`) as a user's test suite uses it: services served in this
 * process, the typed ingress client, state read and written with `stateOf`, the node's clock moved
 * forward (sleeps, delayed calls, retries, timeouts and retention follow it), and a `stop()` that
 * leaves no port, file, thread or timer behind. Keel only: the kit embeds Keel itself.
 */

import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { connect as connectTcp } from "node:net";
import { tmpdir } from "node:os";
import { after, before, describe, it } from "node:test";
import * as clients from "@restatedev/restate-sdk-clients";
import { RestateTestEnvironment } from "../../src/testing/index.js";
import {
  tkCounter,
  tkFailing,
  tkFlaky,
  tkGreeter,
  tkRandom,
  tkReminder,
  tkWaiter,
} from "../fixtures/testkit_services.js";
import { eventually, sqlRows } from "./harness.js";

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

describe("test kit: one environment for the suite", () => {
  let env: RestateTestEnvironment;
  let ingress: clients.Ingress;

  before(async () => {
    env = await RestateTestEnvironment.start({
      services: [tkGreeter, tkCounter, tkReminder, tkWaiter, tkFlaky],
    });
    ingress = clients.connect({ url: env.baseUrl() });
  });
  after(() => env?.stop());

  it("serves a handler's result through the typed client", async () => {
    assert.equal(await ingress.serviceClient(tkGreeter).greet("kit"), "hello kit");
  });

  it("reads and writes an object's state with stateOf", async () => {
    const counter = ingress.objectClient(tkCounter, "state-1");
    assert.equal(await counter.add(2), 2);
    const state = env.stateOf<{ count: number }>(tkCounter, "state-1");
    assert.deepEqual(await state.getAll(), { count: 2 });
    assert.equal(await state.get("count"), 2);
    await state.set("count", 40);
    assert.equal(await counter.add(2), 42);
    await state.setAll({ count: 7 });
    assert.equal(await counter.get(), 7);
    assert.equal(await env.stateOf(tkCounter, "never-used").get("count"), null);
  });

  it("finishes a workflow's one-day sleeps at once when the test moves the clock", async () => {
    const started = Date.now();
    const workflow = ingress.workflowClient(tkReminder, "sleepy-1");
    await workflow.workflowSubmit("ada");
    const state = env.stateOf(tkReminder, "sleepy-1");

    const before1 = env.clock.now();
    const firstWake = await env.clock.skipToNextTimer();
    assert.ok(firstWake - before1 > DAY_MS - 60_000, "the first sleep wakes a day later");
    await eventually(
      async () => ((await state.get("reminded")) === "ada" ? true : undefined),
      "reminded",
    );

    // The second sleep counts its day from the node's new time: it is not due yet.
    const before2 = env.clock.now();
    const secondWake = await env.clock.skipToNextTimer();
    assert.ok(
      secondWake - before2 > DAY_MS - 60_000,
      `the second sleep wakes a day after the first fired, not at once (${secondWake - before2} ms)`,
    );
    assert.equal(await workflow.workflowAttach(), "reminded and escalated ada");
    assert.equal(await state.get("escalated"), "ada");
    assert.ok(Date.now() - started < 20_000, "two days passed in seconds");
  });

  it("keeps a sleep set after a move of the clock pending until the clock passes it", async () => {
    await env.clock.advance("3 days");
    const workflow = ingress.workflowClient(tkReminder, "sleepy-2");
    await workflow.workflowSubmit("grace");
    const before = env.clock.now();
    const wake = await env.clock.skipToNextTimer();
    assert.ok(wake - before > DAY_MS - 60_000, "the sleep counts its day from the moved clock");
    await eventually(
      async () =>
        (await env.stateOf(tkReminder, "sleepy-2").get("reminded")) === "grace" ? true : undefined,
      "reminded after the skip",
    );
    await env.clock.advance({ days: 1 });
    assert.equal(await workflow.workflowAttach(), "reminded and escalated grace");
  });

  it("delivers a delayed call once the clock passes its time", async () => {
    await ingress
      .objectClient(tkCounter, "sender")
      .addLater({ target: "delayed-1", delayMs: HOUR_MS });
    const target = ingress.objectClient(tkCounter, "delayed-1");
    const before = env.clock.now();
    const wake = await env.clock.skipToNextTimer();
    assert.ok(wake - before > HOUR_MS - 60_000, "the call is due an hour after it was sent");
    await eventually(
      async () => ((await target.get()) === 1 ? true : undefined),
      "the delayed add",
    );
  });

  it("delivers a delayed send from the ingress once the clock passes its time", async () => {
    const target = ingress.objectClient(tkCounter, "delayed-2");
    await ingress
      .objectSendClient(tkCounter, "delayed-2")
      .add(5, clients.rpc.sendOpts({ delay: { hours: 2 } }));
    await env.clock.advance("1 hour");
    assert.equal(await target.get(), 0, "not due after one hour");
    await env.clock.advance("1 hour");
    await eventually(
      async () => ((await target.get()) === 5 ? true : undefined),
      "the delayed send",
    );
  });

  it("retries a failed attempt after its back-off of an hour once the clock passes it", async () => {
    const send = await ingress
      .serviceSendClient(tkFlaky)
      .once(clients.rpc.sendOpts({ idempotencyKey: "flaky-1" }));
    const admin = env.adminAPIBaseUrl();
    await eventually(async () => {
      const rows = await sqlRows(
        admin,
        `SELECT status FROM sys_invocation WHERE id = '${send.invocationId}'`,
      );
      return rows[0]?.["status"] === "backing-off" ? true : undefined;
    }, "the first attempt to fail");
    await env.clock.advance("2 hours");
    const output = await ingress.result(send);
    assert.equal(output, "succeeded on attempt 2");
  });

  it("suspends an attempt waiting past its inactivity timeout, and resumes it when woken", async () => {
    const waiter = ingress.objectSendClient(tkWaiter, "w-1");
    const send = await waiter.wait(clients.rpc.sendOpts({ idempotencyKey: "waiter-1" }));
    const state = env.stateOf(tkWaiter, "w-1");
    const awakeable = await eventually(
      async () => (await state.get<string>("awakeable")) ?? undefined,
      "awakeable id",
    );
    await env.clock.advance("1 day");
    const admin = env.adminAPIBaseUrl();
    await eventually(async () => {
      const rows = await sqlRows(
        admin,
        `SELECT status FROM sys_invocation WHERE id = '${send.invocationId}'`,
      );
      return rows[0]?.["status"] === "suspended" ? true : undefined;
    }, "the attempt to suspend after its inactivity timeout");
    const res = await fetch(`${env.baseUrl()}/restate/awakeables/${awakeable}/resolve`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify("the test"),
    });
    assert.equal(res.status, 202);
    assert.equal(await ingress.result(send), "woken by the test");
  });

  it("forgets a completed workflow once its retention has passed on the clock", async () => {
    const workflow = ingress.workflowClient(tkReminder, "retained-1");
    await workflow.workflowSubmit("lin");
    await env.clock.skipToNextTimer();
    await env.clock.skipToNextTimer();
    assert.equal(await workflow.workflowAttach(), "reminded and escalated lin");
    await env.clock.advance("23 hours");
    assert.equal(
      await workflow.workflowOutput().then((o) => o.result),
      "reminded and escalated lin",
    );
    assert.equal(await env.stateOf(tkReminder, "retained-1").get("escalated"), "lin");
    await env.clock.advance("2 hours");
    await eventually(
      async () =>
        Object.keys(await env.stateOf(tkReminder, "retained-1").getAll()).length === 0
          ? true
          : undefined,
      "the workflow's state to be cleared after its retention",
    );
    // The workflow is forgotten (not "still running", which would be 470).
    await assert.rejects(async () => workflow.workflowOutput(), { status: 404 });
  });
});

describe("test kit: options", () => {
  it("disableRetries fails an invocation at its first failure", async () => {
    const env = await RestateTestEnvironment.start({ services: [tkFailing], disableRetries: true });
    try {
      const ingress = clients.connect({ url: env.baseUrl() });
      await assert.rejects(async () => ingress.serviceClient(tkFailing).always());
    } finally {
      await env.stop();
    }
  });

  it("alwaysReplay finds a handler that is not deterministic", async () => {
    const env = await RestateTestEnvironment.start({
      services: [tkRandom],
      alwaysReplay: true,
      disableRetries: true,
      logLevel: "error",
    });
    try {
      const ingress = clients.connect({ url: env.baseUrl() });
      await assert.rejects(async () => ingress.objectClient(tkRandom, "r").run());
    } finally {
      await env.stop();
    }
  });
});

describe("test kit: stop", () => {
  it("leaves no port, file, thread or timer behind", async () => {
    const resourcesBefore = countResources();
    const dirsBefore = keelTempDirs();
    const env = await RestateTestEnvironment.start({ services: [tkGreeter, tkReminder] });
    const ingress = clients.connect({ url: env.baseUrl() });
    assert.equal(await ingress.serviceClient(tkGreeter).greet("once"), "hello once");
    await ingress.workflowClient(tkReminder, "left-sleeping").workflowSubmit("nobody");
    await env.clock.skipToNextTimer({ timeoutMs: 10_000 }).then(() => env.clock.advance(1000));
    const ingressPort = Number(new URL(env.baseUrl()).port);
    const adminPort = Number(new URL(env.adminAPIBaseUrl()).port);
    const newDirs = keelTempDirs().filter((d) => !dirsBefore.includes(d));
    assert.equal(newDirs.length, 1, "one temporary data directory while running");

    await env.stop();
    assert.equal(existsSync(`${tmpdir()}/${newDirs[0]!}`), false, "the data directory is removed");
    assert.equal(await accepts(ingressPort), false, "the ingress port is closed");
    assert.equal(await accepts(adminPort), false, "the admin port is closed");
    await eventually(
      () => {
        const after = countResources();
        const grown = Object.entries(after).filter(([k, n]) => n > (resourcesBefore[k] ?? 0));
        return grown.length === 0 ? true : undefined;
      },
      `no handles left (before ${JSON.stringify(resourcesBefore)}, now ${JSON.stringify(countResources())})`,
      5000,
    );
  });
});

function countResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

function keelTempDirs(): string[] {
  return readdirSync(tmpdir()).filter((d) => d.startsWith("keel-testkit-"));
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
