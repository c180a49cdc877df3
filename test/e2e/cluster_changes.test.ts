/**
 * A cluster of keel-server processes changing under requests, without the timed windows of the
 * failover test (test/e2e/cluster_failover.test.ts, which runs alone): a node lost from the nodesets
 * the logs started on, logs trimmed below snapshots and a fourth node that starts from them, and a
 * leader stopped while a call waits on it. Each waits for its outcome by polling, so it may share the
 * machine with another test file.
 */

import assert from "node:assert/strict";
import { readdirSync, rmSync } from "node:fs";
import { describe, it } from "node:test";
import { PartitionTable, partitionKeyOf } from "../../src/core/partitioning.js";
import {
  assertReplicasEqual,
  clusterStatus,
  nodeWithId,
  REQUEST_TIMEOUT_MS,
} from "./cluster_checks.js";
import {
  call,
  eventually,
  register,
  startCluster,
  startServices,
  tempDir,
  type KeelServer,
} from "./harness.js";

describe("a node lost from the nodesets chosen while the cluster formed", () => {
  it("leaves no log stuck: nodesets grow with the cluster, the survivors serve every partition", async () => {
    // Two nodes place the partitions, so every log starts on a nodeset of two log servers, which
    // could not even be sealed without both; the third node joins after.
    const cluster = await startCluster({ size: 3, replication: "2", partitions: 4, startFirst: 2 });
    const services = await startServices();
    try {
      assert.equal((await register(cluster.nodes[0]!.admin, services.url)).status, 201);
      const keys = Array.from({ length: 12 }, (_, k) => `formed-${k}`);
      const addEverywhere = async (nodes: readonly KeelServer[], round: number): Promise<void> => {
        for (const [k, key] of keys.entries()) {
          const node = nodes[k % nodes.length]!;
          await eventually(async () => {
            const res = await call(`${node.ingress}/Counter/${key}/add`, {
              method: "POST",
              headers: { "content-type": "application/json", "idempotency-key": `${key}-${round}` },
              body: "1",
              signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
            }).catch(() => undefined);
            return res?.status === 200 ? true : undefined;
          }, `add ${round} to ${key} through ${node.ingress}`);
        }
      };
      await addEverywhere(cluster.nodes, 1);
      const narrow = clusterStatus(cluster.nodes[0]!.admin).logs.map(
        (log) => log.segments.at(-1)!.nodeset!.length,
      );
      assert.ok(
        narrow.every((n) => n === 2),
        `logs on the two nodes there were: ${narrow.join(",")}`,
      );

      await cluster.startRemaining();
      await eventually(() => {
        const widths = clusterStatus(cluster.nodes[2]!.admin).logs.map(
          (log) => log.segments.at(-1)!.nodeset!.length,
        );
        return widths.every((n) => n === 3) ? true : undefined;
      }, "every log continued on a nodeset of all three log servers");

      const [first, second, third] = cluster.nodes as [KeelServer, KeelServer, KeelServer];
      await second.kill9();
      const started = Date.now();
      await addEverywhere([first, third], 2);
      console.log(`every partition served ${Date.now() - started} ms after the kill of n2`);
      for (const key of keys) {
        const res = await call(`${first.ingress}/Counter/${key}/get`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "null",
        });
        assert.equal(res.json(), 2, `${key} counts both adds`);
      }
    } finally {
      await services.stop();
      await cluster.stop();
      cluster.cleanup();
    }
  });
});

