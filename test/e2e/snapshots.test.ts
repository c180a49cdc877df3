/**
 * Partition snapshots on one real node: taken every few records and on demand (`keel snapshot
 * create`), written with manifests to the default file destination, the logs trimmed below them (the
 * trim point moves, whole segment files can go); then a node whose partition stores were deleted
 * while it was stopped starts from the snapshots plus the log after them, with every state, timer and
 * invocation as they were, and its stores equal (by digest) those of an untouched copy of the node
 * started alike. The same with an S3-compatible destination (s3rver). A destination Keel cannot use
 * is refused at start when malformed and reported (the node serving on) when unwritable.
 */

import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { replayDataDir, type PartitionReplay } from "../../src/worker/io/offline_replay.js";
import {
  DIST,
  TARGET,
  eventually,
  postJson,
  register,
  sqlRows,
  startKeel,
  startServices,
  tempDir,
  type KeelServer,
  type ServiceEndpoint,
} from "./harness.js";
import { startS3Server } from "../support/s3_server.js";

const execFileAsync = promisify(execFile);
const CLI_BIN = join(DIST, "src", "bin", "keel.js");
const SERVER_BIN = join(DIST, "src", "bin", "keel-server.js");
const NODE = "n1";
const KEYS = ["k0", "k1", "k2", "k3", "k4", "k5"];
const ADDS_PER_KEY = 8;

interface SnapshotListing {
  destination: string | null;
  partitions: { id: number; trim_point: number; snapshots: { appliedLsn: number }[] }[];
}

const digestsOf = (replays: PartitionReplay[]): string[] =>
  replays.map((r) => `p${r.partition}@${r.appliedLsn}:${r.digest.sha256}`);

async function listing(admin: string): Promise<SnapshotListing> {
  const res = await fetch(`${admin}/keel/snapshots`);
  assert.equal(res.status, 200);
  return (await res.json()) as SnapshotListing;
}

/** What a user can see of the node's data, without the times that differ between runs. */
async function visibleData(admin: string): Promise<unknown[]> {
  return [
    await sqlRows(
      admin,
      "SELECT service_name, service_key, key, value_utf8 FROM state ORDER BY service_name, service_key, key",
    ),
    await sqlRows(admin, "SELECT id, target, status FROM sys_invocation ORDER BY id"),
  ];
}

