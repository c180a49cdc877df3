/**
 * Failover on real processes (issue 18's end-to-end acceptance): three keel-server nodes at
 * {node: 2} under a steady mixed load through the live nodes' ingress (exclusive calls and one-way
 * sends that increment counters, calls of a service with journaled steps, workflows that sleep and
 * wait for an awakeable, every request with an idempotency key and retried on another node until it
 * is acknowledged). One node is killed with SIGKILL, the load goes on, and the node comes back. Then:
 * every acknowledged increment counted once, every call answered with its handler's output, every
 * workflow finished, all nodes alive with their replicas caught up, and every partition's replicas
 * hold byte-equal stores (read from disk once the cluster is quiet and killed at once).
 * Three victims: the node that leads the most partitions, the metadata leader, a node that leads
 * nothing (only a follower).
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { openLmdbEnvironment } from "../../src/partition-store/io/index.js";
import { TableReader } from "../../src/partition-store/index.js";
import { PartitionTable, partitionKeyOf } from "../../src/core/partitioning.js";
import { digestStore } from "../../src/worker/io/index.js";
import {
  DIST,
  call,
  eventually,
  register,
  startCluster,
  startServices,
  tempDir,
  type CallResult,
  type KeelCluster,
  type KeelServer,
} from "./harness.js";

const KEEL_CLI = join(DIST, "src", "bin", "keel.js");
/** How long a client retries one request (on the live nodes in turn) before the test fails. */
const ACKNOWLEDGE_WITHIN_MS = 30_000;
const REQUEST_TIMEOUT_MS = 10_000;
/** After a kill: the failover is over by then (detection 1.2 s, then the takeover). */
const FAILOVER_SETTLED_MS = 3_000;
/** Every worker acknowledges something within this window after the failover. */
const PROGRESS_WINDOW_MS = 4_000;

interface ClusterSection {
  nodes: { name: string; node_id: string; alive: boolean }[];
  partitions: {
    id: number;
    leader: string | null;
    replicas: {
      node: string;
      role: string | null;
      applied_lsn: number | null;
      trim_point: number | null;
    }[];
  }[];
  metadata_members: { node: string; role: string }[];
  logs: { log_id: number; segments: { nodeset?: string[] }[] }[];
}

function clusterStatus(admin: string): ClusterSection {
  const run = spawnSync(process.execPath, [KEEL_CLI, "status", "--json", "--admin", admin], {
    encoding: "utf8",
  });
  assert.equal(run.status, 0, run.stderr);
  return (JSON.parse(run.stdout) as { cluster: ClusterSection }).cluster;
}

/** The node of the cluster whose plain id is `plainId` (node names and ids may differ). */
function nodeWithId(cluster: KeelCluster, section: ClusterSection, plainId: number): KeelServer {
  const name = section.nodes.find((n) => n.node_id.startsWith(`N${plainId}:`))?.name;
  const index = cluster.nodes.findIndex((_, i) => `n${i + 1}` === name);
  assert.ok(index >= 0, `node N${plainId} (${name}) is one of the cluster's`);
  return cluster.nodes[index]!;
}

type Victim = "most-leaders" | "metadata-leader" | "follower-only";

class MixedLoad {
  readonly counters = new Map<string, number>();
  calls = 0;
  errands = 0;
  failedAttempts = 0;
  /** Acknowledged requests per worker: each must go on while a node is down. */
  readonly acknowledgedBy = new Map<string, number>();
  private stopped = false;
  private readonly workers: Promise<void>[] = [];

  constructor(private readonly liveNodes: () => readonly KeelServer[]) {}

  start(): void {
    // A worker that fails stops the others, and stop() reports its failure.
    const run = (worker: Promise<void>): Promise<void> =>
      worker.catch((error: unknown) => {
        this.stopped = true;
        throw error;
      });
    for (let w = 0; w < 3; w++) this.workers.push(run(this.counterWorker(w)));
    this.workers.push(run(this.greeterWorker()));
    for (let w = 0; w < 2; w++) this.workers.push(run(this.errandWorker(w)));
    for (const worker of this.workers) worker.catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const failed = (await Promise.allSettled(this.workers)).find((r) => r.status === "rejected");
    if (failed !== undefined) throw failed.reason;
  }

