/**
 * Keel's own protections (Restate's open-source server has none of these, so the file runs against
 * Keel only): bearer tokens in front of the admin API and the ingress, with the official `restate`
 * CLI and the typed ingress client holding them; TLS on both APIs (HTTP/2 by ALPN) and `https://`
 * endpoints behind a private CA; `keel keys generate` and refused key files.
 * Certificates come from the `openssl` binary; without it the TLS tests are skipped.
 */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { connect } from "node:http2";
import { once } from "node:events";
import { createConnection } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { hasOpenssl, selfSigned } from "../support/certificates.js";
import type { ServiceDefinition } from "@restatedev/restate-sdk";
import * as clients from "@restatedev/restate-sdk-clients";
import {
  DIST,
  TARGET,
  eventually,
  postJson,
  register,
  startKeel,
  startServices,
  tempDir,
  type KeelServer,
  type ServiceEndpoint,
  RESTATE_CLI_BIN,
} from "./harness.js";

const RESTATE_CLI = RESTATE_CLI_BIN;
const KEEL_CLI = join(DIST, "src", "bin", "keel.js");
const skipReason =
  TARGET === "restate" ? "Keel's own settings (Restate OSS has no tokens or TLS)" : false;

type Ctx = unknown;
const SecurityGreeter = { name: "SecurityGreeter" } as ServiceDefinition<
  "SecurityGreeter",
  { greet: (ctx: Ctx, name: string) => Promise<string> }
>;

function run(
  file: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; out: string; stdout: string }> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      {
        timeout: 30_000,
        env: { PATH: process.env["PATH"] ?? "", HOME: tempDir("home"), NO_COLOR: "1", ...env },
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
        resolve({ code, out: `${stdout}${stderr}`, stdout });
      },
    );
  });
}

async function stopAll(servers: KeelServer[], endpoints: ServiceEndpoint[]): Promise<void> {
  for (const endpoint of endpoints) await endpoint.stop();
  for (const server of servers) {
    await server.stop();
    server.cleanup();
  }
}

describe("request identity keys", { skip: skipReason }, () => {
  const dir = tempDir("keys");

  it("keel keys generate writes a key keel-server signs with, and prints its public key", async () => {
    const file = join(dir, "identity.pem");
    const generated = await run(
      process.execPath,
      [KEEL_CLI, "keys", "generate", "--out", file],
      {},
    );
    assert.equal(generated.code, 0, generated.out);
    const publicKeyId = generated.stdout.trim();
    assert.match(publicKeyId, /^publickeyv1_[1-9A-HJ-NP-Za-km-z]+$/);
    const again = await run(process.execPath, [KEEL_CLI, "keys", "generate", "--out", file], {});
    assert.notEqual(again.code, 0);
    assert.match(again.out, /exists already/);

    const endpoint = await startServices({
      fixture: { script: "security_endpoint.js", args: [publicKeyId] },
    });
    const server = await startKeel({
      extraArgs: ["--request-identity-private-key-pem-file", file],
    });
    try {
      const registered = await register(server.admin, endpoint.url);
      assert.equal(registered.status, 201, JSON.stringify(registered.body));
      const greeting = await postJson(`${server.ingress}/SecurityGreeter/greet`, "cli key");
      assert.equal(greeting.text, JSON.stringify("hello cli key"));
    } finally {
      await stopAll([server], [endpoint]);
    }
  });

  it("a key file that cannot sign stops the start with a clear error", async () => {
    const publicKey = join(dir, "public.pem");
    writeFileSync(
      publicKey,
      "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAj5BTvH+WJo0QGHm2hdLOuk6P7szKgTQxmpnnmZe/DcU=\n-----END PUBLIC KEY-----\n",
    );
    const cases: [string, RegExp][] = [
      [join(dir, "missing.pem"), /cannot read .*missing\.pem: ENOENT/],
      [publicKey, /not a private key in PEM format/],
    ];
    for (const [file, expected] of cases) {
      const server = await startKeel({
        extraArgs: ["--request-identity-private-key-pem-file", file],
        waitUntilReady: false,
      });
      const code = await server.exited();
      server.cleanup();
      assert.equal(code, 1);
      assert.match(server.output.join(""), expected);
      assert.doesNotMatch(server.output.join(""), /\n\s+at /, "no stack trace");
    }
  });
});

