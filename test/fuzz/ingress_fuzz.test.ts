/**
 * Fuzzing the HTTP ingress of a real keel-server (with the SDK fixture services registered and a
 * small `--ingress-body-limit`): seeded raw requests with malformed request lines, paths and
 * percent-encoding, odd methods, missing, duplicated, invalid and huge headers, lying content
 * lengths, chunked bodies and bodies around the limit.
 *
 * What must hold: every complete request gets an answer (a status line) within a few seconds; no
 * answer is an unexpected ingress error (500 from the ingress itself); a well-formed call whose body
 * exceeds the limit gets 413; a control counter interleaved with the fuzzing keeps counting exactly;
 * the process never exits and logs no fatal error. Seeds: see `fuzzSeeds`.
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { seededPrng } from "../../src/core/prng.js";
import {
  postJson,
  register,
  startKeel,
  startServices,
  type KeelServer,
  type ServiceEndpoint,
} from "../e2e/harness.js";
import { Gen, fuzzSeeds } from "./generate.js";
import { HttpRequestGen } from "./http_requests.js";
import { sendRaw } from "./raw_http.js";

const BODY_LIMIT_BYTES = 65_536;
const REQUESTS_PER_ROUND = 200;
const PARALLEL = 4;
const ANSWER_TIMEOUT_MS = 10_000;
/** A request whose body never completes is ended by the client after this long. */
const INCOMPLETE_END_MS = 300;
/** Seeds that once failed, run first on every run. */
const REGRESSION_SEEDS = [
  // A target starting with "//" was parsed as a host ("//%/a/…"), and the parser's error became a 500.
  481808346,
  // A delay of 10^20 days could not be encoded as the execution time: a 500 instead of a 400.
  1151063743,
];

describe("ingress fuzz", () => {
  let keel: KeelServer;
  let services: ServiceEndpoint;
  let port: number;
  let exitedWith: number | string | null | undefined;

  before(async () => {
    keel = await startKeel({ extraArgs: ["--ingress-body-limit", String(BODY_LIMIT_BYTES)] });
    void keel.exited().then((code) => (exitedWith = code));
    port = Number(new URL(keel.ingress).port);
    services = await startServices();
    assert.equal((await register(keel.admin, services.url)).status, 201);
  });

  after(async () => {
    await services?.stop();
    await keel?.stop();
    keel?.cleanup();
  });

  it("answers bodies above the configured limit with 413, however they are framed", async () => {
    const tooBig = Buffer.alloc(BODY_LIMIT_BYTES + 1, 0x31);
    const withLength = (path: string, body: Buffer, declared = body.length): Buffer =>
      Buffer.concat([
        Buffer.from(
          `POST ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${declared}\r\n\r\n`,
        ),
        body,
      ]);
    const chunked = Buffer.concat([
      Buffer.from(
        "POST /Greeter/echo HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
      ),
      ...[tooBig.subarray(0, 40_000), tooBig.subarray(40_000)].flatMap((c) => [
        Buffer.from(`${c.length.toString(16)}\r\n`),
        c,
        Buffer.from("\r\n"),
      ]),
      Buffer.from("0\r\n\r\n"),
    ]);
    const cases: [string, Buffer][] = [
      ["content-length one past the limit", withLength("/Greeter/echo", tooBig)],
      ["a one-way send", withLength("/Counter/big/add/send", tooBig)],
      ["chunked, one past the limit", chunked],
      ["a declared terabyte", withLength("/Greeter/echo", Buffer.from("1"), 2 ** 40)],
    ];
    for (const [what, bytes] of cases) {
      const answer = await sendRaw(port, bytes, ANSWER_TIMEOUT_MS);
      assert.equal(answer.status, 413, `${what}: ${answer.head}`);
      assert.match(answer.head, /content-type: application\/json/, what);
    }
    const atLimit = `"${"x".repeat(BODY_LIMIT_BYTES - 2)}"`;
    const echoed = await postJson(`${keel.ingress}/Greeter/echo`, "x".repeat(BODY_LIMIT_BYTES - 2));
    assert.equal(echoed.status, 200, "a body of exactly the limit is accepted");
    assert.equal(echoed.text, atLimit);
  });

  it("answers 4xx, not 500, to a target read as a host and to a delay too long to store", async () => {
    const raw = (target: string): Buffer =>
      Buffer.from(`GET ${target} HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n`);
    // Restate trims the outer slashes and finds no service '%'.
    for (const [target, status] of [
      ["//%/Greeter/echo", 404],
      ["/Greeter/echo/send?delay=99999999999999999999d", 400],
    ] as const) {
      const answer = await sendRaw(port, raw(target), ANSWER_TIMEOUT_MS);
      assert.equal(answer.status, status, `${target}: ${answer.head}`);
    }
  });

  it("answers every malformed request and stays up", { timeout: 600_000 }, async () => {
    const seeds = fuzzSeeds("ingress fuzz", REGRESSION_SEEDS, 15);
    const ids: string[] = [];
    let requests = 0;
    let rounds = 0;
    const statuses = new Map<number | string, number>();
    const controlKey = `control-${seeds.masterSeed}`;
    let controlCount = 0;
    const started = Date.now();
    for (let seed = seeds.next(); seed !== undefined; seed = seeds.next()) {
      const gen = new Gen(seededPrng(seed));
      const requestGen = new HttpRequestGen(gen, BODY_LIMIT_BYTES, () => ids);
      const planned = Array.from({ length: REQUESTS_PER_ROUND }, () => requestGen.next());
      const violations: string[] = [];
      for (let at = 0; at < planned.length; at += PARALLEL) {
        const batch = planned.slice(at, at + PARALLEL);
        const answers = await Promise.all(
          batch.map((r) =>
            sendRaw(port, r.bytes, ANSWER_TIMEOUT_MS, r.incomplete ? INCOMPLETE_END_MS : undefined),
          ),
        );
        answers.forEach((answer, i) => {
          const request = batch[i]!;
          const status = answer.status ?? (answer.timedOut ? "timeout" : "closed");
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          const id = /x-restate-id: (\S+)/.exec(answer.head)?.[1];
          if (id !== undefined && ids.length < 200) ids.push(id);
          if (answer.timedOut)
            violations.push(`no answer within ${ANSWER_TIMEOUT_MS} ms: ${request.summary}`);
          else if (answer.status === undefined && !request.incomplete)
            violations.push(`closed without an answer: ${request.summary}`);
          else if (answer.status === 500 && answer.head.includes("x-restate-error-source: ingress"))
            violations.push(`ingress error 500: ${request.summary}`);
          else if (request.mustBeTooLarge && answer.status !== 413)
            violations.push(`expected 413, got ${answer.status}: ${request.summary}`);
        });
      }
      requests += planned.length;
      rounds++;
      const control = await postJson(`${keel.ingress}/Counter/${controlKey}/add`, 1);
      controlCount++;
      assert.equal(control.status, 200, control.text);
      assert.equal(control.json(), controlCount, "the control counter counts every call once");
      assert.equal(
        exitedWith,
        undefined,
        `the server exited (${String(exitedWith)}) during seed ${seed}`,
      );
      assert.deepEqual(violations, [], `seed ${seed} (replay with KEEL_FUZZ_SEED=${seed})`);
    }
    const log = keel.output.join("");
    assert.doesNotMatch(log, /fatal error|unhandled rejection/i);
    console.log(
      `ingress fuzz: ${rounds} seeds, ${requests} requests in ${Date.now() - started} ms; answers ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`,
    );
  });
});
