/**
 * TLS on the node port (`--node-tls-cert-file`, `--node-tls-key-file`, `--node-tls-ca-file`): two
 * nodes whose certificates one CA signed form a cluster through `keel provision` (which needs the
 * same files), replicate and forward calls over TLS, and serve `/metrics` over HTTPS on the node
 * port. What passes between them is encrypted: the second node reaches the first through a relay
 * that records the bytes, which open with a TLS handshake and never show the cluster's addresses in
 * the clear. A plain TCP connection and a certificate of another CA are refused. Keel only.
 * Certificates come from the `openssl` binary; without it the test is skipped.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { connect, createServer, type Server, type Socket } from "node:net";
import { connect as connectTls } from "node:tls";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  DIST,
  eventually,
  freePorts,
  postJson,
  register,
  startKeel,
  startServices,
  tempDir,
  type KeelServer,
  type ServiceEndpoint,
} from "./harness.js";
import {
  hasOpenssl,
  issuedBy,
  selfSigned,
  type CertificateFiles,
} from "../support/certificates.js";
import { encodeHello } from "../../src/net/index.js";

const KEEL_CLI = join(DIST, "src", "bin", "keel.js");

/** A TCP relay to `target` that keeps every byte it passes, both ways. */
async function startRelay(
  target: number,
): Promise<{ port: number; bytes: () => Buffer; server: Server }> {
  const chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target, "127.0.0.1");
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => undefined);
      socket.on("close", () => sockets.delete(socket));
    }
    client.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      client.write(chunk);
    });
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  server.on("close", () => sockets.forEach((socket) => socket.destroy()));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert.ok(typeof address === "object" && address !== null);
  return { port: address.port, bytes: () => Buffer.concat(chunks), server };
}

