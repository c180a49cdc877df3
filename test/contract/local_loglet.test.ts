import assert from "node:assert/strict";
import {
  constants,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  truncateSync,
  openSync,
  writeSync,
  closeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { LogletOffset } from "../../src/core/brand.js";
import { LocalLoglet, LocalLogStore } from "../../src/bifrost/local/io/local_loglet.js";
import { logletIdOf } from "../../src/bifrost/replicated/types.js";
import type { Loglet } from "../../src/bifrost/loglet.js";
import { describeLogletContract } from "./loglet_contract.js";
import { flipByte, framesOf } from "../support/disk_faults.js";

const root = mkdtempSync(join(tmpdir(), "keel-local-loglet-"));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;

// Small segment files and a tiny cache so that the contract also covers rolling and file reads.
const options = { segmentBytesTarget: 2048, cacheRecordsMax: 8 };
const dirs = new WeakMap<Loglet, string>();

describeLogletContract("local", {
  async create() {
    const dir = join(root, `c${counter++}`);
    const loglet = await LocalLoglet.open(dir, options);
    dirs.set(loglet, dir);
    return loglet;
  },
  async reopen(loglet) {
    const dir = dirs.get(loglet)!;
    await loglet.close();
    const reopened = await LocalLoglet.open(dir, options);
    dirs.set(reopened, dir);
    return reopened;
  },
});

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function segmentFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => n.endsWith(".seg"))
    .sort()
    .map((n) => join(dir, n));
}

/** Forgets that the loglet's last stop was clean, as if the process had been killed. */
function crashed(dir: string): void {
  rmSync(join(dir, "CLEAN"));
}

async function texts(loglet: Loglet): Promise<string[]> {
  const out: string[] = [];
  for (let at = 1; ;) {
    const batch = await loglet.read(LogletOffset(at), 100);
    if (batch.length === 0) return out;
    for (const e of batch) {
      assert.equal(e.kind, "record");
      if (e.kind === "record") {
        out.push(new TextDecoder().decode(e.payload));
        at = e.offset + 1;
      }
    }
  }
}