describe("snapshots in a cluster: trimmed logs, a fourth node that starts from them", () => {
  it("trims every log below its leader's snapshots and gives a joining node replicas equal to the others'", async () => {
    const destination = tempDir("shared-snapshots");
    const cluster = await startCluster({
      size: 4,
      startFirst: 3,
      replication: "2",
      partitions: 4,
      extraArgs: () => [
        "--snapshot-destination",
        `file://${destination}`,
        "--snapshot-interval-records",
        "20",
      ],
    });
    const services = await startServices();
    const adds = new Map<string, number>();
    const addRound = async (round: number): Promise<void> => {
      for (let k = 0; k < 48; k++) {
        const key = `snap-${k % 16}`;
        const node = cluster.nodes[k % cluster.nodes.length]!;
        await eventually(async () => {
          const res = await call(`${node.ingress}/Counter/${key}/add`, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              "idempotency-key": `${key}-${round}-${k}`,
            },
            body: "1",
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          }).catch(() => undefined);
          return res?.status === 200 ? true : undefined;
        }, `add ${round}-${k} to ${key}`);
        adds.set(key, (adds.get(key) ?? 0) + 1);
      }
    };
    try {
      assert.equal((await register(cluster.nodes[0]!.admin, services.url)).status, 201);
      await addRound(1);
      await addRound(2);
      // Every leader snapshots its partition every 20 records and trims its log below the snapshot
      // once both replicas applied that far.
      const trimmed = await eventually(() => {
        const section = clusterStatus(cluster.nodes[0]!.admin);
        const points = section.partitions.map(
          (p) => p.replicas.find((r) => r.role === "leader")?.trim_point ?? 0,
        );
        return points.every((t) => t > 0) ? points : undefined;
      }, "every partition's log trimmed below a snapshot");
      const manifests = readdirSync(destination, { recursive: true }).filter((f) =>
        String(f).endsWith(".json"),
      );
      assert.ok(
        manifests.length >= 4,
        `snapshot manifests in ${destination}: ${manifests.join(", ")}`,
      );

      // The fourth node cannot read these logs from their start: its replicas begin at a snapshot.
      await cluster.startRemaining();
      const fourth = await eventually(() => {
        const section = clusterStatus(cluster.nodes[0]!.admin);
        const id = section.nodes.find((n) => n.name === "n4")?.node_id.split(":")[0];
        const held = section.partitions.filter((p) => p.replicas.some((r) => r.node === id));
        return id !== undefined && held.length > 0 ? held.map((p) => p.id) : undefined;
      }, "the fourth node holding replicas");
      await addRound(3);
      console.log(
        `logs trimmed through ${trimmed.join(",")} before n4 joined; n4 holds partitions ${fourth.join(",")}`,
      );
      for (const [key, count] of adds) {
        const res = await call(`${cluster.nodes[3]!.ingress}/Counter/${key}/get`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "null",
        });
        assert.equal(res.json(), count, `${key} counts its ${count} adds`);
      }
      await assertReplicasEqual(cluster, 4);
    } finally {
      await services.stop();
      await cluster.stop();
      cluster.cleanup();
      rmSync(destination, { recursive: true, force: true });
    }
  });
});

describe("a leader that loses its partition while a call waits on it", () => {
  it("answers the call from the new leader once the old one steps down", async () => {
    const cluster = await startCluster({ size: 3, replication: "2", partitions: 4 });
    const services = await startServices();
    const entry = cluster.nodes[0]!;
    let stopped: KeelServer | undefined;
    try {
      assert.equal((await register(entry.admin, services.url)).status, 201);
      // A key led by another node than the one the call enters through, once placement settled.
      let previous = "";
      const { section, key } = await eventually(async () => {
        const now = clusterStatus(entry.admin);
        const leaders = now.partitions.map((p) => p.leader ?? "-").join(",");
        const settled = leaders === previous && !leaders.includes("-");
        previous = leaders;
        if (!settled) {
          await new Promise((resolve) => setTimeout(resolve, 3_000));
          return undefined;
        }
        const entryId = now.nodes.find((n) => n.name === "n1")!.node_id.split(":")[0];
        const table = new PartitionTable(4);
        for (let i = 0; i < 100; i++) {
          const candidate = `stepdown-${i}`;
          const leader = now.partitions[table.partitionOf(partitionKeyOf(candidate))]!.leader;
          if (leader !== entryId) return { section: now, key: candidate };
        }
        return undefined;
      }, "a settled placement and a key led by another node than n1");
      const partition = new PartitionTable(4).partitionOf(partitionKeyOf(key));
      const leaderId = Number(section.partitions[partition]!.leader!.slice(1));
      const leader = nodeWithId(cluster, section, leaderId);

      const held = call(`${entry.ingress}/Counter/${key}/hold`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "null",
      });
      const awakeable = await eventually(async () => {
        const res = await call(`${entry.ingress}/Counter/${key}/awakeableId`, { method: "POST" });
        return res.status === 200 ? (res.json<string | null>() ?? undefined) : undefined;
      }, "the call waits on its awakeable");
      // The leader stops answering (not a crash: its connections stay open, the call's wait on it
      // too); the others hand its partition to the other replica.
      process.kill(leader.pid, "SIGSTOP");
      stopped = leader;
      await eventually(
        () => {
          const now = clusterStatus(entry.admin);
          const led = now.partitions[partition]!.leader;
          return led !== null && led !== `N${leaderId}` ? led : undefined;
        },
        "the partition led by another node",
        30_000,
      );
      const resolved = await call(`${entry.ingress}/restate/awakeables/${awakeable}/resolve`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify("go"),
      });
      assert.equal(resolved.status, 202, resolved.text);
      // Back, the old leader reads its successor's announcement and steps down: the call it held
      // is answered from the new leader (it was answered 470 "not completed yet" before).
      process.kill(leader.pid, "SIGCONT");
      stopped = undefined;
      const answer = await held;
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.json(), "released with go");
    } finally {
      if (stopped !== undefined) process.kill(stopped.pid, "SIGCONT");
      await services.stop();
      await cluster.stop();
      cluster.cleanup();
    }
  });
});
