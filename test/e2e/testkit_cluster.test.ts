/**
 * The test kit's cluster (`RestateTestCluster` from `keel/testing`) as a user's test uses it: three
 * `keel-server` nodes serving services of this process, one killed as a crash would while calls go
 * on through another, then started again on its data; state read through a running node; `stop()`
 * leaves no node serving. Keel only: the kit is Keel's.
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as clients from "@restatedev/restate-sdk-clients";
import { RestateTestCluster } from "../../src/testing/index.js";
import { tkCounter } from "../fixtures/testkit_services.js";
import { eventually } from "./harness.js";

const KEYS = ["k0", "k1", "k2", "k3", "k4", "k5"];

describe("test kit: a cluster of three nodes", () => {
  let cluster: RestateTestCluster;

  before(async () => {
    cluster = await RestateTestCluster.start({ services: [tkCounter], nodes: 3 });
  });
  after(() => cluster?.stop());

  /** Adds 1 to every key through node `node`, each add once (an idempotency key per key and round). */
  async function addToEveryKey(node: number, round: string): Promise<number[]> {
    const ingress = clients.connect({ url: cluster.baseUrl(node) });
    return Promise.all(
      KEYS.map((key) =>
        eventually(
          () =>
            Promise.resolve(
              ingress
                .objectClient(tkCounter, key)
                .add(1, clients.rpc.opts({ idempotencyKey: `${round}-${key}` })),
            ).catch(() => undefined),
          `an add to ${key} through node ${node}`,
          30_000,
        ),
      ),
    );
  }

  it("serves through the others while a node is down, and takes it back", async () => {
    assert.deepEqual(
      await addToEveryKey(1, "first"),
      KEYS.map(() => 1),
    );
    await cluster.killNode(1);
    await assert.rejects(fetch(`${cluster.baseUrl(1)}/restate/health`), "node 1 is gone");
    assert.deepEqual(
      await addToEveryKey(2, "second"),
      KEYS.map(() => 2),
    );
    for (const key of KEYS)
      assert.equal(await cluster.stateOf(tkCounter, key).get<number>("count"), 2);
    await cluster.restartNode(1);
    assert.deepEqual(
      await addToEveryKey(1, "third"),
      KEYS.map(() => 3),
    );
    assert.deepEqual(
      await addToEveryKey(3, "third"),
      KEYS.map(() => 3),
      "an add is done once",
    );
  });

  it("says which node does not exist, and refuses to start a running one", async () => {
    await assert.rejects(cluster.killNode(4), /node: 1 to 3, found 4/);
    await assert.rejects(cluster.restartNode(2), /node 2 is running/);
    assert.throws(() => cluster.baseUrl(0), /node: 1 to 3, found 0/);
    await assert.rejects(
      RestateTestCluster.start({ services: [tkCounter], nodes: 1 }),
      /a cluster has at least 2 nodes, found 1/,
    );
  });
});

describe("test kit: a cluster's stop", () => {
  it("leaves no node serving", async () => {
    const cluster = await RestateTestCluster.start({ services: [tkCounter], nodes: 2 });
    const urls = [1, 2].flatMap((node) => [cluster.baseUrl(node), cluster.adminAPIBaseUrl(node)]);
    await cluster.stop();
    for (const url of urls) await assert.rejects(fetch(url), `${url} still answers`);
  });
});
