/**
 * Hostile operators and damaged disks, against real keel-server processes: a second server on a data
 * directory that another one owns (also from another PID namespace, as two containers sharing a
 * volume would); a flipped byte in the newest frame of the log, which partition stores had applied
 * (the start refuses, leaves the file untouched and says how to go on); clients that speak HTTP/2
 * with prior knowledge (h2c) to the ingress.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect, type ClientHttp2Session } from "node:http2";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { replayDataDir } from "../../src/worker/io/offline_replay.js";
import {
  DIST,
  freePorts,
  postJson,
  register,
  startKeel,
  startServices,
  startStack,
  type Stack,
  type KeelServer,
  type ServiceEndpoint,
} from "../e2e/harness.js";
import {
  cutFile,
  flipByte,
  lastSegmentFile,
  recordFramesOf,
  storeAppliedLsns,
} from "../support/disk_faults.js";

const SERVER_BIN = join(DIST, "src", "bin", "keel-server.js");

/** Runs a second keel-server on `baseDir` (optionally under `prefix`, e.g. unshare) and waits for it to exit. */
async function secondServer(
  baseDir: string,
  prefix: string[] = [],
): Promise<{ status: number | null; stderr: string; timedOut: boolean }> {
  const [ingress, admin, node] = await freePorts(3);
  const command = [
    ...prefix,
    process.execPath,
    SERVER_BIN,
    ...["--base-dir", baseDir, "--node-name", "n1", "--bind-address", "127.0.0.1"],
    ...["--ingress-port", String(ingress), "--admin-port", String(admin)],
    ...["--node-port", String(node), "--log-level", "warn"],
  ];
  const result = spawnSync(command[0]!, command.slice(1), {
    encoding: "utf8",
    timeout: 15_000,
    killSignal: "SIGKILL",
  });
  return {
    status: result.status,
    stderr: result.stderr,
    timedOut: result.error !== undefined && /ETIMEDOUT/.test(String(result.error)),
  };
}

const canUnsharePid =
  spawnSync("unshare", ["-p", "-f", "--mount-proc", "true"], { stdio: "ignore" }).status === 0;

describe("one data directory has one owner", () => {
  let keel: KeelServer | undefined;
  after(async () => {
    await keel?.stop();
    keel?.cleanup();
  });

  it("refuses a second server on a directory in use, and takes it once the owner is gone", async () => {
    keel = await startKeel();
    const second = await secondServer(keel.baseDir);
    assert.equal(second.timedOut, false, "the second server must not start");
    assert.notEqual(second.status, 0);
    assert.match(second.stderr, /data directory .* is in use by another process/);
    await keel.kill9();
    await keel.restart();
  });

  it(
    "refuses a second server started in another PID namespace (containers sharing a volume)",
    { skip: canUnsharePid ? false : "unshare -p needs privileges this machine does not give" },
    async () => {
      keel ??= await startKeel();
      const second = await secondServer(keel.baseDir, ["unshare", "-p", "-f", "--mount-proc"]);
      assert.equal(second.timedOut, false, "the second server must not start");
      assert.notEqual(second.status, 0);
      assert.match(second.stderr, /data directory .* is in use by another process/);
      // The owner is unharmed.
      const res = await fetch(`${keel.admin}/health`);
      assert.equal(res.status, 200);
    },
  );
});