describe("bearer tokens on the admin API and the ingress", { skip: skipReason }, () => {
  const adminToken = "admin-0123456789abcdef";
  const ingressToken = "ingress-fedcba9876543210";
  const asAdmin = { authorization: `Bearer ${adminToken}` };
  const asCaller = { authorization: `Bearer ${ingressToken}` };
  let server: KeelServer;
  let endpoint: ServiceEndpoint;

  before(async () => {
    const tokenFile = join(tempDir("tokens"), "ingress-token");
    writeFileSync(tokenFile, `${ingressToken}\n`);
    server = await startKeel({
      extraArgs: ["--ingress-token-file", tokenFile],
      env: { KEEL_ADMIN_TOKEN: adminToken },
    });
    endpoint = await startServices({ fixture: { script: "security_endpoint.js", args: ["-"] } });
  });
  after(() => stopAll([server], [endpoint]));

  it("the admin API refuses requests without the right token with 401, and takes the right one", async () => {
    for (const headers of [
      {},
      { authorization: "Bearer wrong" },
      asCaller,
      { authorization: adminToken },
    ]) {
      const res = await fetch(`${server.admin}/deployments`, { headers });
      assert.equal(res.status, 401);
      assert.equal(res.headers.get("www-authenticate"), "Bearer");
      assert.match(res.headers.get("content-type") ?? "", /application\/json/);
      const body = (await res.json()) as { message: string };
      assert.match(body.message, /unauthorized/);
    }
    const refused = await fetch(`${server.admin}/deployments`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ uri: endpoint.url }),
    });
    assert.equal(refused.status, 401);
    assert.equal((await fetch(`${server.admin}/health`)).status, 200, "health stays open");
    const registered = await fetch(`${server.admin}/deployments`, {
      method: "POST",
      headers: { "content-type": "application/json", ...asAdmin },
      body: JSON.stringify({ uri: endpoint.url }),
    });
    assert.equal(registered.status, 201, await registered.text());
    const sql = await fetch(`${server.admin}/query`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ query: "SELECT name FROM sys_service" }),
    });
    assert.equal(sql.status, 401, "SQL is behind the token too");
  });

  it("the ingress refuses calls without the right token with 401, and takes the right one", async () => {
    for (const headers of [{}, { authorization: "Bearer wrong" }, asAdmin]) {
      const res = await postJson(`${server.ingress}/SecurityGreeter/greet`, "anyone", headers);
      assert.equal(res.status, 401, res.text);
      assert.equal(res.headers.get("www-authenticate"), "Bearer");
      const body = res.json<{ code: number; message: string }>();
      assert.equal(body.code, 401);
      assert.match(body.message, /unauthorized/);
    }
    const health = await fetch(`${server.ingress}/restate/health`);
    assert.equal(health.status, 200, "health stays open");
    const greeting = await postJson(`${server.ingress}/SecurityGreeter/greet`, "token", asCaller);
    assert.equal(greeting.status, 200, greeting.text);
    assert.equal(greeting.text, JSON.stringify("hello token"));
    // A token lets a caller in, not past a private service.
    const internal = await postJson(`${server.ingress}/SecurityInternal/secret`, null, asCaller);
    assert.notEqual(internal.status, 200, internal.text);
    assert.match(internal.text, /not public/);
  });

  it("the typed ingress client works with the token in its headers", async () => {
    const withToken = clients.connect({ url: server.ingress, headers: asCaller });
    assert.equal(await withToken.serviceClient(SecurityGreeter).greet("typed"), "hello typed");
    const without = clients.connect({ url: server.ingress });
    await assert.rejects(
      async () => without.serviceClient(SecurityGreeter).greet("typed"),
      /401|unauthorized/i,
    );
  });

  it("the official restate CLI works with RESTATE_AUTH_TOKEN, and is refused without", async () => {
    const env = { RESTATE_ADMIN_URL: server.admin, RESTATE_INGRESS_URL: server.ingress };
    const listed = await run(RESTATE_CLI, ["services", "list"], {
      ...env,
      RESTATE_AUTH_TOKEN: adminToken,
    });
    assert.equal(listed.code, 0, listed.out);
    assert.match(listed.out, /SecurityGreeter/);
    const refused = await run(RESTATE_CLI, ["services", "list"], env);
    assert.notEqual(refused.code, 0, refused.out);
    assert.match(refused.out, /401|unauthorized/i);
  });

  it("the keel CLI takes the token from KEEL_ADMIN_TOKEN", async () => {
    const status = await run(process.execPath, [KEEL_CLI, "status", "--admin", server.admin], {
      KEEL_ADMIN_TOKEN: adminToken,
    });
    assert.equal(status.code, 0, status.out);
    const refused = await run(process.execPath, [KEEL_CLI, "status", "--admin", server.admin], {});
    assert.equal(refused.code, 1, refused.out);
    assert.match(refused.out, /HTTP 401/);
  });
});

