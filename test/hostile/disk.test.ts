/**
 * Disk full and a disk that refuses writes, for real. Appends must fail with a clear 503 and a JSON
 * body, nothing acknowledged may be lost, the node stays up, its health and `keel status` say that
 * it cannot write, and service (and health) resume once writes work.
 * - Disk full: keel-server's data lives on a small tmpfs that the test fills up (needs mount, i.e.
 *   root, as in CI; skipped otherwise).
 * - Refused writes: Linux cannot remount a file system read-only while files are open for writing, so
 *   the test marks the data files immutable (`chattr +i`, on ext4), which makes every write fail even
 *   through descriptors already open, as a disk gone read-only does (skipped where unsupported).
 *   LMDB's lock file stays writable: it is a shared memory mapping, and a mapping whose writes the
 *   file system refuses makes the kernel kill the process (SIGBUS) instead of returning an error.
 */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  call,
  eventually,
  postJson,
  register,
  startKeel,
  startServices,
  tempDir,
  type KeelServer,
  type ServiceEndpoint,
} from "../e2e/harness.js";

function tryRun(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Fills the file system with one file until it refuses even single bytes; returns its path. */
function fillDisk(dir: string): string {
  const path = join(dir, "filler");
  const fd = openSync(path, "w");
  try {
    for (const size of [1 << 20, 65_536, 4096, 512, 1]) {
      const chunk = Buffer.alloc(size, 1);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
      }
    }
  } finally {
    closeSync(fd);
  }
  return path;
}

/**
 * Sends Counter/<key>/add until the server refuses one; returns how many were acknowledged (202) and
 * the refusal. Sends, not calls: a send's only write is its submission, so it is either acknowledged
 * or refused, while an accepted call waits for its invocation to progress.
 */
async function sendUntilRefused(keel: KeelServer, key: string, limit = 400) {
  let acknowledged = 0;
  for (let i = 0; i < limit; i++) {
    const res = await postJson(`${keel.ingress}/Counter/${key}/add/send`, 1);
    if (res.status === 202) {
      acknowledged++;
      continue;
    }
    return { acknowledged, refusal: res };
  }
  throw new Error(`the server kept accepting writes after ${limit} sends`);
}

/** The node is up and answers, but its health (both ports) and status say it cannot write. */
async function assertHealthSaysCannotWrite(keel: KeelServer, reason: RegExp): Promise<void> {
  for (const url of [`${keel.ingress}/restate/health`, `${keel.admin}/health`]) {
    const res = await call(url);
    assert.equal(res.status, 503, `${url}: ${res.text}`);
    assert.match(res.json<{ message: string }>().message, /cannot write to its disk/);
    assert.match(res.text, reason);
  }
  const status = (await call(`${keel.admin}/keel/status`)).json<{
    ready: boolean;
    storage_problem: string | null;
  }>();
  assert.equal(status.ready, false);
  assert.match(status.storage_problem ?? "", reason);
}

/** Health says all is well again (writes work). */
async function assertHealthy(keel: KeelServer): Promise<void> {
  await eventually(async () => {
    const ingress = await call(`${keel.ingress}/restate/health`);
    const admin = await call(`${keel.admin}/health`);
    return ingress.status === 200 && admin.status === 200 ? true : undefined;
  }, "health to say the node can write again");
  const status = (await call(`${keel.admin}/keel/status`)).json<{
    storage_problem: string | null;
  }>();
  assert.equal(status.storage_problem, null);
}

async function counterValue(keel: KeelServer, key: string): Promise<number> {
  return (await postJson(`${keel.ingress}/Counter/${key}/get`, null)).json<number>();
}

async function setup(baseDir: string): Promise<{ keel: KeelServer; services: ServiceEndpoint }> {
  const keel = await startKeel({ baseDir });
  const services = await startServices();
  assert.equal((await register(keel.admin, services.url)).status, 201);
  return { keel, services };
}

const tmpfs = tempDir("tmpfs");
const canMount = tryRun("mount", ["-t", "tmpfs", "-o", "size=96m", "tmpfs", tmpfs]);