  /** Sends a request to the live nodes in turn until `accepted` says its answer is the one. */
  private async acknowledged(
    what: string,
    request: (node: KeelServer) => Promise<CallResult>,
    accepted: (result: CallResult) => boolean,
  ): Promise<CallResult> {
    const deadline = Date.now() + ACKNOWLEDGE_WITHIN_MS;
    const worker = what.split(" ")[0]!;
    let last = "none";
    for (let attempt = 0; ; attempt++) {
      const nodes = this.liveNodes();
      const node = nodes[attempt % nodes.length]!;
      try {
        const result = await request(node);
        if (accepted(result)) {
          this.acknowledgedBy.set(worker, (this.acknowledgedBy.get(worker) ?? 0) + 1);
          return result;
        }
        last = `${result.status} ${result.text}`;
      } catch (error) {
        last = String(error);
      }
      this.failedAttempts++;
      if (Date.now() > deadline)
        assert.fail(`${what}: not acknowledged within ${ACKNOWLEDGE_WITHIN_MS} ms (last: ${last})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private post(node: KeelServer, path: string, body: unknown, idempotencyKey?: string) {
    return call(`${node.ingress}${path}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(idempotencyKey === undefined ? {} : { "idempotency-key": idempotencyKey }),
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  }

  /** Exclusive calls and one-way sends, each adding 1 to one of the worker's counters. */
  private async counterWorker(w: number): Promise<void> {
    for (let n = 0; !this.stopped; n++) {
      const key = `fo-${w}-${n % 4}`;
      const send = n % 3 === 2;
      const path = `/Counter/${key}/add${send ? "/send" : ""}`;
      await this.acknowledged(
        `add-${w} ${n}`,
        (node) => this.post(node, path, 1, `add-${w}-${n}`),
        (r) => r.status === (send ? 202 : 200),
      );
      this.counters.set(key, (this.counters.get(key) ?? 0) + 1);
    }
  }

  /** Calls of a service that journals three steps: the output is always its handler's. */
  private async greeterWorker(): Promise<void> {
    for (let n = 0; !this.stopped; n++) {
      const result = await this.acknowledged(
        `greet ${n}`,
        (node) => this.post(node, "/Greeter/greet", `g${n}`, `greet-${n}`),
        (r) => r.status === 200,
      );
      assert.equal(result.json(), `hello g${n}!`);
      this.calls++;
    }
  }

  /** Workflows that sleep, then wait for an awakeable that this worker resolves. */
  private async errandWorker(w: number): Promise<void> {
    for (let n = 0; !this.stopped; n++) {
      const id = `errand-${w}-${n}`;
      await this.acknowledged(
        `errand-${w} start ${id}`,
        (node) => this.post(node, `/Errand/${id}/run/send`, 200),
        (r) => r.status === 202,
      );
      const awakeable = await this.acknowledged(
        `errand-${w} awakeable of ${id}`,
        (node) => this.post(node, `/Errand/${id}/awakeable`, null),
        (r) => r.status === 200 && typeof r.json() === "string",
      );
      await this.acknowledged(
        `errand-${w} resolve ${id}`,
        (node) =>
          this.post(node, `/restate/awakeables/${awakeable.json<string>()}/resolve`, `ok-${id}`),
        (r) => r.status === 200 || r.status === 202,
      );
      const output = await this.acknowledged(
        `errand-${w} attach ${id}`,
        (node) =>
          call(`${node.ingress}/restate/workflow/Errand/${id}/attach`, {
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          }),
        (r) => r.status === 200,
      );
      assert.equal(output.json(), `${id} got ok-${id}`);
      this.errands++;
    }
  }
}

/**
 * Every partition's replicas hold equal stores. The cluster is left quiet until every replica's
 * applied LSN is the same and stays so (their stores are written behind), then every node is killed
 * at once and the stores are read from disk.
 */
async function assertReplicasEqual(cluster: KeelCluster, partitions: number): Promise<void> {
  // Since when the status has shown these same settled LSNs (one status takes a CLI process, a
  // few tenths of a second: the second is counted on the clock, not in polls).
  let stableSince: number | undefined;
  let previous = "";
  const section = await eventually(
    () => {
      const section = clusterStatus(cluster.nodes[0]!.admin);
      const lsns = section.partitions.map((p) => p.replicas.map((r) => r.applied_lsn));
      const settled =
        section.nodes.every((n) => n.alive) &&
        lsns.every((l) => l.length >= 2 && l.every((lsn) => lsn !== null && lsn === l[0]));
      const now = JSON.stringify(lsns);
      if (!settled) stableSince = undefined;
      else if (now !== previous || stableSince === undefined) stableSince = Date.now();
      previous = now;
      return stableSince !== undefined && Date.now() - stableSince >= 1_000 ? section : undefined;
    },
    "every replica at the same applied LSN for a second",
    60_000,
  );
  // A node keeps the store of a replica placed elsewhere since (it is not read again).
  const nameOf = (plainId: string): string | undefined =>
    section.nodes.find((n) => n.node_id.startsWith(`${plainId}:`))?.name;
  const placed = new Map(
    section.partitions.map((p) => [p.id, new Set(p.replicas.map((r) => nameOf(r.node)))]),
  );
  await new Promise((r) => setTimeout(r, 1_000));
  await Promise.all(cluster.nodes.map((node) => node.kill9()));
  const stores = new Map<number, { node: string; lsn: number; sha256: string }[]>();
  for (const [i, node] of cluster.nodes.entries()) {
    const dir = join(node.baseDir, `n${i + 1}`, "db");
    const { environment } = await openLmdbEnvironment(dir, (error) => {
      throw error;
    });
    try {
      for (let p = 0; p < partitions; p++) {
        const reader = environment.partition(p).reader();
        const lsn = new TableReader(reader).fsm().appliedLsn;
        if (!placed.get(p)?.has(`n${i + 1}`)) continue;
        stores.set(p, [
          ...(stores.get(p) ?? []),
          { node: `n${i + 1}`, lsn, sha256: digestStore(reader).sha256 },
        ]);
      }
    } finally {
      await environment.close();
    }
  }
  for (let p = 0; p < partitions; p++) {
    const replicas = stores.get(p) ?? [];
    assert.equal(replicas.length, 2, `partition ${p} has its two replicas on disk`);
    assert.equal(
      new Set(replicas.map((r) => `${r.lsn}:${r.sha256}`)).size,
      1,
      `partition ${p}: replicas differ: ${JSON.stringify(replicas)}`,
    );
  }
}

async function failover(victimKind: Victim, partitions: number): Promise<void> {
  const cluster = await startCluster({ size: 3, replication: "2", partitions });
  const services = await startServices();
  try {
    assert.equal((await register(cluster.nodes[2]!.admin, services.url)).status, 201);
    const before = await eventually(() => {
      const section = clusterStatus(cluster.nodes[2]!.admin);
      const led = section.partitions.every((p) => p.leader !== null);
      const metadataLeader = section.metadata_members.find((m) => m.role === "leader");
      return led && metadataLeader !== undefined ? section : undefined;
    }, "every partition led and a metadata leader");
    const leads = (plainId: number): number =>
      before.partitions.filter((p) => p.leader === `N${plainId}`).length;
    const plainIds = [1, 2, 3];
    const victimId =
      victimKind === "most-leaders"
        ? plainIds.sort((a, b) => leads(b) - leads(a))[0]!
        : victimKind === "metadata-leader"
          ? Number(before.metadata_members.find((m) => m.role === "leader")!.node.slice(1))
          : plainIds.find((id) => leads(id) === 0);
    assert.ok(
      victimId !== undefined,
      `a victim of kind ${victimKind} in ${JSON.stringify(before)}`,
    );
    const victim = nodeWithId(cluster, before, victimId);
    let victimDown = false;
    const load = new MixedLoad(() => cluster.nodes.filter((n) => !(victimDown && n === victim)));
    load.start();
    await new Promise((r) => setTimeout(r, 2_000));
    victimDown = true;
    await victim.kill9();
    // Once the failover is done (well within FAILOVER_SETTLED_MS), every worker goes on: no
    // partition may stay stuck until the victim returns (as one whose log could not be sealed did).
    await new Promise((r) => setTimeout(r, FAILOVER_SETTLED_MS));
    const settled = new Map(load.acknowledgedBy);
    await new Promise((r) => setTimeout(r, PROGRESS_WINDOW_MS));
    const stuck = [...settled]
      .filter(([worker, n]) => load.acknowledgedBy.get(worker) === n)
      .map(([worker]) => worker);
    const during = { counters: [...load.counters.values()].reduce((a, b) => a + b, 0) };
    await victim.restart();
    victimDown = false;
    await new Promise((r) => setTimeout(r, 3_000));
    await load.stop();
    assert.deepEqual(
      stuck,
      [],
      `workers with nothing acknowledged ${FAILOVER_SETTLED_MS}-${FAILOVER_SETTLED_MS + PROGRESS_WINDOW_MS} ms after the kill`,
    );

    const total = [...load.counters.values()].reduce((a, b) => a + b, 0);
    assert.ok(total > during.counters && during.counters > 10, "the load went on through the kill");
    assert.ok(load.calls > 5 && load.errands > 2, "calls and workflows went on");
    for (const [key, count] of load.counters)
      await eventually(async () => {
        const res = await call(`${cluster.nodes[0]!.ingress}/Counter/${key}/get`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "null",
        });
        return res.status === 200 && res.json() === count ? true : undefined;
      }, `${key} counts its ${count} acknowledged adds once`);
    console.log(
      `failover of the ${victimKind} node N${victimId}: ${total} adds, ${load.calls} calls, ${load.errands} workflows, ${load.failedAttempts} attempts retried`,
    );
    await assertReplicasEqual(cluster, partitions);
  } finally {
    await services.stop();
    await cluster.stop();
    cluster.cleanup();
  }
}

describe("failover under a mixed load: kill -9, keep going, restart", () => {
  it("of the node that leads the most partitions", () => failover("most-leaders", 6));
  it("of the metadata leader", () => failover("metadata-leader", 6));
  it("of a node that leads no partition (only a follower)", () => failover("follower-only", 2));
});

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