/** GET over HTTPS/1.1 (Node's https client offers no ALPN), trusting `ca`. */
/** One HTTPS request trusting `ca`; a body makes it a JSON POST. */
function httpsCall(
  url: string,
  ca: string,
  headers: Record<string, string> = {},
  body?: unknown,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const options =
      body === undefined
        ? { ca, headers }
        : { method: "POST", ca, headers: { ...headers, "content-type": "application/json" } };
    const req = httpsRequest(url, options, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const httpsGet = (url: string, ca: string, headers: Record<string, string> = {}) =>
  httpsCall(url, ca, headers);

/** A POST over HTTPS with HTTP/2 chosen by ALPN; answers the protocol the server agreed to. */
function h2Post(
  origin: string,
  ca: string,
  path: string,
  body: string,
): Promise<{ alpn: string | false | undefined; status: number; body: string }> {
  const session = connect(origin, { ca });
  return new Promise((resolve, reject) => {
    session.once("error", reject);
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/json",
    });
    let status = 0;
    let text = "";
    stream.setEncoding("utf8");
    stream.on("response", (h) => (status = Number(h[":status"])));
    stream.on("data", (chunk: string) => (text += chunk));
    stream.on("end", () => {
      resolve({ alpn: session.alpnProtocol, status, body: text });
      session.close();
    });
    stream.on("error", reject);
    stream.end(body);
  });
}

describe(
  "TLS on the ingress and the admin API, https endpoints",
  { skip: skipReason || (!hasOpenssl() && "no openssl binary to make certificates") },
  () => {
    const dir = tempDir("tls");
    let serverCert: { cert: string; key: string };
    let endpointCert: { cert: string; key: string };
    let ca: string;
    const servers: KeelServer[] = [];
    let endpoint: ServiceEndpoint;

    const startTlsKeel = async (
      extraArgs: string[],
    ): Promise<{ server: KeelServer; ingress: string; admin: string }> => {
      const server = await startKeel({
        extraArgs: [
          "--tls-cert-file",
          serverCert.cert,
          "--tls-key-file",
          serverCert.key,
          ...extraArgs,
        ],
        waitUntilReady: false,
      });
      servers.push(server);
      const ready = await eventually(
        () =>
          /Keel is ready: ingress (https:\S+)\/ admin (https:\S+)\//.exec(server.output.join("")) ??
          undefined,
        "keel-server ready over TLS",
      );
      return { server, ingress: ready[1]!, admin: ready[2]! };
    };

    before(async () => {
      serverCert = selfSigned(dir, "keel");
      endpointCert = selfSigned(dir, "endpoint");
      ca = readFileSync(serverCert.cert, "utf8");
      endpoint = await startServices({
        fixture: {
          script: "security_endpoint.js",
          args: ["-", endpointCert.cert, endpointCert.key],
        },
      });
    });
    after(() => stopAll(servers, [endpoint]));

    it("serves HTTPS with HTTP/1.1 and HTTP/2 by ALPN, and calls an https endpoint behind a private CA", async () => {
      const { ingress, admin } = await startTlsKeel(["--endpoint-ca-file", endpointCert.cert]);
      assert.equal((await httpsGet(`${admin}/health`, ca)).status, 200);
      const version = await httpsGet(`${admin}/version`, ca);
      assert.equal(version.status, 200, version.body);
      const httpsEndpoint = endpoint.url.replace("http:", "https:");
      const registered = await httpsCall(`${admin}/deployments`, ca, {}, { uri: httpsEndpoint });
      assert.equal(registered.status, 201, registered.body);
      const greeting = await h2Post(ingress, ca, "/SecurityGreeter/greet", JSON.stringify("tls"));
      assert.equal(greeting.alpn, "h2");
      assert.equal(greeting.status, 200, greeting.body);
      assert.equal(greeting.body, JSON.stringify("hello tls"));
      const health = await httpsGet(`${ingress}/restate/health`, ca);
      assert.equal(health.status, 200);
      // A client that does not trust the certificate is refused by its own TLS check.
      await assert.rejects(fetch(`${admin}/health`), /fetch failed/);
    });

    it("stops at once with a connection stuck before its TLS handshake", async () => {
      const { server, ingress, admin } = await startTlsKeel([]);
      const silent = [ingress, admin].map((url) =>
        createConnection({ host: "127.0.0.1", port: Number(new URL(url).port) }).on(
          "error",
          () => {},
        ),
      );
      await Promise.all(silent.map((socket) => once(socket, "connect")));
      const started = Date.now();
      assert.equal(await server.stop(), 0, server.output.join(""));
      assert.ok(Date.now() - started < 10_000, `stopped after ${Date.now() - started} ms`);
      for (const socket of silent) socket.destroy();
    });

    it("without the endpoint's CA, registering the https endpoint fails on its certificate", async () => {
      const { admin } = await startTlsKeel([]);
      const registered = await httpsCall(
        `${admin}/deployments`,
        ca,
        {},
        { uri: endpoint.url.replace("http:", "https:") },
      );
      assert.equal(registered.status, 500, registered.body);
      assert.match(registered.body, /certificate/i);
    });
  },
);
