/**
 * Request identity (Restate's scheme v1), against Keel and the reference server alike: an SDK
 * endpoint started with `identityKeys` serves a server that signs with the matching private key,
 * refuses requests without a signature, and refuses a server that does not sign or signs with
 * another key, at registration (discovery) and at invocation.
 */

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { connect, type OutgoingHttpHeaders } from "node:http2";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { generateSigningKey } from "../../src/invoker/io/index.js";
import {
  TARGET,
  eventually,
  postJson,
  register,
  sqlRows,
  startServices,
  startTarget,
  tempDir,
  type KeelOptions,
  type KeelServer,
  type ServiceEndpoint,
} from "./harness.js";

/** How each server is told to sign with a key file (Restate: `worker.invoker` setting). */
function signingWith(file: string | undefined): { args: string[]; env: Record<string, string> } {
  if (file === undefined) return { args: [], env: {} };
  return TARGET === "restate"
    ? { args: [], env: { RESTATE_WORKER__INVOKER__REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE: file } }
    : { args: ["--request-identity-private-key-pem-file", file], env: {} };
}

/** The status an h2c request gets (the endpoint speaks HTTP/2 only, as `restate.serve` does). */
async function h2Status(origin: string, headers: OutgoingHttpHeaders): Promise<number> {
  const session = connect(origin);
  try {
    return await new Promise<number>((resolve, reject) => {
      session.once("error", reject);
      const stream = session.request(headers);
      stream.once("response", (h) => resolve(Number(h[":status"])));
      stream.once("error", reject);
      stream.end();
    });
  } finally {
    session.close();
  }
}

function writeKey(dir: string, name: string): { file: string; publicKeyId: string } {
  const key = generateSigningKey();
  const file = join(dir, name);
  writeFileSync(file, key.privateKeyPem, { mode: 0o600 });
  return { file, publicKeyId: key.publicKeyId };
}

describe(`request identity v1 (${TARGET})`, () => {
  const dir = tempDir("identity");
  const trusted = writeKey(dir, "trusted.pem");
  const stranger = writeKey(dir, "stranger.pem");
  let endpoint: ServiceEndpoint;
  const servers: KeelServer[] = [];

  const startSigning = async (file: string | undefined, options: KeelOptions = {}) => {
    const signing = signingWith(file);
    const server = await startTarget({
      ...options,
      extraArgs: [...signing.args, ...(options.extraArgs ?? [])],
      env: { ...signing.env, ...options.env },
    });
    servers.push(server);
    return server;
  };

  before(async () => {
    endpoint = await startServices({
      fixture: { script: "security_endpoint.js", args: [trusted.publicKeyId] },
    });
  });

  after(async () => {
    for (const server of servers) {
      await server.stop();
      server.cleanup();
    }
    await endpoint.stop();
  });

  it("the endpoint refuses requests without a signature", async () => {
    const discover = await h2Status(endpoint.url, {
      ":path": "/discover",
      accept: "application/vnd.restate.endpointmanifest.v3+json",
    });
    assert.equal(discover, 401);
    const invoke = await h2Status(endpoint.url, {
      ":method": "POST",
      ":path": "/invoke/SecurityGreeter/greet",
      "content-type": "application/vnd.restate.invocation.v5",
    });
    assert.equal(invoke, 401);
  });

  it("a server signing with the trusted key registers the endpoint and calls it", async () => {
    const server = await startSigning(trusted.file);
    const registered = await register(server.admin, endpoint.url);
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    const greeting = await postJson(`${server.ingress}/SecurityGreeter/greet`, "signed");
    assert.equal(greeting.status, 200, greeting.text);
    assert.equal(JSON.parse(greeting.text), "hello signed");
    // Keyed calls carry the object's key as the token's subject; the SDK accepts them too.
    const count = await postJson(`${server.ingress}/SecurityCounter/a%2Fb/add`, 2);
    assert.equal(count.status, 200, count.text);
    assert.equal(JSON.parse(count.text), 2);
  });

  it("a server without a key, or with another key, cannot register the endpoint", async () => {
    for (const file of [undefined, stranger.file]) {
      const server = await startSigning(file);
      const registered = await register(server.admin, endpoint.url);
      assert.equal(registered.status, 500, JSON.stringify(registered.body));
      const message = String(registered.body["message"]);
      assert.match(message, /401/);
      if (TARGET === "keel")
        assert.match(
          message,
          file === undefined ? /request-identity-private-key-pem-file/ : /identityKeys/,
        );
    }
  });

  it("a registered deployment's calls are refused once the server stops signing", async () => {
    // The same data directory and ports, started again without the key: the schema still names
    // the endpoint, and each attempt is refused with 401 and retried.
    const signing = signingWith(trusted.file);
    const extraArgs = [...signing.args];
    const env = { ...signing.env };
    const server = await startTarget({ extraArgs, env });
    servers.push(server);
    const registered = await register(server.admin, endpoint.url);
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    await server.stop();
    extraArgs.length = 0; // the harness starts again with the same (now emptied) options
    for (const name of Object.keys(env)) delete env[name as keyof typeof env];
    await server.restart();
    const sent = await postJson(`${server.ingress}/SecurityGreeter/greet/send`, "unsigned");
    assert.equal(sent.status, 202, sent.text);
    const id = (JSON.parse(sent.text) as { invocationId: string }).invocationId;
    const failure = await eventually(async () => {
      const rows = await sqlRows(
        server.admin,
        `SELECT status, retry_count, last_failure FROM sys_invocation WHERE id = '${id}'`,
      );
      const row = rows[0];
      // The reference may answer a row whose failure is not recorded yet without the column.
      const failed = typeof row?.["last_failure"] === "string" && row["last_failure"] !== "";
      return row !== undefined && Number(row["retry_count"]) >= 1 && failed ? row : undefined;
    }, "a refused attempt of the unsigned call");
    assert.notEqual(failure["status"], "completed");
    assert.match(String(failure["last_failure"]), /401/);
  });
});

describe(`the SQL endpoint is read-only and sandboxed (${TARGET})`, () => {
  let server: KeelServer;
  before(async () => {
    server = await startTarget();
  });
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  const hostile = [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT content FROM read_text('/etc/passwd')",
    "SELECT * FROM read_csv('http://127.0.0.1:1/')",
    "COPY (SELECT 1) TO '/tmp/keel-sql-copy.csv'",
    "CREATE EXTERNAL TABLE leak STORED AS CSV LOCATION '/etc/passwd'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "ATTACH '/tmp/keel-sql-attach.db' AS other",
    "SET enable_external_access = true",
    "CREATE TABLE t AS SELECT 1",
    "INSERT INTO sys_service VALUES (1)",
    "DELETE FROM sys_invocation",
  ];

  for (const query of hostile) {
    it(`refuses ${query}`, async () => {
      const res = await fetch(`${server.admin}/query`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ query }),
      });
      const text = await res.text();
      assert.ok(res.status >= 400, `${res.status}: ${text}`);
      assert.doesNotMatch(text, /root:/, "no file content");
    });
  }
});
