/**
 * The web UI's cluster page (issue 21) in real Chromium against three Keel nodes at {node: 2}: the
 * nodes, partitions, logs and metadata members as `GET /keel/status` reports them, updated live; a
 * node killed with SIGKILL is shown dead and the partitions it led show their new leaders.
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Browser } from "playwright-core";
import { eventually, startCluster, type KeelCluster } from "../e2e/harness.js";
import { assertNoConsoleErrors, launchBrowser, openPage, screenshot } from "./browser.js";

interface ClusterSection {
  nodes: { name: string; node_id: string; alive: boolean }[];
  partitions: { id: number; leader: string | null }[];
}

async function clusterStatus(admin: string): Promise<ClusterSection> {
  const res = await fetch(`${admin}/keel/status`);
  return ((await res.json()) as { cluster: ClusterSection }).cluster;
}

describe("web UI, three nodes", () => {
  let cluster: KeelCluster;
  let browser: Browser;

  before(async () => {
    [cluster, browser] = await Promise.all([
      startCluster({ size: 3, partitions: 4 }),
      launchBrowser(),
    ]);
  });
  after(async () => {
    await browser?.close();
    await cluster?.stop();
    cluster?.cleanup();
  });

  it("shows the nodes, partitions, logs and metadata members, then a killed node dead and its partitions' leaders moved", async () => {
    const admin = cluster.nodes[0]!.admin;
    const watched = await openPage(browser);
    const { page } = watched;
    await page.goto(`${admin}/ui/cluster`);
    const nodes = page.getByRole("table", { name: "Nodes" });
    for (const name of ["n1", "n2", "n3"])
      await nodes.locator(`tr[data-node="${name}"] .badge-alive`).waitFor();
    await page.getByRole("table", { name: "Logs" }).waitFor();
    await page.getByRole("table", { name: "Metadata members" }).getByText("N1").first().waitFor();
    const partitions = page.getByRole("table", { name: "Partitions" });
    const shownLeader = async (id: number) =>
      (
        await partitions
          .locator(`tr[data-partition="${id}"] .leader`)
          .textContent({ timeout: 1000 })
      )?.trim() ?? "";
    // Placement settles after the start: wait until every partition is led and the page shows
    // the leaders the admin API reports.
    const settled = await eventually(
      async () => {
        const status = await clusterStatus(admin);
        if (!status.partitions.every((p) => p.leader !== null)) return undefined;
        for (const p of status.partitions) {
          const shown = await shownLeader(p.id).catch(() => "");
          if (shown !== p.leader) return undefined;
        }
        return status;
      },
      "the page showing every partition's leader",
      30_000,
    );
    // Partitions name their leader by plain node id (N2), the nodes table by name (n2).
    const plainId = (name: string) =>
      settled.nodes.find((n) => n.name === name)!.node_id.split(":")[0]!;
    const led = (name: string) => settled.partitions.filter((p) => p.leader === plainId(name));
    // The victim leads something and is not the node serving the page.
    const victim = ["n2", "n3"].sort((a, b) => led(b).length - led(a).length)[0]!;
    const victimId = plainId(victim);
    const moved = led(victim).map((p) => p.id);
    assert.ok(moved.length > 0, `${victim} leads a partition`);
    await page
      .getByText(/\d+\.\d\/s/)
      .first()
      .waitFor();
    // The leaders' append latency (their claims were appends).
    await partitions
      .getByText(/\d+\.\d ms/)
      .first()
      .waitFor();
    await screenshot(page, "13-cluster");

    await cluster.nodes[Number(victim.slice(1)) - 1]!.kill9();
    await nodes.locator(`tr[data-node="${victim}"] .badge-dead`).waitFor({ timeout: 30_000 });
    for (const id of moved) {
      await eventually(
        async () => {
          const text = await shownLeader(id).catch(() => "");
          return /^N[123]$/.test(text) && text !== victimId ? text : undefined;
        },
        `partition ${id} led by a live node`,
        30_000,
      );
    }
    await screenshot(page, "14-cluster-node-dead");
    assertNoConsoleErrors(watched);
    await page.context().close();
  });
});
