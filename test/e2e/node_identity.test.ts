/**
 * A node's identity in its cluster: each start registers a new incarnation (`N1:1`, then `N1:2`) in
 * the nodes configuration, shown by `keel status`; started for another cluster than its metadata
 * belongs to, the node refuses to start and names both clusters.
 */

import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { TARGET, startKeel, type KeelServer } from "./harness.js";

async function nodeId(keel: KeelServer): Promise<unknown> {
  const res = await fetch(`${keel.admin}/keel/status`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { node_id: unknown }).node_id;
}

describe("node identity", { skip: TARGET === "restate" }, () => {
  let keel: KeelServer | undefined;
  after(async () => {
    await keel?.stop();
    keel?.cleanup();
  });

  it(
    "registers a new generation at every start and refuses another cluster's data",
    { timeout: 60_000 },
    async () => {
      keel = await startKeel({ extraArgs: ["--partitions", "2", "--location", "eu-west.a"] });
      assert.equal(await nodeId(keel), "N1:1");
      assert.equal(await keel.stop(), 0);
      await keel.restart();
      assert.equal(await nodeId(keel), "N1:2");
      assert.equal(await keel.stop(), 0);
      const other = await startKeel({
        baseDir: keel.baseDir,
        extraArgs: ["--partitions", "2", "--cluster-name", "another"],
      }).then(
        (server) => server,
        (error: unknown) => String(error),
      );
      if (typeof other !== "string") {
        await other.stop();
        assert.fail("a node started for another cluster must refuse to start");
      }
      assert.match(
        other,
        /node 'n1' is started for cluster 'another', but its metadata belongs to cluster 'localcluster'/,
      );
    },
  );
});
