/**
 * Heavy messages and a killer query (issue 27, points 1 and 2): bodies, state values, journal entries
 * and outputs of megabytes reach the service and come back whole, an unrelated handler on the same
 * endpoint does not notice them, what exceeds a limit is refused at the edge or fails its invocation
 * visibly, and a query that would exhaust memory gets a clear error while the node keeps serving.
 *
 * Runs against Keel, or the reference with KEEL_TEST_TARGET=restate; the few Keel-only checks say why.
 */

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  TARGET,
  call,
  eventually,
  postJson,
  readMarkers,
  sqlRows,
  useServerWithServices,
  type CallResult,
  type SqlRow,
} from "../e2e/harness.js";

const MiB = 1024 * 1024;
/** Keel's documented message limit: the ingress's request body limit (Restate's default too). */
const MESSAGE_BYTES_MAX = 32 * MiB;
/** Long enough for 31 MiB on a busy 2-core machine, short enough to fail instead of hanging. */
const LARGE_CALL_TIMEOUT_MS = 45_000;

/** The bytes `HostileState.fill` and `HostileBytes.bigStep`/`produce` build (hostile_services.ts). */
function patternBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >>> 12)) & 0xff;
  return bytes;
}

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

/** Rows of a query, or undefined while the server answers with an error (still starting). */
const rowsOrNothing = (admin: string, query: string): Promise<SqlRow[] | undefined> =>
  sqlRows(admin, query).catch(() => undefined);

interface Digest {
  readonly bytes: number;
  readonly sha256: string;
}