/** Resolves once the peer closes the connection; rejects if it is still open after `ms`. */
function closedWithin(socket: Socket, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still open after ${ms} ms`)), ms);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

describe(
  "TLS on the node port",
  { skip: !hasOpenssl() && "no openssl binary to make certificates" },
  () => {
    let certDir: string;
    let ca: CertificateFiles;
    let stranger: CertificateFiles;
    let baseDir: string;
    let first: KeelServer;
    let second: KeelServer;
    let services: ServiceEndpoint;
    let relay: Awaited<ReturnType<typeof startRelay>>;
    let firstNodePort: number;
    const tlsArgs = (cert: CertificateFiles, caFile = ca.cert): string[] => [
      ...["--node-tls-cert-file", cert.cert, "--node-tls-key-file", cert.key],
      ...["--node-tls-ca-file", caFile],
    ];

    before(async () => {
      certDir = tempDir("node-tls");
      ca = selfSigned(certDir, "cluster-ca");
      const otherCa = selfSigned(certDir, "other-ca");
      stranger = issuedBy(otherCa, certDir, "stranger");
      const [n1, n2] = [issuedBy(ca, certDir, "n1"), issuedBy(ca, certDir, "n2")];
      baseDir = tempDir("node-tls-cluster");
      const [port1, port2] = await freePorts(2);
      firstNodePort = port1!;
      const metadataServers = `127.0.0.1:${port1}`;
      first = await startKeel({
        baseDir,
        nodeName: "n1",
        nodePort: port1!,
        waitUntilReady: false,
        extraArgs: [
          ...["--metadata-servers", metadataServers, "--replication", "2", "--partitions", "2"],
          ...tlsArgs(n1),
        ],
      });
      relay = await startRelay(port1!);
      // The second node knows the first only through the relay, and trusts two CAs (as every node
      // does while the cluster moves to a new CA).
      const bothCas = join(certDir, "both-cas.crt");
      writeFileSync(bothCas, readFileSync(otherCa.cert, "utf8") + readFileSync(ca.cert, "utf8"));
      second = await startKeel({
        baseDir,
        nodeName: "n2",
        nodePort: port2!,
        waitUntilReady: false,
        extraArgs: [
          ...["--metadata-servers", `127.0.0.1:${relay.port}`, "--partitions", "2"],
          ...tlsArgs(n2, bothCas),
        ],
      });
      await eventually(
        () => (first.output.join("").includes("keel provision --node") ? true : undefined),
        "n1 waiting to be provisioned",
      );
      const provision = (...args: string[]) =>
        spawnSync(process.execPath, [KEEL_CLI, "provision", "--node", metadataServers, ...args], {
          encoding: "utf8",
          timeout: 30_000,
        });
      const plain = provision("--timeout", "3000");
      assert.notEqual(plain.status, 0, "provisioned without TLS");
      const foreign = provision(
        ...["--timeout", "3000", "--node-tls-cert-file", stranger.cert],
        ...["--node-tls-key-file", stranger.key, "--node-tls-ca-file", ca.cert],
      );
      assert.notEqual(foreign.status, 0, "provisioned with another CA's certificate");
      const done = provision(
        ...["--node-tls-cert-file", n1.cert, "--node-tls-key-file", n1.key],
        ...["--node-tls-ca-file", ca.cert],
      );
      assert.equal(done.status, 0, done.stderr);
      for (const node of [first, second])
        await eventually(
          async () =>
            (await fetch(`${node.admin}/health`).catch(() => undefined))?.ok ? true : undefined,
          "a ready cluster",
          60_000,
        );
      services = await startServices();
      assert.equal((await register(first.admin, services.url)).status, 201);
    });

    after(async () => {
      await services?.stop();
      await Promise.all([first?.stop(), second?.stop()]);
      relay?.server.close();
      for (const dir of [baseDir, certDir])
        if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    it("replicates and forwards calls over TLS, and what passes is encrypted", async () => {
      // Keys on both partitions, through both nodes: calls forwarded to the other node's leaders,
      // every record stored on both nodes' log servers (replication 2).
      for (const key of ["a", "b", "c", "d"])
        for (const node of [first, second]) {
          const res = await eventually(async () => {
            const answer = await postJson(`${node.ingress}/Counter/tls-${key}/add`, 1).catch(
              () => undefined,
            );
            return answer?.status === 200 ? answer : undefined;
          }, "a call through the cluster");
          assert.ok(res.json<number>() >= 1);
        }
      const seen = relay.bytes();
      assert.ok(seen.length > 1_000, `the relay passed ${seen.length} bytes`);
      assert.equal(seen[0], 0x16, "the first byte opens a TLS handshake record");
      const text = seen.toString("latin1");
      for (const clear of [`127.0.0.1:${firstNodePort}`, "localcluster"])
        assert.ok(!text.includes(clear), `'${clear}' passed in the clear`);
    });

    it("refuses a plain connection and a certificate of another CA", async () => {
      const plain = connect(firstNodePort, "127.0.0.1");
      plain.on("error", () => undefined);
      await new Promise((resolve) => plain.once("connect", resolve));
      plain.write(encodeHello({ node: 7, generation: 1 }));
      // A connection that never starts its handshake is closed too (as one that does not
      // authenticate in 5 s), not held for Node's two minutes.
      const silent = connect(firstNodePort, "127.0.0.1");
      silent.on("error", () => undefined);
      await new Promise((resolve) => silent.once("connect", resolve));
      await Promise.all([closedWithin(plain, 10_000), closedWithin(silent, 10_000)]);

      const foreign = connectTls({
        host: "127.0.0.1",
        port: firstNodePort,
        cert: readFileSync(stranger.cert),
        key: readFileSync(stranger.key),
        ca: readFileSync(ca.cert),
        checkServerIdentity: () => undefined,
      });
      foreign.on("error", () => undefined);
      await new Promise((resolve) => foreign.once("secureConnect", resolve));
      foreign.write(encodeHello({ node: 7, generation: 1 }));
      await closedWithin(foreign, 10_000);
      await eventually(
        () =>
          /refused a connection to the node port.*no certificate of the cluster's CA/.test(
            first.output.join(""),
          )
            ? true
            : undefined,
        "the refusal in n1's log",
      );
    });

    it("serves /metrics over HTTPS on the node port, without a client certificate", async () => {
      const { status, body } = await new Promise<{ status: number; body: string }>(
        (resolve, reject) => {
          const req = httpsRequest(
            `https://127.0.0.1:${firstNodePort}/metrics`,
            { ca: readFileSync(ca.cert) },
            (res) => {
              let text = "";
              res.setEncoding("utf8");
              res.on("data", (chunk: string) => (text += chunk));
              res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
            },
          );
          req.on("error", reject);
          req.end();
        },
      );
      assert.equal(status, 200, body);
      assert.match(body, /^keel_/m);
    });
  },
);