describe("local loglet recovery", () => {
  it("recovers a torn final frame without losing earlier records", async () => {
    const dir = join(root, "torn");
    let loglet = await LocalLoglet.open(dir);
    await loglet.append([bytes("one"), bytes("two")]);
    await loglet.append([bytes("three-is-longer")]);
    await loglet.close();
    const [file] = segmentFiles(dir);
    // Cut the file in the middle of the last frame, as a crash during write would.
    truncateSync(file!, statSync(file!).size - 5);
    loglet = await LocalLoglet.open(dir);
    assert.deepEqual(await texts(loglet), ["one", "two"]);
    assert.equal((await loglet.findTail()).offset, 3);
    assert.equal(await loglet.append([bytes("three-again")]), 3, "the torn offset is reused");
    await loglet.close();
    loglet = await LocalLoglet.open(dir);
    assert.deepEqual(await texts(loglet), ["one", "two", "three-again"]);
    await loglet.close();
  });

  it("after a crash, cuts a corrupted last frame, but only before the first write", async () => {
    const dir = join(root, "corrupt");
    let loglet = await LocalLoglet.open(dir);
    await loglet.append([bytes("alpha")]);
    await loglet.append([bytes("beta")]);
    await loglet.append([bytes("gamma")]);
    await loglet.close();
    crashed(dir);
    const [file] = segmentFiles(dir);
    // Flip a payload byte of the last append ("gamma" sits at the end of the file).
    const fd = openSync(file!, "r+");
    writeSync(fd, Buffer.from("X"), 0, 1, statSync(file!).size - 2);
    closeSync(fd);
    const damaged = readFileSync(file!);
    loglet = await LocalLoglet.open(dir);
    assert.deepEqual(await texts(loglet), ["alpha", "beta"]);
    assert.deepEqual(readFileSync(file!), damaged, "opening and reading leave the file as it was");
    assert.equal(await loglet.append([bytes("gamma-again")]), 3, "the damaged offset is reused");
    await loglet.close();
    loglet = await LocalLoglet.open(dir);
    assert.deepEqual(await texts(loglet), ["alpha", "beta", "gamma-again"]);
    await loglet.close();
  });

  it("after a clean stop, refuses to cut a corrupted last frame: every frame was durable", async () => {
    const dir = join(root, "corrupt-after-clean-stop");
    let loglet = await LocalLoglet.open(dir);
    for (const text of ["alpha", "beta", "gamma"]) await loglet.append([bytes(text)]);
    await loglet.close();
    const [file] = segmentFiles(dir);
    const last = framesOf(file!).pop()!;
    flipByte(file!, last.end - 2);
    const damaged = readFileSync(file!);
    await assert.rejects(
      LocalLoglet.open(dir),
      (error: Error) =>
        error.message.includes(`frame ${last.number} at byte ${last.at} is corrupt`) &&
        error.message.includes("stopped cleanly") &&
        error.message.includes("refusing to recover"),
    );
    assert.deepEqual(readFileSync(file!), damaged, "nothing was cut");
    // The operator accepts the loss: the damaged frame goes, the rest stays.
    loglet = await LocalLoglet.open(dir, { acceptDamagedTail: true });
    assert.deepEqual(await texts(loglet), ["alpha", "beta"]);
    assert.equal(await loglet.append([bytes("gamma-again")]), 3);
    await loglet.close();
  });

  it("keeps an append whole: a torn multi-record append is lost entirely, never in part", async () => {
    const dir = join(root, "atomic");
    let loglet = await LocalLoglet.open(dir);
    await loglet.append([bytes("a")]);
    await loglet.append([bytes("b1"), bytes("b2"), bytes("b3")]);
    await loglet.close();
    const [file] = segmentFiles(dir);
    truncateSync(file!, statSync(file!).size - 3);
    loglet = await LocalLoglet.open(dir);
    assert.deepEqual(await texts(loglet), ["a"]);
    await loglet.close();
  });

  it("refuses to cut a corrupted frame that intact frames follow in the last file", async () => {
    const dir = join(root, "corrupt-middle");
    let loglet = await LocalLoglet.open(dir);
    for (const text of ["alpha", "beta-beta", "gamma", "delta"]) await loglet.append([bytes(text)]);
    await loglet.close();
    crashed(dir);
    const [file] = segmentFiles(dir);
    const frames = framesOf(file!);
    assert.equal(frames.length, 4, "one frame per append");
    const victim = frames[1]!;
    flipByte(file!, victim.end - 2);
    const size = statSync(file!).size;
    await assert.rejects(
      LocalLoglet.open(dir),
      (error: Error) =>
        error.message.includes(`frame ${victim.number} at byte ${victim.at} is corrupt`) &&
        error.message.includes(`frame ${victim.number + 1}`) &&
        error.message.includes("refusing to recover"),
    );
    assert.equal(statSync(file!).size, size, "nothing was cut");
    // The operator accepts the loss as the message says; then the log opens with the first append.
    truncateSync(file!, victim.at);
    loglet = await LocalLoglet.open(dir);
    assert.deepEqual(await texts(loglet), ["alpha"]);
    await loglet.close();
  });

  it("cuts a tail of zeros or garbage with no intact frame in it", async () => {
    const dir = join(root, "garbage-tail");
    let loglet = await LocalLoglet.open(dir);
    await loglet.append([bytes("one"), bytes("two")]);
    await loglet.close();
    const [file] = segmentFiles(dir);
    const fd = openSync(file!, "a");
    writeSync(fd, Buffer.alloc(4096));
    writeSync(fd, Buffer.from("not a frame, just bytes that a lost write left behind"));
    closeSync(fd);
    loglet = await LocalLoglet.open(dir);
    assert.deepEqual(await texts(loglet), ["one", "two"]);
    assert.equal(await loglet.append([bytes("three")]), 3);
    await loglet.close();
  });

  it("refuses to open with a corrupted frame in an older file (open scans every file)", async () => {
    const dir = join(root, "corrupt-older");
    const small = { segmentBytesTarget: 100, cacheRecordsMax: 1 };
    const loglet = await LocalLoglet.open(dir, small);
    for (const text of ["a", "b", "c"]) await loglet.append([bytes(text.repeat(30))]);
    await loglet.close();
    const files = segmentFiles(dir);
    assert.equal(files.length, 2, "the third append rolled to a new file");
    const frames = framesOf(files[0]!);
    assert.equal(frames.length, 2);
    flipByte(files[0]!, frames[1]!.end - 2);
    const sizes = files.map((f) => statSync(f).size);
    await assert.rejects(
      LocalLoglet.open(dir, small),
      new RegExp(`frame ${frames[1]!.number} at byte ${frames[1]!.at} is corrupt.*refusing`),
    );
    assert.deepEqual(
      files.map((f) => statSync(f).size),
      sizes,
      "nothing was cut",
    );
  });

  it("recovers a last segment file whose header never became durable", async () => {
    const dir = join(root, "emptyfile");
    let loglet = await LocalLoglet.open(dir, { segmentBytesTarget: 64 });
    await loglet.append([bytes("a".repeat(100))]);
    await loglet.append([bytes("b".repeat(100))]);
    await loglet.close();
    const files = segmentFiles(dir);
    assert.equal(files.length, 2, "the second append rolled to a new file");
    truncateSync(files[1]!, 3);
    loglet = await LocalLoglet.open(dir, { segmentBytesTarget: 64 });
    assert.deepEqual(await texts(loglet), ["a".repeat(100)]);
    assert.equal(await loglet.append([bytes("c")]), 2);
    await loglet.close();
  });

  it("trims by unlinking whole segment files only", async () => {
    const dir = join(root, "trimfiles");
    const loglet = await LocalLoglet.open(dir, { segmentBytesTarget: 200, cacheRecordsMax: 2 });
    for (let i = 1; i <= 12; i++) await loglet.append([bytes(`record-${i}-`.padEnd(60, "."))]);
    const before = segmentFiles(dir);
    assert.ok(before.length >= 4, `expected several files, got ${before.length}`);
    await loglet.trim(LogletOffset(7));
    const after = segmentFiles(dir);
    assert.ok(after.length < before.length, "fully trimmed files are removed");
    const [gap, ...rest] = await loglet.read(LogletOffset(1), 100);
    assert.deepEqual(gap, { kind: "trimGap", from: 1, to: 7 });
    assert.deepEqual(rest, []);
    const kept: string[] = [];
    for (let at = 8; at <= 12;) {
      const batch = await loglet.read(LogletOffset(at), 100);
      assert.ok(batch.length > 0, `offset ${at} must be readable`);
      for (const e of batch)
        if (e.kind === "record") kept.push(new TextDecoder().decode(e.payload).split("-")[1]!);
      at += batch.length;
    }
    assert.deepEqual(
      kept,
      ["8", "9", "10", "11", "12"],
      "records after the trim point stay readable from files",
    );
    await loglet.close();
  });
});

