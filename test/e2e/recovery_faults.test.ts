/**
 * Fault injection below the process: damage a killed node's files the way crashes and disks do, then
 * show that recovery replays from each store's applied LSN and ends with exactly the state a run
 * without the fault has at the same LSN (SHA-256 digests of every partition's tables, compared with
 * the reference log replayed from LSN 1 by `replayDataDir`), and that the restarted node finishes
 * the work that was in flight. Damage that is not a crash's doing (a corrupted frame inside the
 * acknowledged log, a log that lost records the store applied) must stop the start with a clear
 * message instead.
 *
 * The reference run: a real keel-server and SDK endpoint under mixed load, killed with SIGKILL
 * twice; the copy taken at the first kill provides stores that are older than the final log.
 * Everything random comes from the printed seed (KEEL_FAULT_SEED replays one).
 */

import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { cpSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  cutTornTail,
  replayDataDir,
  type PartitionReplay,
} from "../../src/worker/io/offline_replay.js";
import { seededPrng } from "../../src/core/prng.js";
import {
  appendBytes,
  cutFile,
  encodeFrame,
  flipByte,
  frameHolding,
  framesOf,
  lastSegmentFile,
  recordFramesOf,
  storeAppliedLsns,
  type FrameInFile,
} from "../support/disk_faults.js";
import {
  DIST,
  call,
  postJson,
  register,
  startKeel,
  startServices,
  tempDir,
  type KeelServer,
  type ServiceEndpoint,
} from "./harness.js";

const seed =
  process.env["KEEL_FAULT_SEED"] !== undefined
    ? Number(process.env["KEEL_FAULT_SEED"])
    : randomInt(0, 2 ** 31);
const prng = seededPrng(seed);
const NODE = "n1";

/** Work acknowledged before a kill that must finish after recovery. */
interface InFlight {
  sleepers: { id: string; tag: string }[];
  workflows: string[];
}

