/**
 * Hostile operators and damaged disks, against real keel-server processes: a second server on a data
 * directory that another one owns (also from another PID namespace, as two containers sharing a
 * volume would), ...
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DIST, freePorts, startKeel, type KeelServer } from "../e2e/harness.js";

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