describe("local log store shared by many loglets", () => {
  it("keeps each loglet's records apart across interleaved appends, trims and a reopen", async () => {
    const dir = join(root, "shared-stream");
    const options = { segmentBytesTarget: 300 };
    let store = await LocalLogStore.open(dir, options);
    const ids = [logletIdOf(1, 0), logletIdOf(2, 0), logletIdOf(2, 1)];
    for (let round = 0; round < 8; round++) {
      await Promise.all(ids.map((id, i) => store.loglet(id).append([bytes(`${i}-${round}`)])));
    }
    await store.loglet(ids[0]!).trim(LogletOffset(6));
    await store.loglet(ids[2]!).seal();
    await store.close();
    store = await LocalLogStore.open(dir, options);
    assert.deepEqual(
      await texts(store.loglet(ids[1]!)),
      Array.from({ length: 8 }, (_, r) => `1-${r}`),
    );
    const [gap, ...rest] = await store.loglet(ids[0]!).read(LogletOffset(1), 100);
    assert.deepEqual(gap, { kind: "trimGap", from: 1, to: 6 });
    assert.deepEqual(rest, []);
    assert.equal((await store.loglet(ids[0]!).findTail()).offset, 9);
    assert.deepEqual(await store.loglet(ids[2]!).findTail(), { offset: 9, sealed: true });
    assert.equal(await store.loglet(ids[1]!).append([bytes("more")]), 9);
    await store.close();
  });
});

describe("local log store durability", () => {
  /** The open flags of this process's descriptors on the store's segment files (Linux's fdinfo). */
  function segmentFileFlags(dir: string): number[] {
    const flags: number[] = [];
    for (const fd of readdirSync("/proc/self/fd")) {
      let target: string;
      try {
        target = readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        continue; // closed since the listing
      }
      if (!target.startsWith(dir) || !target.endsWith(".seg")) continue;
      const line = readFileSync(`/proc/self/fdinfo/${fd}`, "utf8").match(/^flags:\s+([0-7]+)$/m);
      flags.push(Number.parseInt(line![1]!, 8));
    }
    return flags;
  }

  it("writes through descriptors opened with O_DSYNC, so a write is durable when it returns", async () => {
    const dir = join(root, "dsync");
    const store = await LocalLogStore.open(dir);
    await store.loglet(logletIdOf(1, 0)).append([bytes("durable")]);
    const flags = segmentFileFlags(dir);
    assert.ok(flags.length > 0, "the active segment file is open");
    for (const f of flags) assert.equal(f & constants.O_DSYNC, constants.O_DSYNC);
    await store.close();

    const unsafeDir = join(root, "no-sync");
    const unsafe = await LocalLogStore.open(unsafeDir, { noSync: true });
    await unsafe.loglet(logletIdOf(1, 0)).append([bytes("not durable")]);
    for (const f of segmentFileFlags(unsafeDir)) assert.equal(f & constants.O_DSYNC, 0);
    await unsafe.close();
  });

  it("writes a flush of more appends than one writev takes as one write, all in order", async () => {
    const dir = join(root, "wide-flush");
    let store = await LocalLogStore.open(dir);
    const loglet = store.loglet(logletIdOf(3, 0));
    // 900 appends queued in one task: one flush of 1,800 buffers (frame headers and payloads).
    const offsets = await Promise.all(
      Array.from({ length: 900 }, (_, i) => loglet.append([bytes(`r-${i}`)])),
    );
    assert.deepEqual(
      offsets,
      Array.from({ length: 900 }, (_, i) => i + 1),
    );
    await store.close();
    store = await LocalLogStore.open(dir);
    assert.deepEqual(
      await texts(store.loglet(logletIdOf(3, 0))),
      Array.from({ length: 900 }, (_, i) => `r-${i}`),
    );
    await store.close();
  });
});
