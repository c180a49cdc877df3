/**
 * The official `restate` CLI (1.7.12, the npm devDependency `@restatedev/restate`) against a real
 * server with the SDK fixture endpoint: every command an operator uses day to day, asserting on what
 * the CLI prints. The same file runs against the reference server (`KEEL_TEST_TARGET=restate`), so
 * each assertion states Restate's behaviour, not Keel's.
 */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  TARGET,
  eventually,
  invocationOf,
  postJson,
  sqlRows,
  startStack,
  tempDir,
  type KeelServer,
  type ServiceEndpoint,
  type SqlRow,
  type Stack,
  RESTATE_CLI_BIN,
} from "./harness.js";

const CLI_BIN = RESTATE_CLI_BIN;
const CLI_TIMEOUT_MS = 30_000;

interface CliResult {
  readonly code: number;
  readonly out: string;
}

describe(`the official restate CLI (${TARGET})`, () => {
  let stack: Stack;
  let server: KeelServer;
  let services: ServiceEndpoint;
  let home: string;

  const cli = (args: string[], env: Record<string, string> = {}): Promise<CliResult> =>
    new Promise((resolve) => {
      execFile(
        CLI_BIN,
        args,
        {
          timeout: CLI_TIMEOUT_MS,
          env: {
            PATH: process.env["PATH"] ?? "",
            HOME: home,
            NO_COLOR: "1",
            RESTATE_ADMIN_URL: server.admin,
            RESTATE_INGRESS_URL: server.ingress,
            ...env,
          },
        },
        (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
          resolve({ code, out: `${stdout}${stderr}` });
        },
      );
    });

  /** Runs the CLI and requires success. */
  const ok = async (args: string[], env: Record<string, string> = {}): Promise<string> => {
    const result = await cli(args, env);
    assert.equal(result.code, 0, `restate ${args.join(" ")} failed:\n${result.out}`);
    return result.out;
  };

  const rows = (query: string): Promise<SqlRow[]> => sqlRows(server.admin, query);
  const idOf = (target: string, status?: string): Promise<string> =>
    invocationOf(server.admin, target, status);

  before(async () => {
    home = tempDir("cli-home");
    // The CLI registers the endpoint itself.
    stack = await startStack({ register: false });
    ({ server, services } = stack);
  });

  after(() => stack?.stop());

  it("whoami: reaches the admin API", async () => {
    const out = await ok(["whoami"]);
    assert.match(out, /Admin Service '.*' is healthy!/);
    assert.match(out, new RegExp(`Admin base URL\\s+${server.admin}/`));
  });

  it("deployments register: discovers and registers the endpoint, then sees it exists", async () => {
    const out = await ok(["deployments", "register", "--yes", services.url]);
    assert.match(out, /SERVICES THAT WILL BE ADDED/);
    assert.match(out, /- Counter\s+Type: VirtualObject/);
    assert.match(out, /\[OK\]: DEPLOYMENT:\s+Deployment ID:\s+dp_1\w+/);
    assert.match(out, /Greeter\s+1/);
    const again = await ok(["deployments", "register", "--yes", services.url]);
    assert.match(again, /Deployment already exists with id dp_1\w+/);
    assert.match(again, /No changes will be made/);
  });

  it("deployments list and services list show the endpoint and its services", async () => {
    const deployments = await ok(["deployments", "list"]);
    assert.match(deployments, new RegExp(`${services.url}/\\s+HTTP\\s+dp_1\\w+`));
    assert.match(deployments, /- Signup \[1\]/);
    const list = await ok(["services", "list"]);
    assert.match(list, /\[public\]\s+Counter\s+1\s+virtual object\s+HTTP\s+dp_1\w+/);
    assert.match(list, /\[public\]\s+Signup\s+1\s+workflow\s+HTTP/);
    assert.match(list, /\[public\]\s+Greeter\s+1\s+HTTP/);
  });

  it("services describe shows the service, its deployment and handlers", async () => {
    const out = await ok(["services", "describe", "Counter"]);
    assert.match(out, /Name:\s+Counter/);
    assert.match(out, /Service type:\s+VirtualObject/);
    assert.match(out, /Transport:\s+HTTP\/2.0/);
    assert.match(out, /Protocol Style:\s+Bidirectional Stream/);
    assert.match(out, /SDK Version\s+restate-sdk-typescript\/1.17.2/);
    assert.match(out, /Protocol:\s+\[5, 7\]/);
    for (const handler of ["add", "get", "hold", "keys"])
      assert.match(out, new RegExp(`\\b${handler}\\s+application/json\\s+application/json`));
  });

  it("services status counts invocations per handler and state", async () => {
    assert.equal((await postJson(`${server.ingress}/Counter/bob/add`, 5)).status, 200);
    assert.equal((await postJson(`${server.ingress}/Sleeper/long/send`, "cli")).status, 202);
    assert.equal((await postJson(`${server.ingress}/Counter/held/hold/send`, null)).status, 202);
    await idOf("Counter/held/hold", "running");
    assert.equal((await postJson(`${server.ingress}/Counter/held/add/send`, 1)).status, 202);
    await idOf("Sleeper/long", "suspended");
    await idOf("Counter/held/add", "pending");
    const out = await ok(["services", "status"]);
    assert.match(out, /Sleeper\s*\n(.*\n)*?\s+long\s+-\s+-\s+-\s+-\s+-\s+1\s+-/);
    assert.match(out, /Counter virtual object\s*\n(.*\n)*?\s+add\s+1\s+/);
    assert.match(out, /Active Keys:/);
  });

  it("invocations list shows the active invocations with their status", async () => {
    const sleeper = await idOf("Sleeper/long");
    const out = await ok(["invocations", "list"]);
    assert.match(out, new RegExp(`${sleeper}\\s+Target:\\s+Sleeper/long\\s+Status:\\s+suspended`));
    assert.match(out, /Target:\s+Counter\/held\/add\s+Status:\s+pending/);
    assert.match(out, /Showing \d+\/\d+ invocations/);
  });

  it("invocations describe shows a suspended invocation and its journal", async () => {
    const sleeper = await idOf("Sleeper/long");
    const out = await ok(["invocations", "describe", sleeper]);
    assert.match(out, /Target:\s+Sleeper\/long/);
    assert.match(out, /Status:\s+suspended/);
    assert.match(out, /Deployment:\s+dp_1\w+ \[required\]/);
    assert.match(out, /Invocation Progress:/);
    assert.match(out, /#0 \[[^\]]+\] Command: Input/);
    assert.match(
      out,
      /#1 \[[^\]]+\] Command: Sleep until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \+00:00 \(9 minutes/,
    );
    assert.match(out, />> suspended/);
  });

  it("invocations pause stops a running invocation and resume starts it again", async () => {
    const holder = await idOf("Counter/held/hold", "running");
    const paused = await ok(["invocations", "pause", "--yes", holder]);
    assert.match(paused, new RegExp(`${holder}\\s+Counter/held/hold`));
    assert.match(paused, /\[OK\]: Paused 1 invocations/);
    await idOf("Counter/held/hold", "paused");
    const resumed = await ok(["invocations", "resume", "--yes", holder]);
    assert.match(resumed, /\[OK\]: Resumed 1 invocations/);
    await idOf("Counter/held/hold", "running");
  });

  it("invocations pause leaves a suspended invocation suspended", async () => {
    const sleeper = await idOf("Sleeper/long", "suspended");
    assert.match(await ok(["invocations", "pause", "--yes", sleeper]), /Paused 1 invocations/);
    const [row] = await rows(`SELECT status FROM sys_invocation WHERE id = '${sleeper}'`);
    assert.equal(row?.["status"], "suspended");
  });

  it("invocations restart-as-new starts a completed invocation again under a new id", async () => {
    assert.equal((await postJson(`${server.ingress}/Greeter/greet`, "again")).status, 200);
    const original = await idOf("Greeter/greet", "completed");
    const out = await ok(["invocations", "restart-as-new", "--yes", original]);
    assert.match(out, /\[OK\]: Restarted 1 invocations/);
    const match = new RegExp(`${original}\\s+(inv_1\\w+)`).exec(out);
    assert.ok(match !== null, out);
    const restarted = match[1]!;
    const [row] = await eventually(async () => {
      const found = await rows(
        `SELECT status, invoked_by, restarted_from FROM sys_invocation WHERE id = '${restarted}' AND status = 'completed'`,
      );
      return found.length > 0 ? found : undefined;
    }, "the restarted invocation");
    assert.deepEqual(row, {
      status: "completed",
      invoked_by: "restart_as_new",
      restarted_from: original,
    });
  });

  it("services config patch changes a service option and config view shows it", async () => {
    const out = await ok([
      "services",
      "config",
      "patch",
      "--yes",
      "Counter",
      "--inactivity-timeout",
      "2m",
    ]);
    assert.match(out, /Inactivity timeout:\s+2m/);
    const view = await ok(["services", "config", "view", "Counter"]);
    assert.match(view, /Inactivity timeout:\s+2m/);
    assert.match(view, /Abort timeout:\s+10m/);
  });

  it("invocations cancel lets the suspended handler end gracefully", async () => {
    const sleeper = await idOf("Sleeper/long");
    const out = await ok(["invocations", "cancel", "--yes", sleeper]);
    assert.match(out, new RegExp(`${sleeper}\\s+Sleeper/long`));
    assert.match(out, /\[OK\]: Cancelled 1 invocations/);
    await idOf("Sleeper/long", "completed");
    const [row] = await rows(
      `SELECT completion_result FROM sys_invocation WHERE id = '${sleeper}'`,
    );
    assert.equal(row?.["completion_result"], "success", "the handler caught the cancellation");
  });

  it("invocations kill ends the lock holder at once and the queued call runs", async () => {
    const out = await ok(["invocations", "kill", "--yes", "Counter/held/hold"]);
    assert.match(out, /Counter\/held\/hold/);
    assert.match(out, /\[OK\]: Killed 1 invocations/);
    const holder = await idOf("Counter/held/hold", "completed");
    const [row] = await rows(
      `SELECT completion_failure FROM sys_invocation WHERE id = '${holder}'`,
    );
    assert.equal(row?.["completion_failure"], "[409] killed");
    await idOf("Counter/held/add", "completed");
  });

  it("invocations purge forgets a completed invocation", async () => {
    const sleeper = await idOf("Sleeper/long", "completed");
    const out = await ok(["invocations", "purge", "--yes", sleeper]);
    assert.match(out, /\[OK\]: Purged 1 invocations/);
    assert.deepEqual(await rows(`SELECT id FROM sys_invocation WHERE id = '${sleeper}'`), []);
  });

  it("state get shows an object's state", async () => {
    const out = await ok(["state", "get", "Counter", "bob"]);
    assert.match(out, /Service\s+Counter/);
    assert.match(out, /Key\s+bob/);
    assert.match(out, /KEY\s+VALUE\s*\n\s*count\s+5/);
  });

  it("state edit replaces the state with what the editor wrote, checked by version", async () => {
    const editor = join(home, "editor.sh");
    writeFileSync(editor, `#!/bin/sh\nprintf '{"count": 42, "note": "edited"}' > "$1"\n`);
    chmodSync(editor, 0o755);
    const out = await ok(["state", "edit", "--yes", "Counter", "bob"], { EDITOR: editor });
    assert.match(out, /Successfully submitted state update/);
    await eventually(async () => {
      const state = await rows(
        "SELECT key, value_utf8 FROM state WHERE service_name = 'Counter' AND service_key = 'bob' ORDER BY key",
      );
      return JSON.stringify(state) ===
        JSON.stringify([
          { key: "count", value_utf8: "42" },
          { key: "note", value_utf8: '"edited"' },
        ])
        ? true
        : undefined;
    }, "the edited state");
    const shown = await ok(["state", "get", "Counter", "bob"]);
    assert.match(shown, /count\s+42/);
    assert.match(shown, /note\s+"edited"/);
  });

  it("sql prints the rows of a query as a table", async () => {
    const out = await ok([
      "sql",
      "SELECT target, status FROM sys_invocation WHERE target = 'Counter/bob/add' ORDER BY created_at",
    ]);
    assert.match(out, /TARGET\s+STATUS/);
    assert.match(out, /Counter\/bob\/add\s+completed/);
    assert.match(out, /1 rows\. Query took/);
    const failed = await cli(["sql", "SELECT nope FROM sys_invocation"]);
    assert.notEqual(failed.code, 0);
    assert.match(failed.out, /nope/);
  });
});
