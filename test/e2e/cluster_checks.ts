/**
 * What the cluster tests read of a running cluster (`keel status --json`) and check on its disks:
 * every partition's replicas byte-equal once the cluster is quiet.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { openLmdbEnvironment } from "../../src/partition-store/io/index.js";
import { TableReader } from "../../src/partition-store/index.js";
import { digestStore } from "../../src/worker/io/index.js";
import { DIST, eventually, type KeelCluster, type KeelServer } from "./harness.js";
import type { ClusterStatusJson } from "../../src/admin/index.js";

const KEEL_CLI = join(DIST, "src", "bin", "keel.js");
/** How long one request to a node may take before the test tries again or fails. */
export const REQUEST_TIMEOUT_MS = 10_000;

/** The `cluster` section of `keel status --json` (the admin API's status). */
export type ClusterSection = ClusterStatusJson;

export function clusterStatus(admin: string): ClusterSection {
  const run = spawnSync(process.execPath, [KEEL_CLI, "status", "--json", "--admin", admin], {
    encoding: "utf8",
  });
  assert.equal(run.status, 0, run.stderr);
  return (JSON.parse(run.stdout) as { cluster: ClusterSection }).cluster;
}

/** The node of the cluster whose plain id is `plainId` (node names and ids may differ). */
export function nodeWithId(
  cluster: KeelCluster,
  section: ClusterSection,
  plainId: number,
): KeelServer {
  const name = section.nodes.find((n) => n.node_id.startsWith(`N${plainId}:`))?.name;
  const index = cluster.nodes.findIndex((_, i) => `n${i + 1}` === name);
  assert.ok(index >= 0, `node N${plainId} (${name}) is one of the cluster's`);
  return cluster.nodes[index]!;
}

/**
 * Every partition's replicas hold equal stores. The cluster is left quiet until every replica's
 * applied LSN is the same and stays so (their stores are written behind), then every node is killed
 * at once and the stores are read from disk.
 */
export async function assertReplicasEqual(cluster: KeelCluster, partitions: number): Promise<void> {
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