describe("disk full", { skip: canMount ? false : "cannot mount a tmpfs here (needs root)" }, () => {
  let keel: KeelServer;
  let services: ServiceEndpoint;

  after(async () => {
    await services?.stop();
    await keel?.stop();
    if (canMount) tryRun("umount", ["-l", tmpfs]);
    rmSync(tmpfs, { recursive: true, force: true });
  });

  it("answers 503 while the disk is full, loses nothing, resumes when space is back, survives a crash", async () => {
    const baseDir = join(tmpfs, "data");
    mkdirSync(baseDir);
    ({ keel, services } = await setup(baseDir));
    const first = await postJson(`${keel.ingress}/Counter/before/add`, 1);
    const firstId = first.headers.get("x-restate-id")!;

    const filler = fillDisk(tmpfs);
    const { acknowledged, refusal } = await sendUntilRefused(keel, "full");
    assert.equal(refusal.status, 503, refusal.text);
    const body = refusal.json<{ code: number; message: string }>();
    assert.equal(body.code, 503);
    assert.match(body.message, /ENOSPC|no space/i);
    assert.equal(
      (await call(`${keel.ingress}/restate/invocation/${firstId}/output`)).json(),
      1,
      "acknowledged results stay readable",
    );
    await assertHealthSaysCannotWrite(keel, /ENOSPC|no space/i);

    rmSync(filler);
    // Every acknowledged send runs once space is back; the refused one left no trace.
    await eventually(
      async () => {
        const value = await counterValue(keel, "full");
        if (process.env["KEEL_TEST_VERBOSE"] === "1")
          console.log(`counter ${value} of ${acknowledged}`);
        return value === acknowledged ? true : undefined;
      },
      "all acknowledged sends applied",
      60_000,
    );
    const resumed = await postJson(`${keel.ingress}/Counter/full/add`, 1);
    assert.equal(resumed.json(), acknowledged + 1);
    await assertHealthy(keel);

    await keel.kill9();
    await keel.restart();
    assert.equal(
      (await postJson(`${keel.ingress}/Counter/full/get`, null)).json(),
      acknowledged + 1,
    );
    assert.equal((await postJson(`${keel.ingress}/Counter/before/get`, null)).json(), 1);
  });
});

const immutableProbe = tempDir("chattr");
writeFileSync(join(immutableProbe, "probe"), "x");
const canChattr =
  tryRun("chattr", ["+i", join(immutableProbe, "probe")]) &&
  tryRun("chattr", ["-i", join(immutableProbe, "probe")]);
rmSync(immutableProbe, { recursive: true, force: true });

describe(
  "a disk that refuses writes",
  { skip: canChattr ? false : "chattr +i is not supported here" },
  () => {
    let keel: KeelServer;
    let services: ServiceEndpoint;
    let baseDir: string;
    const setImmutable = (on: boolean): void => {
      // See the file comment: LMDB's lock file must stay writable, at every instant (marking it
      // immutable even briefly lets a reader-slot write hit the refusing mapping).
      execFileSync(
        "find",
        [baseDir, "-not", "-name", "lock.mdb", "-exec", "chattr", on ? "+i" : "-i", "{}", "+"],
        { stdio: "ignore" },
      );
    };

    after(async () => {
      if (baseDir !== undefined) tryRun("chattr", ["-R", "-i", baseDir]);
      await services?.stop();
      await keel?.stop();
      keel?.cleanup();
    });

    it("answers 503 while writes fail, loses nothing, and resumes when they work again", async () => {
      baseDir = tempDir("refusing");
      ({ keel, services } = await setup(baseDir));
      const acknowledged = await postJson(`${keel.ingress}/Counter/ro/add`, 1);
      assert.equal(acknowledged.json(), 1);
      setImmutable(true);
      let refusal;
      try {
        refusal = await postJson(`${keel.ingress}/Counter/ro/add`, 1);
        await assertHealthSaysCannotWrite(keel, /EPERM|not permitted/i);
      } finally {
        setImmutable(false);
      }
      assert.equal(refusal.status, 503, refusal.text);
      assert.match(refusal.json<{ message: string }>().message, /EPERM|not permitted/i);
      // No request has written since: health recovers by itself (a balancer waiting for it to
      // say so would otherwise never send the traffic that clears it).
      await assertHealthy(keel);
      const value = await eventually(async () => {
        const res = await postJson(`${keel.ingress}/Counter/ro/add`, 1);
        return res.status === 200 ? res.json<number>() : undefined;
      }, "service after writes work again");
      assert.equal(value, 2);
      await assertHealthy(keel);
      await keel.kill9();
      await keel.restart();
      assert.equal((await postJson(`${keel.ingress}/Counter/ro/get`, null)).json(), 2);
    });
  },
);
