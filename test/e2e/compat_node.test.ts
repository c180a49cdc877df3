/**
 * The node as a whole, as Restate behaves: it says it is ready only when it can serve, and a request
 * that arrives while it starts is served once it can be (never a 5xx for a node merely starting),
 * both on a fresh start and on a restart with work in flight. Runs against both servers.
 */

import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { PartitionKey } from "../../src/core/brand.js";
import { InvocationId } from "../../src/core/ids.js";
import {
  TARGET,
  call,
  postJson,
  register,
  sleep,
  startServices,
  startTarget,
  type KeelServer,
  type ServiceEndpoint,
} from "./harness.js";

/** Invocation ids nobody created, spread over the whole partition key space. */
const unknownIds = Array.from({ length: 64 }, (_, i) =>
  InvocationId.fromParts(
    PartitionKey(BigInt(i) * (2n ** 64n / 64n) + 12_345n),
    new Uint8Array(16).fill(i + 1),
  ).toString(),
);

interface Answer {
  readonly atMs: number;
  readonly what: string;
  readonly status: number;
  readonly text: string;
}

/**
 * Asks `server` for the output of unknown invocations (which must answer 404) and for its health,
 * from now until `untilMs` after the first successful health check, several requests in flight;
 * connection refusals (the port not bound yet) are not answers and are skipped.
 */
async function probeWhileStarting(
  server: KeelServer,
  requests: (i: number) => Promise<{ what: string; status: number; text: string }>,
  keepGoingMs = 1000,
): Promise<Answer[]> {
  const start = Date.now();
  const answers: Answer[] = [];
  let healthyAt: number | undefined;
  const deadline = start + 30_000;
  const loop = async (lane: number): Promise<void> => {
    for (let i = lane; ; i += 8) {
      const now = Date.now();
      if (now > deadline) throw new Error("the server did not become healthy within 30 s");
      if (healthyAt !== undefined && now > healthyAt + keepGoingMs) return;
      try {
        const answer = lane === 0 ? await health(server) : await requests(i);
        answers.push({ atMs: Date.now() - start, ...answer });
        if (answer.what.startsWith("health") && answer.status === 200) healthyAt ??= Date.now();
      } catch {
        // Not listening yet.
        await sleep(5);
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, (_, lane) => loop(lane)));
  return answers;
}

async function health(server: KeelServer): Promise<{ what: string; status: number; text: string }> {
  const ingress = await call(`${server.ingress}/restate/health`);
  const admin = await call(`${server.admin}/health`);
  // Both must agree once the node is up; report the later of the two to become ready.
  return ingress.status !== 200
    ? { what: "health (ingress)", status: ingress.status, text: ingress.text }
    : { what: "health (admin)", status: admin.status, text: admin.text };
}

const unknownOutput = async (
  server: KeelServer,
  i: number,
): Promise<{ what: string; status: number; text: string }> => {
  const id = unknownIds[i % unknownIds.length]!;
  const res = await call(`${server.ingress}/restate/invocation/${id}/output`);
  return { what: `output of ${id}`, status: res.status, text: res.text };
};

function describeAnswers(answers: readonly Answer[]): string {
  return answers
    .filter((a) => a.status >= 500)
    .slice(0, 5)
    .map((a) => `${a.atMs} ms ${a.what}: ${a.status} ${a.text}`)
    .join("\n");
}

describe(`the node says it is ready only when it can serve (${TARGET})`, () => {
  const servers: KeelServer[] = [];
  const endpoints: ServiceEndpoint[] = [];
  after(async () => {
    for (const endpoint of endpoints) await endpoint.stop();
    for (const server of servers) {
      await server.stop();
      server.cleanup();
    }
  });

  it("answers the ingress health with the registered services, and only GET", async () => {
    const server = await startTarget();
    servers.push(server);
    const services = await startServices();
    endpoints.push(services);
    assert.equal((await register(server.admin, services.url)).status, 201);
    const res = await call(`${server.ingress}/restate/health`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /application\/json/);
    const names = res.json<{ services: string[] }>().services;
    assert.ok(names.includes("Greeter") && names.includes("Counter"), res.text);
    assert.equal((await postJson(`${server.ingress}/restate/health`, null)).status, 405);
  });

  it("serves every request that arrives while a fresh node starts: no 5xx before or after ready", async () => {
    const server = await startTarget({ waitUntilReady: false });
    servers.push(server);
    const answers = await probeWhileStarting(server, (i) => unknownOutput(server, i));
    const outputs = answers.filter((a) => a.what.startsWith("output"));
    assert.ok(outputs.length > 0, "requests reached the server");
    assert.deepEqual(
      [...new Set(outputs.map((a) => a.status))],
      [404],
      `unknown invocations answer 404 from the first request on:\n${describeAnswers(outputs)}`,
    );
    const healthAnswers = answers.filter((a) => a.what.startsWith("health"));
    assert.ok(
      healthAnswers.every((a) => a.status === 200 || a.status === 503),
      JSON.stringify(healthAnswers.filter((a) => a.status !== 200 && a.status !== 503)),
    );
  });

  it("serves every request that arrives while a node restarts with work in flight", async () => {
    const server = await startTarget();
    servers.push(server);
    const services = await startServices();
    endpoints.push(services);
    assert.equal((await register(server.admin, services.url)).status, 201);
    // Work in the store and in flight: completed counters on many keys, and sleeping invocations
    // that the restart must take over.
    const keys = Array.from({ length: 48 }, (_, i) => `restart-${i}`);
    for (let round = 0; round < 4; round++) {
      const sent = await Promise.all(
        keys.map((key) => postJson(`${server.ingress}/Counter/${key}/add`, 1)),
      );
      assert.ok(sent.every((r) => r.status === 200));
    }
    for (let i = 0; i < 16; i++) {
      const res = await postJson(`${server.ingress}/Greeter/slowGreet/send`, `sleeper-${i}`);
      assert.equal(res.status, 202, res.text);
    }
    await server.kill9();
    await server.restart({ waitUntilReady: false });
    const answers = await probeWhileStarting(server, async (i) => {
      const key = keys[i % keys.length]!;
      const res = await postJson(`${server.ingress}/Counter/${key}/get`, null);
      return { what: `Counter/${key}/get`, status: res.status, text: res.text };
    });
    const gets = answers.filter((a) => a.what.startsWith("Counter"));
    assert.ok(gets.length > 0, "requests reached the server");
    assert.deepEqual(
      [...new Set(gets.map((a) => a.status))],
      [200],
      `every call made during the restart is served:\n${describeAnswers(gets)}`,
    );
    assert.ok(
      gets.every((a) => a.text === "4"),
      "each counter kept its value",
    );
  });
});