describe("partition snapshots on one node", { skip: TARGET === "restate" }, () => {
  let services: ServiceEndpoint;
  const servers: KeelServer[] = [];
  after(async () => {
    for (const server of servers) {
      await server.stop();
      server.cleanup();
    }
    await services?.stop();
  });

  it(
    "snapshots and trims, then restores deleted stores from the snapshots",
    { timeout: 120_000 },
    async () => {
      services = await startServices();
      const keel = await startKeel({
        extraArgs: [
          ...["--partitions", "2", "--snapshot-interval-records", "20"],
          ...["--snapshots-retained", "1"],
        ],
      });
      servers.push(keel);
      assert.equal((await register(keel.admin, services.url)).status, 201);
      for (let round = 0; round < ADDS_PER_KEY; round++) {
        await Promise.all(
          KEYS.map(async (key) => {
            const res = await postJson(`${keel.ingress}/Counter/${key}/add`, 1);
            assert.equal(res.status, 200, res.text);
          }),
        );
      }
      const delayed = await postJson(`${keel.ingress}/Counter/later/add/send?delay=1h`, 5);
      assert.equal(delayed.status, 202, delayed.text);

      // Automatic snapshots, every 20 applied records of a partition, and the logs trimmed below them.
      const automatic = await eventually(async () => {
        const now = await listing(keel.admin);
        const settled = (p: SnapshotListing["partitions"][number]): boolean =>
          p.snapshots.length === 1 &&
          p.trim_point > 0 &&
          p.trim_point === p.snapshots[0]!.appliedLsn;
        return now.partitions.every(settled) ? now : undefined;
      }, "a snapshot of every partition and its log trimmed through it");
      assert.equal(automatic.destination, `file://${join(keel.baseDir, NODE, "snapshots")}`);

      // On demand, through the CLI: one snapshot kept per partition, the newest.
      const created = spawnSync(
        process.execPath,
        [CLI_BIN, "snapshot", "create", "--admin", keel.admin],
        {
          encoding: "utf8",
        },
      );
      assert.equal(created.status, 0, created.stderr);
      assert.match(created.stdout, /PARTITION +SNAPSHOT +LSN/);
      const listed = spawnSync(
        process.execPath,
        [CLI_BIN, "snapshot", "list", "--json", "--admin", keel.admin],
        { encoding: "utf8" },
      );
      assert.equal(listed.status, 0, listed.stderr);
      const afterCreate = JSON.parse(listed.stdout) as SnapshotListing;
      for (const p of afterCreate.partitions) {
        const before = automatic.partitions.find((q) => q.id === p.id)!;
        assert.equal(p.snapshots.length, 1, "the older snapshot was pruned");
        assert.ok(p.snapshots[0]!.appliedLsn >= before.snapshots[0]!.appliedLsn);
        assert.equal(p.trim_point, p.snapshots[0]!.appliedLsn);
        const directory = join(keel.baseDir, NODE, "snapshots", String(p.id));
        const [only, ...more] = readdirSync(directory);
        assert.deepEqual(more, []);
        const manifest = JSON.parse(readFileSync(join(directory, only!, "manifest.json"), "utf8"));
        assert.equal(manifest.appliedLsn, p.snapshots[0]!.appliedLsn);
        assert.equal(manifest.clusterName, "localcluster");
        assert.ok(existsSync(join(directory, only!, "data")));
      }
      const badPartition = spawnSync(
        process.execPath,
        [CLI_BIN, "snapshot", "create", "--partition", "7", "--admin", keel.admin],
        { encoding: "utf8" },
      );
      assert.equal(badPartition.status, 1);
      assert.match(badPartition.stderr, /HTTP 404: there is no partition 7/);

      // One more write after the snapshots: the restore must replay the log after them.
      assert.equal((await postJson(`${keel.ingress}/Counter/k0/add`, 100)).status, 200);
      const expected = await visibleData(keel.admin);
      const states = expected[0] as { service_key: string; key: string; value_utf8: string }[];
      const k0 = states.find((row) => row.service_key === "k0" && row.key === "count");
      assert.equal(k0?.value_utf8, String(ADDS_PER_KEY + 100));
      assert.equal(await keel.stop(), 0, keel.output.join(""));

      // An untouched copy of the node, and the node with its partition stores deleted.
      const untouchedDir = tempDir("snapshots-untouched");
      cpSync(keel.baseDir, untouchedDir, { recursive: true });
      rmSync(join(untouchedDir, NODE, "LOCK"), { force: true });
      rmSync(join(keel.baseDir, NODE, "db"), { recursive: true, force: true });
      await keel.restart();
      assert.deepEqual(await visibleData(keel.admin), expected);
      const untouched = await startKeel({ baseDir: untouchedDir });
      servers.push(untouched);
      assert.deepEqual(await visibleData(untouched.admin), expected);
      assert.equal(await keel.stop(), 0, keel.output.join(""));
      assert.equal(await untouched.stop(), 0, untouched.output.join(""));
      const restored = await replayDataDir(join(keel.baseDir, NODE), { source: "store" });
      const reference = await replayDataDir(join(untouchedDir, NODE), { source: "store" });
      assert.deepEqual(digestsOf(restored), digestsOf(reference));

      // Without its snapshots, a node whose stores are gone refuses to start and says why.
      rmSync(join(keel.baseDir, NODE, "db"), { recursive: true, force: true });
      rmSync(join(keel.baseDir, NODE, "snapshots"), { recursive: true, force: true });
      const refusal = await keel.restart().then(
        () => "started",
        (error: unknown) => String(error),
      );
      assert.match(refusal, /its log is trimmed through LSN \d+ but its store has applied only 0/);
    },
  );

  it(
    "a destination it cannot use: refused at start when malformed, reported when unwritable",
    { timeout: 60_000 },
    async () => {
      const refusals: [string[], RegExp][] = [
        [
          ["--snapshot-destination", "snapshots"],
          /snapshot-destination: 'snapshots': a destination is a file:\/\/\/directory/,
        ],
        [
          ["--snapshot-destination", "file://relative"],
          /a file destination names an absolute directory/,
        ],
        [
          ["--snapshot-destination", "s3://b/p", "--snapshot-s3-endpoint", "minio:9000"],
          /snapshot-s3-endpoint: expected an http:\/\/ or https:\/\/ URL/,
        ],
      ];
      for (const [args, said] of refusals) {
        const refused = spawnSync(
          process.execPath,
          [SERVER_BIN, "--base-dir", tempDir("snapshots-bad"), ...args],
          { encoding: "utf8", timeout: 20_000 },
        );
        assert.equal(refused.status, 2, refused.stderr);
        assert.match(refused.stderr, said);
      }
      // A regular file where the directory should be: the node serves, snapshots fail and say why.
      const blocker = join(tempDir("snapshots-blocked"), "not-a-directory");
      writeFileSync(blocker, "x");
      const keel = await startKeel({
        extraArgs: ["--partitions", "1", "--snapshot-destination", `file://${blocker}`],
      });
      servers.push(keel);
      assert.equal((await register(keel.admin, services.url)).status, 201);
      assert.equal((await postJson(`${keel.ingress}/Counter/blocked/add`, 1)).status, 200);
      const created = spawnSync(
        process.execPath,
        [CLI_BIN, "snapshot", "create", "--admin", keel.admin],
        {
          encoding: "utf8",
        },
      );
      assert.equal(created.status, 1);
      assert.match(
        created.stderr,
        /HTTP 503: snapshot of partition 0 to file:\/\/.*not-a-directory/,
      );
      const status = spawnSync(process.execPath, [CLI_BIN, "status", "--admin", keel.admin], {
        encoding: "utf8",
      });
      assert.equal(status.status, 0, status.stderr);
      assert.match(status.stdout, /Snapshots fail: partition 0/);
      assert.equal((await postJson(`${keel.ingress}/Counter/blocked/add`, 1)).status, 200);
    },
  );

  it(
    "keeps snapshots in an S3-compatible store and restores from there",
    { timeout: 90_000 },
    async () => {
      const s3 = await startS3Server();
      try {
        const keel = await startKeel({
          extraArgs: [
            ...["--partitions", "2", "--snapshot-interval-records", "0"],
            ...["--snapshot-destination", `s3://${s3.bucket}/cluster-a/snapshots`],
            ...["--snapshot-s3-endpoint", s3.endpoint, "--snapshot-s3-path-style"],
          ],
          env: s3.credentials,
        });
        servers.push(keel);
        assert.equal((await register(keel.admin, services.url)).status, 201);
        for (const key of KEYS) {
          assert.equal((await postJson(`${keel.ingress}/Counter/${key}/add`, 3)).status, 200);
        }
        // The S3 server runs in this process: the CLI must not block it (no spawnSync).
        const created = await execFileAsync(process.execPath, [
          ...[CLI_BIN, "snapshot", "create", "--json", "--admin", keel.admin],
        ]);
        const taken = JSON.parse(created.stdout) as { snapshots: { appliedLsn: number }[] };
        assert.equal(taken.snapshots.length, 2);
        const now = await listing(keel.admin);
        assert.equal(now.destination, `s3://${s3.bucket}/cluster-a/snapshots`);
        for (const p of now.partitions) assert.equal(p.trim_point, p.snapshots[0]!.appliedLsn);
        const expected = await visibleData(keel.admin);
        assert.equal(await keel.stop(), 0, keel.output.join(""));
        rmSync(join(keel.baseDir, NODE, "db"), { recursive: true, force: true });
        await keel.restart();
        assert.deepEqual(await visibleData(keel.admin), expected);
        assert.equal((await postJson(`${keel.ingress}/Counter/k1/add`, 1)).status, 200);
        assert.equal(await keel.stop(), 0, keel.output.join(""));
      } finally {
        await s3.close();
      }
    },
  );
});