describe("a damaged newest frame that the partition stores applied", () => {
  let keel: KeelServer | undefined;
  let services: ServiceEndpoint | undefined;
  after(async () => {
    await services?.stop();
    await keel?.stop();
    keel?.cleanup();
  });

  it("refuses to start, leaves the file untouched, and starts after keel-replay --accept-damaged-tail", async () => {
    keel = await startKeel();
    services = await startServices();
    assert.equal((await register(keel.admin, services.url)).status, 201);
    const keys = Array.from({ length: 24 }, (_, i) => `flip-${i}`);
    for (let round = 0; round < 3; round++)
      await Promise.all(keys.map((key) => postJson(`${keel!.ingress}/Counter/${key}/add`, 1)));
    await keel.kill9();

    const dataDir = join(keel.baseDir, "n1");
    const file = lastSegmentFile(dataDir);
    const partitions = (await replayDataDir(dataDir, { source: "fresh" })).length;
    const applied = await storeAppliedLsns(dataDir, partitions);
    // The newest frame holding a record some store applied becomes the last frame, then rots.
    const victim = recordFramesOf(file)
      .filter((f) => f.first <= applied[f.partition]!)
      .pop();
    assert.ok(victim !== undefined, "a store applied records of the newest file");
    cutFile(file, victim.end);
    flipByte(file, victim.at + 16 + Math.floor(victim.payload.length / 2));
    const damaged = readFileSync(file);

    const refusal = await startKeel({ baseDir: keel.baseDir }).then(
      async (started) => {
        await started.stop();
        return "the server started";
      },
      (error: unknown) => String(error),
    );
    assert.match(refusal, new RegExp(`frame ${victim.number} at byte ${victim.at} is damaged`));
    assert.match(refusal, /partition \d+: the store has applied LSN/);
    assert.match(refusal, /the file is untouched/);
    assert.match(refusal, /keel-replay --data-dir .* --accept-damaged-tail/);
    assert.deepEqual(readFileSync(file), damaged, "the refused start left the log file as it was");

    const repaired = spawnSync(
      process.execPath,
      [join(DIST, "src", "bin", "keel-replay.js"), "--data-dir", dataDir, "--accept-damaged-tail"],
      { encoding: "utf8", timeout: 60_000 },
    );
    assert.equal(repaired.status, 0, repaired.stderr);
    assert.match(repaired.stdout, new RegExp(`cut .*frame ${victim.number} at byte ${victim.at}`));
    assert.equal(readFileSync(file).length, victim.at, "the file was cut at the damaged frame");

    await keel.restart();
    // Every counter answers; the ones whose last increments were in the lost frame read less.
    for (const key of keys) {
      const res = await postJson(`${keel.ingress}/Counter/${key}/get`, null);
      assert.equal(res.status, 200, res.text);
      assert.ok([0, 1, 2, 3].includes(res.json<number>()), res.text);
    }
    await keel.stop();
    const stores = await replayDataDir(dataDir, { source: "store" });
    const rebuilt = await replayDataDir(dataDir, { source: "fresh" });
    assert.deepEqual(
      stores.map((r) => r.digest.sha256),
      rebuilt.map((r) => r.digest.sha256),
      "stores and logs agree after the repair",
    );
  });
});

/** One HTTP/2 request on `session`: status and body. */
function h2Request(
  session: ClientHttp2Session,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": method,
      ":path": path,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    });
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on("response", (headers) => (status = Number(headers[":status"])));
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => resolve({ status, text: Buffer.concat(chunks).toString() }));
    stream.on("error", reject);
    stream.end(body);
  });
}

describe("HTTP/2 with prior knowledge on the ingress", () => {
  let stack: Stack | undefined;
  after(async () => {
    await stack?.stop();
  });

  it("serves h2c calls, sends and health next to HTTP/1.1 on the same port", async () => {
    stack = await startStack();
    const session = connect(stack.server.ingress);
    try {
      const health = await h2Request(session, "GET", "/restate/health");
      assert.equal(health.status, 200, health.text);
      // Several calls multiplexed on one connection, one with a body of a few MiB.
      const large = "x".repeat(3 * 1024 * 1024);
      const [greeted, echoed, unknown] = await Promise.all([
        h2Request(session, "POST", "/Greeter/greet", JSON.stringify("h2")),
        h2Request(session, "POST", "/Greeter/echo", JSON.stringify(large)),
        h2Request(session, "POST", "/NoSuchService/greet", JSON.stringify("h2")),
      ]);
      assert.equal(greeted.status, 200, greeted.text);
      assert.equal(JSON.parse(greeted.text), "hello h2!");
      assert.equal(echoed.status, 200);
      assert.equal(JSON.parse(echoed.text), large);
      assert.equal(unknown.status, 404, unknown.text);
      const sent = await h2Request(session, "POST", "/Greeter/greet/send", JSON.stringify("s"));
      assert.equal(sent.status, 202, sent.text);
    } finally {
      session.close();
    }
    const http1 = await postJson(`${stack.server.ingress}/Greeter/greet`, "h1");
    assert.equal(http1.json(), "hello h1!");
  });
});