async function mixedLoad(ingress: string, tag: string, durationMs: number, inFlight: InFlight) {
  const end = Date.now() + durationMs;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (Date.now() < end) {
      const n = next++;
      const name = `${tag}-${n}`;
      switch (n % 5) {
        case 0:
          await postJson(`${ingress}/Counter/c${n % 7}/add`, 1);
          break;
        case 1:
          await postJson(`${ingress}/Chain/call`, [`k${n % 5}`, `k${(n + 2) % 5}`]);
          break;
        case 2: {
          const res = await postJson(`${ingress}/Greeter/sleepy/send`, name);
          if (res.status === 202)
            inFlight.sleepers.push({
              id: res.json<{ invocationId: string }>().invocationId,
              tag: name,
            });
          break;
        }
        case 3: {
          const res = await postJson(`${ingress}/Signup/${name}/run/send`, `${name}@x`);
          if (res.status === 202) inFlight.workflows.push(name);
          break;
        }
        default:
          await postJson(`${ingress}/Ledger/l${n % 6}/append`, name);
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}

const dataDirOf = (baseDir: string): string => join(baseDir, NODE);

function copyBaseDir(from: string): string {
  const to = tempDir("fault");
  cpSync(from, to, { recursive: true });
  rmSync(join(dataDirOf(to), "LOCK"), { force: true });
  return to;
}

/** Replaces the partition stores of `target` with those of `source` (the log stays). */
function useStoresOf(target: string, source: string): void {
  const db = join(dataDirOf(target), "db");
  rmSync(db, { recursive: true, force: true });
  cpSync(join(dataDirOf(source), "db"), db, { recursive: true });
}

function digestsOf(replays: PartitionReplay[]): string[] {
  return replays.map((r) => `p${r.partition}@${r.appliedLsn}:${r.digest.sha256}`);
}

describe(`fault injection below the process (seed ${seed}, replay with KEEL_FAULT_SEED=${seed})`, () => {
  let services: ServiceEndpoint;
  /** The reference: the final log and the stores as the second kill left them. */
  let reference: string;
  /** A copy taken at the first kill: stores (and log) older than the reference's. */
  let older: string;
  const inFlight: InFlight = { sleepers: [], workflows: [] };
  let partitions = 0;
  const scratch: string[] = [];

  before(async () => {
    console.log(`fault injection seed ${seed}`);
    const startedAt = Date.now();
    services = await startServices();
    const keel = await startKeel();
    reference = keel.baseDir;
    assert.equal((await register(keel.admin, services.url)).status, 201);
    await mixedLoad(keel.ingress, "a", 1200, inFlight);
    await keel.kill9();
    older = copyBaseDir(reference);
    scratch.push(older);
    await keel.restart();
    await mixedLoad(keel.ingress, "b", 1200, inFlight);
    await keel.kill9();
    // Cutting whatever torn tail the kill left (as a start would, before its first write) gives
    // every copy the same, clean log.
    await cutTornTail(dataDirOf(reference));
    partitions = (await replayDataDir(dataDirOf(reference), { source: "fresh" })).length;
    console.log(
      `reference: ${partitions} partitions, ${inFlight.sleepers.length} sleepers and ` +
        `${inFlight.workflows.length} workflows in flight (${Date.now() - startedAt} ms)`,
    );
  });

  after(async () => {
    await services?.stop();
    for (const dir of [reference, ...scratch])
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** A copy of the reference to damage (removed after the tests), with older stores if asked. */
  function faultedCopy(stores: "reference" | "older" = "reference"): string {
    const faulted = copyBaseDir(reference);
    scratch.push(faulted);
    if (stores === "older") useStoresOf(faulted, older);
    return faulted;
  }

  /** Appends bytes made from its last intact frame to the last file of the write-ahead stream. */
  function appendToLog(faulted: string, bytesAfter: (last: FrameInFile) => Buffer): void {
    const file = lastSegmentFile(dataDirOf(faulted));
    const frames = framesOf(file);
    appendBytes(file, bytesAfter(frames[frames.length - 1]!));
  }

  /** Recovery offline: the faulted stores replayed to their log's tail equal a fresh replay. */
  async function assertRecoversToReference(faulted: string): Promise<PartitionReplay[]> {
    const recovered = await replayDataDir(dataDirOf(faulted), { source: "store" });
    const fresh = await replayDataDir(dataDirOf(reference), {
      source: "fresh",
      throughLsn: (p) => recovered[p]!.appliedLsn,
    });
    assert.deepEqual(digestsOf(recovered), digestsOf(fresh));
    return recovered;
  }

  /** The node starts on the damaged data, finishes what was in flight and stays consistent. */
  async function assertNodeFinishesWork(
    baseDir: string,
    options: { lostSubmissionsAllowed: boolean },
  ): Promise<void> {
    const keel = await startKeel({ baseDir });
    try {
      const clicks = inFlight.workflows.map((key) =>
        postJson(`${keel.ingress}/Signup/${key}/click`, `secret-${key}`),
      );
      for (const click of await Promise.all(clicks)) assert.equal(click.status, 200, click.text);
      const sleepers = inFlight.sleepers.map(async ({ id, tag }) => {
        const res = await call(`${keel.ingress}/restate/invocation/${id}/attach`);
        if (res.status === 404 && options.lostSubmissionsAllowed) return;
        assert.equal(res.status, 200, `${tag}: ${res.text}`);
        assert.equal(res.json(), `before-${tag}|after-${tag}`);
      });
      const workflows = inFlight.workflows.map(async (key) => {
        const res = await call(`${keel.ingress}/restate/workflow/Signup/${key}/attach`);
        if (res.status === 404 && options.lostSubmissionsAllowed) return;
        assert.equal(res.status, 200, `${key}: ${res.text}`);
        assert.equal(res.json(), `signed up ${key}@x with secret-${key}`);
      });
      await Promise.all([...sleepers, ...workflows]);
      const fresh = await postJson(`${keel.ingress}/Counter/after-recovery/add`, 5);
      assert.equal(fresh.status, 200, fresh.text);
    } finally {
      assert.equal(await keel.stop(), 0, keel.output.join(""));
    }
    const stores = await replayDataDir(dataDirOf(baseDir), { source: "store" });
    const rebuilt = await replayDataDir(dataDirOf(baseDir), { source: "fresh" });
    assert.deepEqual(
      digestsOf(stores),
      digestsOf(rebuilt),
      "the run after recovery stays consistent",
    );
  }

  /** A start that must fail: returns what the server said. */
  async function startRefused(baseDir: string): Promise<string> {
    const error = await startKeel({ baseDir }).then(
      (keel) => {
        void keel.stop();
        throw new Error("the server started on damaged data");
      },
      (e: unknown) => e as Error,
    );
    return error.message;
  }

  it("a torn final frame in the log: cut, and nothing else changes", async () => {
    const faulted = faultedCopy();
    appendToLog(faulted, (last) => {
      const whole = encodeFrame(last.number + 1, last.payload);
      return whole.subarray(0, 1 + prng.nextInt(whole.length - 1));
    });
    await assertRecoversToReference(faulted);
    await assertNodeFinishesWork(faulted, { lostSubmissionsAllowed: false });
  });

  it("a corrupted final frame (complete, bad checksum): cut as a write never acknowledged", async () => {
    const faulted = faultedCopy();
    appendToLog(faulted, (last) => encodeFrame(last.number + 1, last.payload, true));
    const recovered = await assertRecoversToReference(faulted);
    const tails = (await replayDataDir(dataDirOf(reference), { source: "fresh" })).map(
      (r) => r.logTail,
    );
    assert.deepEqual(
      recovered.map((r) => r.logTail),
      tails,
      "exactly the bad frame was cut",
    );
    await assertNodeFinishesWork(faulted, { lostSubmissionsAllowed: false });
  });

  it("lost store batches (an older LMDB copy, the full log): replayed from the applied LSN", async () => {
    const faulted = faultedCopy("older");
    const before = await storeAppliedLsns(dataDirOf(faulted), partitions);
    const recovered = await assertRecoversToReference(faulted);
    const replayed = recovered.filter((r) => r.appliedLsn > before[r.partition]!);
    assert.ok(replayed.length > partitions / 2, "most partitions had batches to replay");
    await assertNodeFinishesWork(faulted, { lostSubmissionsAllowed: false });
  });

  it("a truncated last segment (cut anywhere past the store's applied LSN): recovers its prefix", async () => {
    const faulted = faultedCopy("older");
    const applied = await storeAppliedLsns(dataDirOf(faulted), partitions);
    const file = lastSegmentFile(dataDirOf(faulted));
    // Keep every record a store applied: cut after the last frame holding one.
    let keepFrom = framesOf(file)[0]!.at;
    for (let p = 0; p < partitions; p++)
      keepFrom = Math.max(keepFrom, frameHolding(file, p, applied[p]!)?.end ?? 0);
    const size = statSync(file).size;
    cutFile(file, keepFrom + prng.nextInt(size - keepFrom + 1));
    await assertRecoversToReference(faulted);
    await assertNodeFinishesWork(faulted, { lostSubmissionsAllowed: true });
  });

  it("a crash between the log's fsync and the store's commit: replayed, identical", async () => {
    const faulted = faultedCopy();
    const allowed = prng.nextInt(40);
    const keel: KeelServer = await startKeel({
      baseDir: faulted,
      nodeArgs: ["--import", join(DIST, "test", "support", "store_commit_fault.js")],
      env: { KEEL_FAULT_COMMITS_ALLOWED: String(allowed) },
    });
    process.kill(keel.pid, "SIGUSR2");
    const died = keel.exited();
    let dead = false;
    void died.then(() => (dead = true));
    for (let i = 0; !dead && i < 2000; i++) {
      await postJson(`${keel.ingress}/Counter/c${i % 7}/add`, 1).catch(() => undefined);
    }
    assert.equal(await died, "SIGKILL", `the fault fired after ${allowed} more commits`);
    const applied = await storeAppliedLsns(dataDirOf(faulted), partitions);
    const stores = await replayDataDir(dataDirOf(faulted), { source: "store" });
    const behind = stores.filter((r) => applied[r.partition]! < r.logTail - 1);
    assert.ok(behind.length > 0, "some store missed records that the log holds");
    const rebuilt = await replayDataDir(dataDirOf(faulted), { source: "fresh" });
    assert.deepEqual(digestsOf(stores), digestsOf(rebuilt));
    await assertNodeFinishesWork(faulted, { lostSubmissionsAllowed: false });
  });

  it("a corrupted frame inside the acknowledged log: the start fails and says where", async () => {
    const faulted = faultedCopy();
    const file = lastSegmentFile(dataDirOf(faulted));
    const frames = framesOf(file);
    assert.ok(frames.length >= 3, "the log holds a few frames");
    const victim = frames[1 + prng.nextInt(frames.length - 2)]!;
    flipByte(file, victim.at + 16 + prng.nextInt(victim.payload.length));
    const message = await startRefused(faulted);
    assert.match(message, new RegExp(`frame ${victim.number} at byte ${victim.at} is corrupt`));
    assert.match(message, /refusing to recover/);
    await assert.rejects(
      replayDataDir(dataDirOf(faulted), { source: "store" }),
      /refusing to recover/,
    );
    assert.equal(statSync(file).size, frames[frames.length - 1]!.end, "the log was not cut");
  });

  it("a log that lost records its store applied: the start fails instead of diverging", async () => {
    const faulted = faultedCopy();
    const applied = await storeAppliedLsns(dataDirOf(faulted), partitions);
    const file = lastSegmentFile(dataDirOf(faulted));
    // The latest frame holding a record some store applied; cutting it cuts that record.
    const lastApplied = recordFramesOf(file)
      .filter((f) => f.first <= applied[f.partition]! && applied[f.partition]! <= f.last)
      .pop()!;
    assert.ok(lastApplied !== undefined, "a store applied a record of the last file");
    cutFile(file, lastApplied.at);
    const message = await startRefused(faulted);
    assert.match(message, /partition \d+: the store has applied LSN \d+/);
    assert.match(message, /missing from the log/);
  });
});
