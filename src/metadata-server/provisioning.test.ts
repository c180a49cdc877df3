import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryMetadataStore } from "../metadata/memory_store.js";
import {
  NODES_CONFIG_KEY,
  decodeNodesConfiguration,
  provisionedState,
  registerNode,
} from "./provisioning.js";
import { MetadataStateMachine } from "./state_machine.js";

const node = (name: string) => ({ name, address: `${name}:5122`, roles: ["metadata-server"] });

describe("provisioning and node registration", () => {
  it("provisions a cluster whose only member is the first node, plain id 1, generation 1", () => {
    const state = provisionedState("prod", node("a"));
    assert.deepEqual(state.snapshot.membership.voters, [1]);
    assert.equal(state.snapshot.membership.addresses[1], "a:5122");
    const machine = new MetadataStateMachine();
    machine.restore(state.snapshot.data);
    const config = decodeNodesConfiguration(machine.read(NODES_CONFIG_KEY)!.value);
    assert.deepEqual(
      config.nodes.map((n) => [n.name, n.plainId, n.generation]),
      [["a", 1, 1]],
    );
  });

  it("gives new nodes the next plain id and bumps the generation of a known node on restart", async () => {
    const store = new MemoryMetadataStore();
    assert.equal((await registerNode(store, "prod", node("a"))).plainId, 1);
    assert.equal((await registerNode(store, "prod", node("b"))).plainId, 2);
    const again = await registerNode(store, "prod", node("a"));
    assert.deepEqual([again.plainId, again.generation], [1, 2]);
  });

  it("registers concurrent starters with distinct ids", async () => {
    const store = new MemoryMetadataStore();
    const records = await Promise.all(
      ["a", "b", "c", "d"].map((n) => registerNode(store, "prod", node(n))),
    );
    assert.deepEqual(records.map((r) => r.plainId).sort(), [1, 2, 3, 4]);
  });

  it("refuses to register in a cluster of another name", async () => {
    const store = new MemoryMetadataStore();
    await registerNode(store, "prod", node("a"));
    await assert.rejects(
      registerNode(store, "staging", node("b")),
      /started for cluster 'staging', but its metadata belongs to cluster 'prod'/,
    );
  });
});
