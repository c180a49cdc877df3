/**
 * Fuzzing what a real keel-server reads from service endpoints, over its real HTTP/2 transport: a
 * raw h2c endpoint registered like any SDK answers each attempt with seeded garbage (the frames of
 * the service-protocol fuzz), wrong statuses and content types, streams reset or abandoned midway,
 * sessions torn down, bytes trickled one at a time, or a frame declaring more than the limit.
 *
 * What must hold: the process never exits; an attempt whose first message breaks the protocol is
 * retried; invocations on a well-behaved SDK endpoint keep completing, exactly once; after the
 * garbage stops and the node is stopped, every partition store equals its log replayed from LSN 1.
 * Arrival order over the network is not deterministic, so a seed fixes what each attempt receives
 * (by attempt number), not the interleaving; the in-memory protocol fuzz replays exactly.
 */

import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { replayDataDir } from "../../src/worker/io/offline_replay.js";
import { seededPrng } from "../../src/core/prng.js";
import { OutputCommandMessage, EndMessage } from "../../src/gen/keel/service_protocol.js";
import { encodeFrame } from "../../src/service-protocol/framing.js";
import { InvocationId } from "../../src/core/ids.js";
import { MessageType } from "../../src/service-protocol/message_types.js";
import {
  call,
  postJson,
  register,
  sleep,
  startKeel,
  startServices,
  type KeelServer,
  type ServiceEndpoint,
} from "../e2e/harness.js";
import { Gen, concat, fuzzSeeds } from "./generate.js";
import { ProtocolGen, breaksProtocol } from "./protocol_messages.js";

const MAX_ATTEMPTS = 3;

const MANIFEST = {
  protocolMode: "BIDI_STREAM",
  minProtocolVersion: 5,
  maxProtocolVersion: 6,
  services: [
    { name: "GarbageSvc", ty: "SERVICE", handlers: [{ name: "h" }] },
    { name: "GarbageObj", ty: "VIRTUAL_OBJECT", handlers: [{ name: "h" }] },
  ].map((service) => ({
    ...service,
    inactivityTimeout: 500,
    abortTimeout: 1000,
    retryPolicyInitialInterval: 10,
    retryPolicyMaxInterval: 50,
    retryPolicyMaxAttempts: MAX_ATTEMPTS,
    retryPolicyOnMaxAttempts: "KILL",
  })),
};

const WELL_BEHAVED = concat([
  encodeFrame(
    MessageType.OutputCommand,
    OutputCommandMessage.encode({
      result: { $case: "value", value: { content: new TextEncoder().encode('"ok"') } },
      name: "",
    }).finish(),
  ),
  encodeFrame(MessageType.End, EndMessage.encode({}).finish()),
]);

/** The raw endpoint: what each attempt gets is drawn from the round's seed and the attempt number. */
class GarbageEndpoint {
  readonly server = http2.createServer();
  calm = false;
  seed = 0;
  private attemptNumber = 0;
  readonly attemptsByInvocation = new Map<string, { breaks: boolean }[]>();

  constructor() {
    this.server.on("session", (session) => session.on("error", () => undefined));
    this.server.on("stream", (stream, headers) => {
      stream.on("error", () => undefined);
      if (headers[":path"] === "/discover") {
        stream.respond({
          ":status": 200,
          "content-type": "application/vnd.restate.endpointmanifest.v2+json",
        });
        stream.end(JSON.stringify(MANIFEST));
        return;
      }
      const invocation = String(headers["x-restate-invocation-id"] ?? "");
      const attempts = this.attemptsByInvocation.get(invocation) ?? [];
      this.attemptsByInvocation.set(invocation, attempts);
      const contentType = String(headers["content-type"]);
      stream.resume();
      if (this.calm) {
        attempts.push({ breaks: false });
        stream.respond({ ":status": 200, "content-type": contentType });
        stream.end(WELL_BEHAVED);
        return;
      }
      const gen = new Gen(
        seededPrng((this.seed ^ Math.imul(++this.attemptNumber, 0x9e3779b1)) >>> 0),
      );
      const live = [...this.attemptsByInvocation.keys()]
        .map((id) => InvocationId.parse(id))
        .filter((id): id is InvocationId => id !== undefined);
      const traffic = new ProtocolGen(gen, () => ({ liveInvocations: live, nowMs: Date.now() }));
      this.answer(gen, traffic, stream, contentType, attempts);
    });
  }

