/**
 * Keel's own operator CLI (`keel`, `dist/src/bin/keel.js`) against a real keel-server: status of all
 * partitions, invocations, SQL and registration, as tables and as JSON, and a clear error with its own
 * exit code when the server cannot be reached.
 */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  DIST,
  call,
  eventually,
  freePort,
  postJson,
  startKeel,
  startServices,
  type KeelServer,
  type ServiceEndpoint,
} from "./harness.js";

const KEEL_BIN = join(DIST, "src", "bin", "keel.js");

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function keel(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [KEEL_BIN, ...args],
      { timeout: 30_000, env: { PATH: process.env["PATH"] ?? "", ...env } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe("the keel operator CLI", () => {
  let server: KeelServer;
  let services: ServiceEndpoint;
  const withAdmin = (args: string[]): string[] => [...args, "--admin", server.admin];

  before(async () => {
    server = await startKeel();
    services = await startServices();
  });

  after(async () => {
    await services?.stop();
    await server?.stop();
    server?.cleanup();
  });

  it("deployments register discovers the endpoint and lists its services", async () => {
    const run = await keel(withAdmin(["deployments", "register", services.url]));
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Registered deployment dp_1\w+ at /);
    assert.match(run.stdout, /Counter\s+VirtualObject\s+1\s+.*\badd\b/);
    const json = await keel(withAdmin(["deployments", "register", services.url, "--json"]));
    assert.equal(json.code, 0, json.stderr);
    assert.match((JSON.parse(json.stdout) as { id: string }).id, /^dp_1/);
  });

  it("status shows all 24 partitions, led here, with their applied LSN", async () => {
    assert.equal((await postJson(`${server.ingress}/Greeter/greet`, "status")).status, 200);
    const table = await keel(withAdmin(["status"]));
    assert.equal(table.code, 0, table.stderr);
    assert.match(
      table.stdout,
      /^Node n1 N1:\d+ \(cluster \S+, Keel [\d.]+\): ready, 24\/24 partitions led here/,
    );
    const lines = table.stdout.split("\n").filter((l) => /^\d+\s+leader\s/.test(l));
    assert.equal(lines.length, 24);
    assert.match(table.stdout, /PARTITION\s+ROLE\s+LEADER\s+EPOCH\s+APPLIED LSN\s+LOG TAIL/);

    const json = await keel(withAdmin(["status", "--json"]));
    assert.equal(json.code, 0, json.stderr);
    const status = JSON.parse(json.stdout) as {
      partitions: {
        id: number;
        role: string;
        leader: string;
        applied_lsn: number;
        log_tail: number;
      }[];
    };
    assert.equal(status.partitions.length, 24);
    for (const p of status.partitions) {
      assert.equal(p.role, "leader");
      assert.equal(p.leader, "n1");
      assert.ok(p.applied_lsn >= 1, "every partition applied at least its leader announcement");
      assert.ok(p.applied_lsn < p.log_tail);
    }
  });

  it("invocations lists active invocations, and completed ones with --all", async () => {
    assert.equal((await postJson(`${server.ingress}/Sleeper/long/send`, "keel")).status, 202);
    await eventually(async () => {
      const run = await keel(withAdmin(["invocations", "--status", "suspended", "--json"]));
      const rows = JSON.parse(run.stdout) as { target: string }[];
      return rows.some((r) => r.target === "Sleeper/long") ? true : undefined;
    }, "a suspended invocation");
    const active = await keel(withAdmin(["invocations"]));
    assert.equal(active.code, 0, active.stderr);
    assert.match(active.stdout, /ID\s+TARGET\s+STATUS\s+CREATED AT/);
    assert.match(active.stdout, /inv_1\w+\s+Sleeper\/long\s+suspended/);
    assert.doesNotMatch(active.stdout, /Greeter\/greet/);
    const all = await keel(withAdmin(["invocations", "--all", "--target", "Greeter"]));
    assert.match(all.stdout, /Greeter\/greet\s+completed/);
  });

  it("sql prints rows as a table or JSON and reports query errors", async () => {
    const table = await keel(
      withAdmin(["sql", "SELECT name, ty FROM sys_service WHERE name = 'Counter'"]),
    );
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /NAME\s+TY\nCounter\s+virtual_object/);
    const json = await keel(withAdmin(["sql", "SELECT COUNT(*) AS n FROM sys_service", "--json"]));
    const registered = (await call(`${server.admin}/services`)).json<{ services: unknown[] }>();
    assert.deepEqual(JSON.parse(json.stdout), [{ n: registered.services.length }]);
    const bad = await keel(withAdmin(["sql", "SELECT nope FROM sys_service"]));
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /POST \/query failed with HTTP 500: .*nope/);
  });

  it("says clearly when the server cannot be reached, with exit code 3", async () => {
    const port = await freePort();
    const run = await keel(["status"], { KEEL_ADMIN_URL: `http://127.0.0.1:${port}` });
    assert.equal(run.code, 3);
    assert.match(
      run.stderr,
      /cannot reach the admin API at http:\/\/127\.0\.0\.1:\d+ \(.*ECONNREFUSED.*\)/,
    );
    assert.match(run.stderr, /Is keel-server running\?/);
    const usage = await keel(["frobnicate"]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /unknown command 'frobnicate'/);
  });
});
