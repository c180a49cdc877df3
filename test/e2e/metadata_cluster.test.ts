/**
 * A real 3-process metadata cluster on loopback: the first node provisions, two join by name; a
 * compare-and-swap workload runs; the leader is killed with SIGKILL; the others elect a new leader
 * and the workload continues; the killed node restarts from its disk and catches up. Ports
 * 25122-25124 belong to this file. Every process is stopped by its PID when the test ends.
 */

import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Version } from "../../src/core/brand.js";
import { connectMetadataStore } from "../../src/metadata-server/io/metadata_node.js";
import { MUST_NOT_EXIST, PreconditionFailed, matchesVersion } from "../../src/metadata/store.js";
import type { ReplicatedMetadataStore } from "../../src/metadata-server/replicated_store.js";

const TICK_MS = 20;
const PORTS = [25122, 25123, 25124];
const address = (k: number): string => `127.0.0.1:${PORTS[k]}`;
const children = new Map<number, ChildProcess>();
let dataRoot = "";

function startNode(k: number, flags: string[]): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      "dist/src/bin/keel-metadata-node.js",
      ...["--name", `node${k}`, "--listen", address(k), "--tick-ms", String(TICK_MS)],
      ...["--data-dir", join(dataRoot, `node${k}`), "--snapshot-interval", "50"],
      ...flags,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  children.set(k, child);
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`node${k} not ready:\n${output}`)), 20_000);
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("ready")) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once("exit", (code) => reject(new Error(`node${k} exited with ${code}:\n${output}`)));
  });
}

async function leaderIndex(store: ReplicatedMetadataStore, alive: number[]): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    for (const k of alive) {
      const status = await store.status(address(k)).catch(() => undefined);
      if (status?.role === "leader") return k;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  assert.fail("no leader");
}

/** Increments the counter by compare-and-swap; returns the new version. */
async function casIncrement(store: ReplicatedMetadataStore): Promise<number> {
  for (;;) {
    const current = await store.get("counter");
    assert.ok(current !== undefined);
    const next = Number(new TextDecoder().decode(current.value)) + 1;
    try {
      return await store.put(
        "counter",
        new TextEncoder().encode(String(next)),
        matchesVersion(Version(current.version)),
      );
    } catch (error) {
      if (!(error instanceof PreconditionFailed)) throw error;
    }
  }
}

after(async () => {
  for (const child of children.values()) if (child.exitCode === null) child.kill("SIGKILL");
  if (dataRoot !== "") await rm(dataRoot, { recursive: true, force: true });
});

describe("metadata cluster of 3 processes", { timeout: 90_000 }, () => {
  it("survives kill -9 of the leader during a CAS workload", async () => {
    dataRoot = await mkdtemp(join(tmpdir(), "keel-metadata-e2e-"));
    await startNode(0, ["--auto-provision"]);
    await startNode(1, ["--join", address(0)]);
    await startNode(2, ["--join", address(0)]);
    const store = connectMetadataStore("e2e", [0, 1, 2].map(address));
    try {
      await store.put("counter", new TextEncoder().encode("0"), MUST_NOT_EXIST);
      for (let n = 0; n < 20; n++) await casIncrement(store);
      const leader = await leaderIndex(store, [0, 1, 2]);
      const leaderTerm = (await store.status(address(leader))).term;
      children.get(leader)!.kill("SIGKILL");
      const survivors = [0, 1, 2].filter((k) => k !== leader);
      const started = Date.now();
      const version = await casIncrement(store);
      console.log(`CAS resumed ${Date.now() - started} ms after kill -9 of node${leader}`);
      const newLeader = await leaderIndex(store, survivors);
      assert.ok((await store.status(address(newLeader))).term > leaderTerm);
      await startNode(leader, []);
      for (let n = 0; n < 20; n++) await casIncrement(store);
      const final = await store.get("counter");
      assert.equal(final?.version, version + 20);
      assert.equal(new TextDecoder().decode(final.value), String(version + 20 - 1));
    } finally {
      await store.close();
    }
  });
});
