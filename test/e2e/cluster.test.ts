/**
 * Cluster mode on real processes: three keel-server nodes on loopback at {node: 2}. The status is
 * the same on every node, every record of every partition's log is on two log servers (read from
 * their stores after the nodes stop), and nodes that disagree with the cluster refuse to start.
 * The semantic suites run against such a cluster too (run-tests' `cluster` group).
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { FileLogServerStore } from "../../src/log-server/io/index.js";
import { encodeHello } from "../../src/net/envelope.js";
import { rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import {
  DIST,
  call,
  eventually,
  freePorts,
  postJson,
  register,
  startCluster,
  startKeel,
  startServices,
  tempDir,
  type KeelCluster,
  type KeelServer,
  type ServiceEndpoint,
} from "./harness.js";
import type { ClusterSection } from "./cluster_checks.js";

const KEEL_CLI = join(DIST, "src", "bin", "keel.js");

function statusJson(admin: string): { node: string; node_id?: string; cluster: ClusterSection } {
  const run = spawnSync(process.execPath, [KEEL_CLI, "status", "--json", "--admin", admin], {
    encoding: "utf8",
  });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as { node: string; node_id?: string; cluster: ClusterSection };
}

describe("a cluster of three nodes at {node: 2}", () => {
  let cluster: KeelCluster;
  let services: ServiceEndpoint;

  before(async () => {
    cluster = await startCluster({ size: 3, replication: "2", partitions: 6 });
    services = await startServices();
    const registered = await register(cluster.nodes[2]!.admin, services.url);
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
  });

  after(async () => {
    await services?.stop();
    await cluster?.stop();
    cluster?.cleanup();
  });

  it("serves calls through every node's ingress, across partitions led elsewhere", async () => {
    for (let i = 0; i < 24; i++) {
      const node = cluster.nodes[i % 3]!;
      const res = await postJson(`${node.ingress}/Counter/key-${i % 8}/add`, 1);
      assert.equal(res.status, 200, res.text);
    }
    for (let k = 0; k < 8; k++) {
      const res = await postJson(`${cluster.nodes[k % 3]!.ingress}/Counter/key-${k}/get`, null);
      assert.equal(res.json(), 3);
    }
  });

  it("shows the same cluster on every node: nodes, leaders, replicas, logs, metadata members", async () => {
    // Placement may still be moving leaders onto the node that registered last: wait until it
    // settles (each partition led by its first replica, followed by the other), then compare.
    // The controller balances leaders onto a joining node a pass after its replicas: wait for that
    // too (two leaderships per node).
    const settled = (section: ClusterSection): boolean =>
      section.partitions.every(
        (p) =>
          p.replicas[0]?.node === p.leader &&
          p.replicas[0]?.role === "leader" &&
          p.replicas.slice(1).every((r) => r.role === "follower"),
      ) &&
      new Set(section.partitions.map((p) => p.leader)).size === 3 &&
      [...new Set(section.partitions.map((p) => p.leader))].every(
        (leader) => section.partitions.filter((p) => p.leader === leader).length === 2,
      );
    let last: string[] = [];
    const sections = await eventually(() => {
      const all = cluster.nodes.map((node) => statusJson(node.admin));
      last = all.map((s) => JSON.stringify(s.cluster));
      return last.every((t) => t === last[0]) && settled(all[0]!.cluster) ? all : undefined;
    }, "the same settled status on every node").catch((error: unknown) => {
      throw new Error(`${String(error)}; last seen:\n${last.join("\n")}`);
    });
    assert.deepEqual(
      sections.map((s) => s.node),
      ["n1", "n2", "n3"],
      "apart from the cluster, each answers for itself",
    );
    const section = sections[0]!.cluster;
    assert.deepEqual(section.nodes.map((n) => [n.name, n.alive]).sort(), [
      ["n1", true],
      ["n2", true],
      ["n3", true],
    ]);
    assert.equal(section.partitions.length, 6);
    const leaders = new Map<string, number>();
    for (const partition of section.partitions) {
      assert.equal(partition.replicas.length, 2, JSON.stringify(partition));
      assert.equal(partition.replicas[0]!.node, partition.leader);
      assert.equal(partition.replicas[0]!.role, "leader");
      assert.equal(partition.replicas[1]!.role, "follower");
      leaders.set(partition.leader!, (leaders.get(partition.leader!) ?? 0) + 1);
    }
    assert.deepEqual([...leaders.values()], [2, 2, 2], "leaders spread evenly");
    for (const log of section.logs)
      for (const segment of log.segments) {
        assert.equal(segment.provider, "replicated");
        assert.equal(segment.replication, "{node: 2}");
      }
    assert.deepEqual(section.metadata_members.map((m) => m.problem).filter(Boolean), []);
    assert.equal(section.metadata_members.filter((m) => m.role === "leader").length, 1);
  });

  it("refuses a node of another cluster name, another partition count, or a second process on a node's directory", async () => {
    const [first] = cluster.nodes;
    const baseDir = first!.baseDir;
    const metadataServers = cluster.nodeAddresses[0]!;
    const refused = async (args: string[], nodeName: string): Promise<string> => {
      const node = await startKeel({
        baseDir,
        nodeName,
        waitUntilReady: false,
        extraArgs: ["--metadata-servers", metadataServers, ...args],
      });
      const code = await node.exited();
      assert.notEqual(code, 0);
      return node.output.join("");
    };
    await cluster.nodes[2]!.stop();
    assert.match(
      await refused(["--cluster-name", "other", "--partitions", "6"], "n3"),
      /started for cluster 'other', but its data directory .* belongs to cluster 'localcluster'/,
    );
    await cluster.nodes[2]!.restart();
    assert.match(
      await refused(["--cluster-name", "other", "--partitions", "6"], "n9"),
      /started for cluster 'other', but its metadata belongs to cluster 'localcluster'/,
    );
    assert.match(
      await refused(["--partitions", "4"], "n8"),
      /configured with 4 partitions, but cluster 'localcluster' was provisioned with 6/,
    );
    assert.match(
      await refused(["--partitions", "6"], "n1"),
      /n1.*(in use|locked|another process)/i,
    );
  });

  it("keeps every record of every log on two log servers", async () => {
    const loglets = new Map<string, Map<number, number>>();
    await cluster.stop();
    for (const name of ["n1", "n2", "n3"]) {
      const { store, recovered } = await FileLogServerStore.open(
        join(cluster.nodes[0]!.baseDir, name, "log-server"),
      );
      for (const [id, loglet] of recovered) {
        const copies = loglets.get(id) ?? new Map<number, number>();
        for (const batch of loglet.batches)
          for (let offset = batch.first; offset < batch.end; offset++)
            copies.set(offset, (copies.get(offset) ?? 0) + 1);
        loglets.set(id, copies);
      }
      await store.close();
    }
    assert.ok(loglets.size >= 6, `a loglet per partition at least, found ${loglets.size}`);
    let records = 0;
    for (const [id, copies] of loglets)
      for (const [offset, count] of copies) {
        records++;
        assert.ok(count >= 2, `loglet ${id} offset ${offset} is on ${count} log server(s)`);
      }
    assert.ok(records >= 24, `the calls' records are in the logs (${records})`);
  });
});

describe("a cluster provisioned with keel provision, with a node of fewer roles", () => {
  it("waits for keel provision, then serves through a worker node that has no admin API", async () => {
    const baseDir = tempDir("provision");
    const [port1, port2] = await freePorts(2);
    const metadataServers = `127.0.0.1:${port1}`;
    const first = await startKeel({
      baseDir,
      nodeName: "n1",
      nodePort: port1!,
      waitUntilReady: false,
      extraArgs: ["--metadata-servers", metadataServers, "--replication", "1", "--partitions", "4"],
    });
    const second = await startKeel({
      baseDir,
      nodeName: "n2",
      nodePort: port2!,
      waitUntilReady: false,
      extraArgs: [
        ...["--metadata-servers", metadataServers, "--partitions", "4"],
        ...["--roles", "worker,log-server,http-ingress"],
      ],
    });
    const services = await startServices();
    try {
      await eventually(
        () => (first.output.join("").includes("keel provision --node") ? true : undefined),
        "n1 waiting to be provisioned",
      );
      const provision = (...args: string[]) =>
        spawnSync(process.execPath, [KEEL_CLI, "provision", ...args], { encoding: "utf8" });
      const wrong = provision("--node", metadataServers, "--cluster-name", "other");
      assert.equal(wrong.status, 1, wrong.stderr);
      assert.match(wrong.stderr, /started for cluster 'localcluster', not "other"/);
      const done = provision("--node", metadataServers);
      assert.equal(done.status, 0, done.stderr);
      assert.match(done.stdout, /provisioned 'localcluster'/);
      await eventually(
        async () =>
          (await fetch(`${first.admin}/health`).catch(() => undefined))?.ok ? true : undefined,
        "the provisioned cluster to be ready",
      );
      assert.equal((await register(first.admin, services.url)).status, 201);
      let lastAnswer = "none yet";
      const res = await eventually(async () => {
        const answer = await postJson(`${second.ingress}/Counter/roles/add`, 2).catch(
          (error: unknown) => {
            lastAnswer = String(error);
            return undefined;
          },
        );
        if (answer !== undefined) lastAnswer = `${answer.status} ${answer.text}`;
        return answer?.status === 200 ? answer : undefined;
      }, "a call through n2's ingress").catch((error: Error) => {
        throw new Error(`${error.message}; the last answer: ${lastAnswer}`);
      });
      assert.equal(res.json(), 2);
      const status = statusJson(first.admin).cluster;
      assert.deepEqual(status.nodes.map((n) => n.name).sort(), ["n1", "n2"]);
      assert.deepEqual([...status.nodes.find((n) => n.name === "n2")!.roles].sort(), [
        "http-ingress",
        "log-server",
        "worker",
      ]);
      // The port drawn for n2's admin API stays unbound: whatever answers there (another test's
      // process may have taken the free port since) is not n2.
      const atN2Admin = await call(`${second.admin}/keel/status`).catch(() => undefined);
      let answeredBy: unknown;
      try {
        answeredBy = atN2Admin?.json<{ node?: unknown }>().node;
      } catch {
        // not a Keel status: not n2 either
      }
      assert.notEqual(answeredBy, "n2", "n2 serves no admin API");
      const again = provision("--node", metadataServers, "--timeout", "3000");
      assert.notEqual(again.status, 0, "a provisioned node no longer waits for keel provision");
    } finally {
      await services.stop();
      await Promise.all([first.stop(), second.stop()]);
      rmSync(baseDir, { recursive: true, force: true });
    }
  });
});

describe("node-port authentication with a cluster secret", () => {
  it("joins nodes that hold the secret, refuses a stranger on the node port and a node with another secret", async () => {
    const secretDir = tempDir("secret");
    const secretFile = join(secretDir, "secret");
    const wrongFile = join(secretDir, "wrong");
    writeFileSync(secretFile, "the-clusters-shared-secret-long-enough\n");
    writeFileSync(wrongFile, "some-other-secret-just-as-long\n");
    const cluster = await startCluster({
      size: 2,
      replication: "1",
      partitions: 2,
      extraArgs: () => ["--cluster-secret-file", secretFile],
    });
    const services = await startServices();
    let intruder: KeelServer | undefined;
    try {
      assert.equal((await register(cluster.nodes[0]!.admin, services.url)).status, 201);
      assert.equal(
        (await postJson(`${cluster.nodes[1]!.ingress}/Counter/auth/add`, 1)).json(),
        1,
        "the nodes talk to each other",
      );
      // A stranger says hello on the node port like a node would: refused, and logged.
      const [host, port] = cluster.nodeAddresses[0]!.split(":") as [string, string];
      const stranger = connect(Number(port), host);
      stranger.on("error", () => undefined);
      await new Promise((resolve) => stranger.once("connect", resolve));
      stranger.write(encodeHello({ node: 7, generation: 1 }));
      await new Promise((resolve) => stranger.once("close", resolve));
      await eventually(
        () =>
          cluster.nodes[0]!.output.join("").includes("refused a connection to the node port")
            ? true
            : undefined,
        "the refusal in node 1's log",
      );
      // A node with another secret cannot register: it never appears in the cluster.
      intruder = await startKeel({
        baseDir: cluster.nodes[0]!.baseDir,
        nodeName: "intruder",
        waitUntilReady: false,
        extraArgs: [
          ...["--metadata-servers", cluster.nodeAddresses[0]!, "--partitions", "2"],
          ...["--cluster-secret-file", wrongFile],
        ],
      });
      await new Promise((r) => setTimeout(r, 4_000));
      const nodes = statusJson(cluster.nodes[0]!.admin).cluster.nodes.map((n) => n.name);
      assert.deepEqual(nodes.sort(), ["n1", "n2"]);
    } finally {
      await intruder?.stop();
      await services.stop();
      await cluster.stop();
      cluster.cleanup();
      rmSync(secretDir, { recursive: true, force: true });
    }
  });
});

describe("growing a single node into a cluster", () => {
  it("keeps a single node's data when two nodes join and replication becomes 2", async () => {
    const baseDir = tempDir("grow");
    const destination = `file://${join(baseDir, "shared-snapshots")}`;
    const services = await startServices();
    const nodes: KeelServer[] = [];
    try {
      // One node, on the single-node default, with data.
      const single = await startKeel({
        baseDir,
        extraArgs: ["--partitions", "4", "--snapshot-destination", destination],
      });
      nodes.push(single);
      assert.equal((await register(single.admin, services.url)).status, 201);
      for (let i = 0; i < 16; i++)
        assert.equal(
          (await postJson(`${single.ingress}/Counter/grow-${i % 8}/add`, 1)).status,
          200,
        );
      assert.equal(await single.stop(), 0);
      nodes.length = 0;

      // The same node provisions a cluster with replication 2; two nodes join it.
      const ports = await freePorts(3);
      const metadataServers = `127.0.0.1:${ports[0]}`;
      const clusterArgs = [
        ...["--metadata-servers", metadataServers, "--replication", "2"],
        ...["--snapshot-destination", destination],
      ];
      nodes.push(
        ...(await Promise.all(
          ["n1", "n2", "n3"].map((nodeName, i) =>
            startKeel({
              baseDir,
              nodeName,
              nodePort: ports[i]!,
              extraArgs: [...clusterArgs, ...(i === 0 ? ["--auto-provision"] : [])],
            }),
          ),
        )),
      );
      let lastSeen = "";
      const settled = await eventually(
        () => {
          const section = statusJson(nodes[2]!.admin).cluster;
          lastSeen = JSON.stringify({ partitions: section.partitions, logs: section.logs });
          const ready =
            section.partitions.every(
              (p) =>
                p.replicas.length === 2 &&
                p.replicas.every((r) => r.applied_lsn !== null && r.applied_lsn > 0) &&
                p.replicas[0]!.role === "leader",
            ) && section.logs.every((l) => l.segments.every((s) => s.provider === "replicated"));
          return ready ? section : undefined;
        },
        "two replicas of every partition, all logs replicated",
        60_000,
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}; last seen: ${lastSeen}`);
      });
      assert.equal(settled.partitions.length, 4, "the partition count came from the single node");
      // The single node's data, through the nodes that joined; new invocations work.
      for (let k = 0; k < 8; k++) {
        const node = nodes[1 + (k % 2)]!;
        assert.equal((await postJson(`${node.ingress}/Counter/grow-${k}/get`, null)).json(), 2);
        assert.equal((await postJson(`${node.ingress}/Counter/grow-${k}/add`, 1)).json(), 3);
      }
    } finally {
      await services.stop();
      await Promise.all(nodes.map((n) => n.stop()));
      rmSync(baseDir, { recursive: true, force: true });
    }
  });
});
