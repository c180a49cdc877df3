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
import { describe, it } from "node:test";
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
  type CallResult,
  type KeelServer,
} from "./harness.js";

/** How long a client retries one request (on the live nodes in turn) before the test fails. */
const ACKNOWLEDGE_WITHIN_MS = 30_000;
/** After a kill: the failover is over by then (detection 1.2 s, then the takeover). */
const FAILOVER_SETTLED_MS = 3_000;
/** Every worker acknowledges something within this window after the failover. */
const PROGRESS_WINDOW_MS = 4_000;

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