  private answer(
    gen: Gen,
    traffic: ProtocolGen,
    stream: http2.ServerHttp2Stream,
    contentType: string,
    attempts: { breaks: boolean }[],
  ): void {
    const behaviour = gen.weighted<string>([
      [10, () => "garbage"],
      [2, () => "wrong-head"],
      [1, () => "reset"],
      [1, () => "kill-session"],
      [1, () => "trickle"],
      [2, () => "well-behaved"],
    ]);
    const { bytes, first } = traffic.stream();
    attempts.push({
      breaks:
        behaviour !== "well-behaved" &&
        behaviour !== "reset" &&
        behaviour !== "kill-session" &&
        behaviour !== "wrong-head" &&
        breaksProtocol(first),
    });
    switch (behaviour) {
      case "garbage":
        stream.respond({ ":status": 200, "content-type": contentType });
        if (gen.chance(0.6)) stream.end(bytes);
        else stream.write(bytes);
        return;
      case "wrong-head":
        stream.respond({
          ":status": gen.pick([200, 204, 302, 404, 500, 503]),
          "content-type": gen.pick([
            "text/plain",
            "application/json",
            "application/vnd.restate.invocation.v1",
            "",
          ]),
        });
        stream.end(gen.chance(0.5) ? bytes : WELL_BEHAVED);
        return;
      case "reset":
        if (gen.chance(0.5)) stream.respond({ ":status": 200, "content-type": contentType });
        stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        return;
      case "kill-session":
        stream.session?.destroy();
        return;
      case "trickle": {
        stream.respond({ ":status": 200, "content-type": contentType });
        let at = 0;
        const step = (): void => {
          if (stream.closed || stream.destroyed) return;
          if (at >= bytes.length) return void stream.end();
          stream.write(bytes.subarray(at, at + 1));
          at++;
          setTimeout(step, 2);
        };
        step();
        return;
      }
      default:
        stream.respond({ ":status": 200, "content-type": contentType });
        stream.end(WELL_BEHAVED);
    }
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe("endpoint fuzz", () => {
  let keel: KeelServer;
  let services: ServiceEndpoint;
  const endpoint = new GarbageEndpoint();
  let exitedWith: number | string | null | undefined;

  before(async () => {
    keel = await startKeel();
    void keel.exited().then((code) => (exitedWith = code));
    services = await startServices();
    assert.equal((await register(keel.admin, services.url)).status, 201);
    const garbage = await register(keel.admin, await endpoint.listen());
    assert.equal(garbage.status, 201, JSON.stringify(garbage.body));
  });

  after(async () => {
    await services?.stop();
    await keel?.stop();
    keel?.cleanup();
    await endpoint.close();
  });

  it(
    "fails garbage attempts cleanly and retries them; other invocations go on; the node stays up",
    { timeout: 600_000 },
    async () => {
      const seeds = fuzzSeeds("endpoint fuzz", [], 15);
      const controlKey = `control-${seeds.masterSeed}`;
      let controls = 0;
      let sends = 0;
      const started = Date.now();
      for (let seed = seeds.next(); seed !== undefined; seed = seeds.next()) {
        endpoint.seed = seed;
        const gen = new Gen(seededPrng(seed));
        const batch = Array.from({ length: 30 }, () =>
          // Few on objects: an attempt left suspended forever holds its key's lock forever.
          gen.chance(0.8) ? "/GarbageSvc/h/send" : `/GarbageObj/k${gen.int(30)}/h/send`,
        );
        for (const res of await Promise.all(
          batch.map((path) => postJson(`${keel.ingress}${path}`, "x")),
        ))
          assert.equal(res.status, 202, res.text);
        sends += batch.length;
        const control = await postJson(`${keel.ingress}/Counter/${controlKey}/add`, 1);
        controls++;
        assert.equal(control.status, 200, control.text);
        assert.equal(control.json(), controls, "the control counter counts every call once");
        assert.equal(
          exitedWith,
          undefined,
          `the server exited (${String(exitedWith)}) during seed ${seed}`,
        );
        await sleep(300);
      }
      // Let every retry and timeout of the garbage attempts play out against a well-behaved endpoint.
      endpoint.calm = true;
      await sleep(3000);
      assert.equal(exitedWith, undefined, "the server stayed up");
      // An attempt that broke the protocol is followed by another one, or the invocation is over
      // (attempts that failed before reaching this endpoint, on a torn-down session, count too).
      const stuck: string[] = [];
      let attempts = 0;
      for (const [id, list] of endpoint.attemptsByInvocation) {
        attempts += list.length;
        const last = list.length - 1;
        if (!list[last]!.breaks || last + 1 >= MAX_ATTEMPTS) continue;
        const output = await call(`${keel.ingress}/restate/invocation/${id}/output`);
        if (output.status === 470 || output.status === 404)
          stuck.push(
            `${id}: attempt ${last + 1} broke the protocol; no retry, not over (${output.status} ${output.text})`,
          );
      }
      assert.deepEqual(stuck, []);
      assert.doesNotMatch(keel.output.join(""), /fatal error|unhandled rejection/i);
      assert.equal(await keel.stop(), 0, "a clean stop");
      const dataDir = join(keel.baseDir, "n1");
      const stores = await replayDataDir(dataDir, { source: "store" });
      const rebuilt = await replayDataDir(dataDir, { source: "fresh" });
      assert.deepEqual(
        stores.map((r) => r.digest.sha256),
        rebuilt.map((r) => r.digest.sha256),
        "every store equals its log replayed from LSN 1",
      );
      console.log(
        `endpoint fuzz: ${sends} invocations (${endpoint.attemptsByInvocation.size} reached the endpoint), ${attempts} attempts, ${controls} control calls in ${Date.now() - started} ms`,
      );
    },
  );
});