describe(`large messages and heavy queries (${TARGET})`, () => {
  const stack = useServerWithServices();
  const ingress = (path: string): string => `${stack.server.ingress}${path}`;

  const sendBytes = (path: string, body: Uint8Array): Promise<CallResult> =>
    call(ingress(path), {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body,
      signal: AbortSignal.timeout(LARGE_CALL_TIMEOUT_MS),
    });

  const sendJson = (path: string, value: unknown): Promise<CallResult> =>
    call(ingress(path), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(value),
      signal: AbortSignal.timeout(LARGE_CALL_TIMEOUT_MS),
    });

  it("delivers 8, 16 and 31 MiB bodies while an unrelated handler on the endpoint runs once, promptly", async () => {
    const bodies = [8, 16, 31].map((n) => randomBytes(n * MiB));
    const deliveries = Promise.allSettled(
      bodies.map((body) => sendBytes("/HostileBytes/digest", body)),
    );
    const tag = `while-large-${Date.now()}`;
    let pingMs = 0;
    let ping: CallResult;
    try {
      // Once the first body has become an invocation, the endpoint is receiving large messages.
      // (The reference answers queries with an error until its partitions are up: not yet.)
      await eventually(async () => {
        const rows = await rowsOrNothing(
          stack.server.admin,
          "SELECT id FROM sys_invocation WHERE target = 'HostileBytes/digest'",
        );
        return rows !== undefined && rows.length > 0 ? true : undefined;
      }, "a large body to become an invocation");
      const pingStarted = Date.now();
      ping = await call(ingress("/HostileBytes/ping"), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(tag),
        signal: AbortSignal.timeout(15_000),
      });
      pingMs = Date.now() - pingStarted;
    } finally {
      await deliveries;
    }
    const delivered = await deliveries;

    assert.equal(ping.status, 200, ping.text);
    assert.equal(ping.json(), `pong ${tag}`);
    assert.ok(pingMs < 5_000, `the unrelated call took ${pingMs} ms`);
    const attempts = readMarkers(stack.services).filter((l) => l === `hostile-ping:${tag}`);
    assert.equal(attempts.length, 1, "the unrelated handler ran exactly once");
    delivered.forEach((outcome, i) => {
      if (outcome.status === "rejected") assert.fail(`body ${i + 1}: ${String(outcome.reason)}`);
      const res = outcome.value;
      assert.equal(res.status, 200, res.text.slice(0, 300));
      assert.deepEqual(res.json<Digest>(), {
        bytes: bodies[i]!.length,
        sha256: sha256(bodies[i]!),
      });
    });
  });

  it("keeps a 10 MiB state value and sends it back with every invocation of its key", async () => {
    const key = `ten-mib-${Date.now()}`;
    const size = 10 * MiB;
    const expected: Digest = { bytes: size, sha256: sha256(patternBytes(size)) };
    const filled = await sendJson(`/HostileState/${key}/fill`, size);
    assert.equal(filled.status, 200, filled.text.slice(0, 300));
    for (let round = 0; round < 2; round++) {
      const read = await sendJson(`/HostileState/${key}/digest`, null);
      assert.equal(read.status, 200, read.text.slice(0, 300));
      assert.deepEqual(read.json<Digest>(), expected, `read ${round + 1}`);
    }
  });

  it("replays a 31 MiB journal entry to the next attempt", async () => {
    const size = 31 * MiB;
    const res = await sendJson("/HostileBytes/bigStep", { tag: `replay-${Date.now()}`, size });
    assert.equal(res.status, 200, res.text.slice(0, 300));
    assert.deepEqual(res.json<Digest>(), { bytes: size, sha256: sha256(patternBytes(size)) });
  });

  it("answers with a 32 MiB output", async () => {
    const size = 32 * MiB;
    const res = await fetch(ingress("/HostileBytes/produce"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(size),
      signal: AbortSignal.timeout(LARGE_CALL_TIMEOUT_MS),
    });
    assert.equal(res.status, 200);
    const body = new Uint8Array(await res.arrayBuffer());
    assert.equal(body.length, size);
    assert.equal(sha256(body), sha256(patternBytes(size)));
  });

  it(
    "delivers a body of exactly the ingress limit and refuses one byte more with 413 and a JSON error",
    {
      // The reference pauses a body of exactly its limit (its Input entry, headers included, exceeds
      // its per-invocation memory bound) and refuses a larger one in plain text, or resets the
      // connection before the client finished sending; Keel delivers up to its documented limit
      // and answers JSON as every Keel edge does.
      skip: TARGET === "restate" ? "Keel's own limits (see the comment)" : false,
    },
    async () => {
      const atLimit = randomBytes(MESSAGE_BYTES_MAX);
      const delivered = await sendBytes("/HostileBytes/digest", atLimit);
      assert.equal(delivered.status, 200, delivered.text.slice(0, 300));
      assert.deepEqual(delivered.json<Digest>(), {
        bytes: atLimit.length,
        sha256: sha256(atLimit),
      });

      const refused = await sendBytes("/HostileBytes/digest", randomBytes(MESSAGE_BYTES_MAX + 1));
      assert.equal(refused.status, 413);
      assert.match(refused.headers.get("content-type") ?? "", /application\/json/);
      const error = refused.json<{ code: number; message: string }>();
      assert.equal(error.code, 413);
      assert.match(error.message, new RegExp(`${MESSAGE_BYTES_MAX}`));
    },
  );

  it("fails a state value over the message limit visibly, and its key waits behind it", async () => {
    const key = `too-large-${Date.now()}`;
    const sent = await postJson(ingress(`/HostileState/${key}/fill/send`), 33 * MiB);
    assert.equal(sent.status, 202, sent.text);
    const id = sent.json<{ invocationId: string }>().invocationId;
    const row = async (): Promise<SqlRow | undefined> =>
      (
        await rowsOrNothing(
          stack.server.admin,
          `SELECT status, last_failure FROM sys_invocation WHERE id = '${id}'`,
        )
      )?.[0];
    // While its attempts fail, the reason names the message size limit (both servers).
    await eventually(async () => {
      const failure = (await row())?.["last_failure"];
      return typeof failure === "string" && /limit/i.test(failure) ? failure : undefined;
    }, "the size failure in sys_invocation");
    // The service allows 3 attempts, then the invocation is paused, holding its key's lock.
    const paused = await eventually(async () => {
      const current = await row();
      return current?.["status"] === "paused" ? current : undefined;
    }, "the invocation to be paused");
    // Keel keeps the reason on the paused invocation; the reference shows it only while retrying.
    if (TARGET === "keel") assert.match(String(paused["last_failure"]), /limit/i);

    const waiting = await postJson(ingress(`/HostileState/${key}/digest/send`), null);
    assert.equal(waiting.status, 202, waiting.text);
    const waitingId = waiting.json<{ invocationId: string }>().invocationId;
    await eventually(async () => {
      const rows = await rowsOrNothing(
        stack.server.admin,
        `SELECT status FROM sys_invocation WHERE id = '${waitingId}'`,
      );
      return rows?.[0]?.["status"] === "pending" ? true : undefined;
    }, "the next invocation of the key to wait in the inbox");
  });

  it("answers a query that would exhaust memory with an error and keeps serving", async () => {
    let status: number | undefined;
    let body = "";
    try {
      const res = await fetch(`${stack.server.admin}/query`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ query: "SELECT repeat('a', 100000000) AS s FROM range(50)" }),
        signal: AbortSignal.timeout(60_000),
      });
      status = res.status;
      body = await res.text();
    } catch (error) {
      // The reference breaks the connection mid-answer (after seconds of streaming).
      if (TARGET === "keel") throw error;
    }
    if (TARGET === "keel") {
      assert.equal(status, 413, body.slice(0, 300));
      assert.match(
        (JSON.parse(body) as { message: string }).message,
        /more than \d+ bytes/,
        "the error says which bound the result crossed",
      );
    }
    const health = await fetch(`${stack.server.admin}/health`);
    assert.equal(health.status, 200, "the node is still up");
    const [count] = await sqlRows(stack.server.admin, "SELECT count(*) AS n FROM sys_service");
    assert.ok(Number(count?.["n"]) > 0, "a normal query right after works");
  });

  it(
    "fails the queries of a SQL process that died, with a clear error, and starts a new one",
    {
      // The reference runs queries inside its own process; Keel's SQL process is Keel's design.
      skip: TARGET === "restate" ? "Keel's SQL process" : false,
    },
    async () => {
      const heavy = fetch(`${stack.server.admin}/query`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ query: "SELECT repeat('a', 100000000) AS s FROM range(50)" }),
        signal: AbortSignal.timeout(60_000),
      });
      // While DuckDB builds its gigabytes, the SQL process is killed, as the kernel would.
      const sqlProcess = await eventually(() => {
        const [pid] = childrenOf(stack.server.pid).filter(
          (child) => cmdline(child).includes("sql_process") && rssMb(child) > 300,
        );
        return pid;
      }, "the SQL process to grow");
      process.kill(sqlProcess, "SIGKILL");
      const res = await heavy;
      assert.equal(res.status, 500);
      assert.match(((await res.json()) as { message: string }).message, /SQL process stopped/);
      const [count] = await sqlRows(stack.server.admin, "SELECT count(*) AS n FROM sys_service");
      assert.ok(Number(count?.["n"]) > 0, "the next query gets a new SQL process");
    },
  );
});

/** Linux: the processes `pid` started. */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .split(" ")
      .filter((s) => s !== "")
      .map(Number);
  } catch {
    return [];
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return "";
  }
}

function rssMb(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match === null ? 0 : Number(match[1]) / 1024;
  } catch {
    return 0;
  }
}
