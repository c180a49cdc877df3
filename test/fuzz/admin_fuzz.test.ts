/**
 * Fuzzing the admin API of a real keel-server (with the SDK fixture services registered and a few
 * invocations made): seeded requests to every route (`admin_requests.ts`), with mutated path
 * parameters, query strings, methods, content types, JSON bodies and SQL.
 *
 * What must hold: every request gets an answer within a few seconds; no answer is a 5xx but those
 * Restate gives too (503 from `/health`, 501 for a deletion that is not forced, 500 with META0003
 * when discovering an endpoint fails); every error has a body in one of Restate's shapes: JSON with a
 * `message`, plain text for a request its HTTP layer cannot read (400, 413, 415, 422), or empty for a
 * path or method it has no route for (404, 405) and the unforced deletion (501); afterwards the node
 * is healthy, the registered endpoint still serves a call, the process never exited and its log
 * shows no failed admin request, unhandled rejection or fatal error. Seeds: see `fuzzSeeds`.
 *
 * `KEEL_TEST_TARGET=restate` runs the same requests against the reference server (its log is not
 * checked); `KEEL_FUZZ_TRACE=<file>` writes every request's summary, status and body shape to a file,
 * so that two runs of one master seed can be compared line by line.
 */

import assert from "node:assert/strict";
import { appendFileSync, writeFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { seededPrng } from "../../src/core/prng.js";
import {
  TARGET,
  call,
  freePort,
  postJson,
  register,
  startServices,
  startTarget,
  type KeelServer,
  type ServiceEndpoint,
} from "../e2e/harness.js";
import {
  AdminRequestGen,
  ROUTE_COUNT,
  type AdminFixture,
  type AdminRequest,
} from "./admin_requests.js";
import { Gen, fuzzSeeds } from "./generate.js";
import { sendRaw, type RawAnswer } from "./raw_http.js";

const REQUESTS_PER_ROUND = 100;
const PARALLEL = 4;
const ANSWER_TIMEOUT_MS = 10_000;
const DEFAULT_SECONDS = 4;
/** Seeds that once failed, run first on every run. */
const REGRESSION_SEEDS = [
  // `PATCH /invocations/{id}/restart-as-new?from=99999999999999999999` was a 500 ("invalid uint32").
  143176081,
];

type Shape = "json" | "text" | "empty" | "other";

/** The body of an answer without its chunked framing. */
function dechunked(answer: RawAnswer): Buffer {
  if (!/transfer-encoding: chunked/.test(answer.head)) return answer.body;
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = answer.body.indexOf("\r\n", at);
    if (lineEnd < 0) break;
    const size = parseInt(answer.body.subarray(at, lineEnd).toString("latin1"), 16);
    if (!(size > 0)) break;
    parts.push(answer.body.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

function shapeOf(answer: RawAnswer): { shape: Shape; json?: Record<string, unknown> } {
  const body = dechunked(answer);
  if (body.length === 0) return { shape: "empty" };
  const contentType = /content-type: *([^\r\n;]*)/.exec(answer.head)?.[1] ?? "";
  if (contentType === "application/json") {
    try {
      const json: unknown = JSON.parse(body.toString("utf8"));
      if (
        typeof json === "object" &&
        json !== null &&
        typeof (json as { message?: unknown }).message === "string"
      )
        return { shape: "json", json: json as Record<string, unknown> };
    } catch {
      // not JSON after all
    }
    return { shape: "other" };
  }
  return { shape: contentType === "text/plain" ? "text" : "other" };
}

/** Why an answer breaks the invariants, or undefined. */
function violation(request: AdminRequest, answer: RawAnswer): string | undefined {
  if (answer.timedOut) return `no answer within ${ANSWER_TIMEOUT_MS} ms`;
  const status = answer.status;
  if (status === undefined) return "closed without an answer";
  if (request.malformed) return status < 500 ? undefined : `answered ${status}`;
  if (status < 400) return undefined;
  const route = request.route;
  // An answer to HEAD has no body, whatever its status.
  if (request.method === "HEAD") return status < 500 ? undefined : `answered ${status}`;
  const { shape, json } = shapeOf(answer);
  const discovery = route === "POST /deployments" || route.endsWith("/deployments/{deployment}");
  if (status >= 500) {
    const allowed =
      (status === 503 && route === "GET /health") ||
      (status === 501 && shape === "empty" && route.includes("/deployments/")) ||
      (status === 500 && discovery && json?.["restate_code"] === "META0003") ||
      // Restate answers 500 to a query it cannot plan or run (an unknown table, a division by zero).
      (status === 500 && route === "POST /query" && shape === "json");
    if (!allowed)
      return `answered ${status} (${shape}): ${answer.body.toString("utf8").slice(0, 300)}`;
    return undefined;
  }
  switch (shape) {
    case "json":
      return undefined;
    case "text":
      return [400, 413, 415, 422].includes(status) ? undefined : `answered ${status} in plain text`;
    case "empty":
      return [404, 405].includes(status) ? undefined : `answered ${status} with an empty body`;
    default:
      return `answered ${status} with a body that is neither JSON with a message nor text: ${answer.head.split("\r\n").find((l) => l.startsWith("content-type")) ?? "no content type"} ${answer.body.toString("utf8").slice(0, 200)}`;
  }
}

describe("admin API fuzz", () => {
  let server: KeelServer;
  let services: ServiceEndpoint;
  let fixture: AdminFixture;
  let exitedWith: number | string | null | undefined;
  let controlCalls = 0;

  before(async () => {
    server = await startTarget();
    void server.exited().then((code) => (exitedWith = code));
    services = await startServices();
    const registered = await register(server.admin, services.url);
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    const listed = (await call(`${server.admin}/services`)).json<{
      services: { name: string; ty: string; handlers: { name: string }[] }[];
    }>().services;
    const send = async (path: string, body: unknown): Promise<string> => {
      const sent = await postJson(`${server.ingress}${path}`, body);
      assert.equal(sent.status, 202, `${path}: ${sent.text}`);
      return sent.json<{ invocationId: string }>().invocationId;
    };
    const invocationIds = [
      await send("/Greeter/greet/send", "a"),
      await send("/Greeter/fail/send", "no"),
      await send("/Counter/fz1/add/send", 1),
      await send("/Sleeper/long/send", "fz"),
      await send("/Awake/wait/send", "fz"),
      await send("/Greeter/echo/send?delay=1h", "later"),
    ];
    fixture = {
      deploymentId: registered.body["id"] as string,
      endpointUrl: services.url,
      adminUrl: server.admin,
      ingressUrl: server.ingress,
      closedPort: await freePort(),
      // Sorted: the servers list them in different orders, and a seed must make the same requests.
      services: listed
        .map((s) => ({ name: s.name, handlers: s.handlers.map((h) => h.name).sort() }))
        .sort((a, b) => (a.name < b.name ? -1 : 1)),
      controlService: "Greeter",
      invocationIds,
      objectServices: listed.filter((s) => s.ty === "VirtualObject").map((s) => s.name),
    };
  });

  after(async () => {
    await services?.stop();
    await server?.stop();
    server?.cleanup();
  });

  /** The node is ready and the registered endpoint still serves a call through the ingress. */
  async function assertServing(seed: number): Promise<void> {
    const health = await call(`${server.admin}/health`);
    assert.equal(health.status, 200, `health after seed ${seed}: ${health.text}`);
    const value = { control: ++controlCalls, seed };
    const echoed = await postJson(`${server.ingress}/Greeter/echo`, value);
    assert.equal(echoed.status, 200, `the control call after seed ${seed}: ${echoed.text}`);
    assert.deepEqual(echoed.json(), value);
  }

  it(
    "answers every request in one of Restate's shapes and stays up",
    { timeout: 600_000 },
    async () => {
      const seeds = fuzzSeeds("admin fuzz", REGRESSION_SEEDS, DEFAULT_SECONDS);
      const port = Number(new URL(server.admin).port);
      const trace = process.env["KEEL_FUZZ_TRACE"];
      if (trace !== undefined) writeFileSync(trace, "");
      const statuses = new Map<number | string, number>();
      const routes = new Set<string>();
      let requests = 0;
      let rounds = 0;
      /** Every violation of the run (the run goes on, so that one failure does not hide the next). */
      const violations: string[] = [];
      const started = Date.now();
      for (let seed = seeds.next(); seed !== undefined; seed = seeds.next()) {
        const requestGen = new AdminRequestGen(new Gen(seededPrng(seed)), fixture);
        const planned = Array.from({ length: REQUESTS_PER_ROUND }, () => requestGen.next());
        for (let at = 0; at < planned.length; at += PARALLEL) {
          const batch = planned.slice(at, at + PARALLEL);
          const answers = await Promise.all(
            batch.map((r) => sendRaw(port, r.bytes, ANSWER_TIMEOUT_MS, undefined, true)),
          );
          answers.forEach((answer, i) => {
            const request = batch[i]!;
            const status = answer.status ?? (answer.timedOut ? "timeout" : "closed");
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
            routes.add(request.route);
            const problem = violation(request, answer);
            if (problem !== undefined)
              violations.push(
                `seed ${seed} (KEEL_FUZZ_SEED=${seed}): ${problem}: ${request.summary}`,
              );
            if (trace !== undefined)
              appendFileSync(
                trace,
                `${seed}\t${at + i}\t${status}\t${shapeOf(answer).shape}\t${request.summary}\t${problem ?? ""}\n`,
              );
          });
        }
        requests += planned.length;
        rounds++;
        assert.equal(
          exitedWith,
          undefined,
          `the server exited (${String(exitedWith)}) during seed ${seed}`,
        );
        await assertServing(seed);
      }
      assert.deepEqual(
        violations.slice(0, 30),
        [],
        `${violations.length} answers broke the invariants`,
      );
      assert.equal(routes.size, ROUTE_COUNT, "every route was asked");
      if (TARGET !== "restate") {
        const log = server.output.join("");
        assert.doesNotMatch(log, /fatal error|unhandled rejection|admin request failed|uncaught/i);
      }
      console.log(
        `admin fuzz: ${rounds} seeds, ${requests} requests to ${routes.size} routes in ${Date.now() - started} ms; answers ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`,
      );
    },
  );
});
