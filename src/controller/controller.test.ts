import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { NodeId } from "../core/node_id.js";
import { parseReplication } from "../bifrost/replicated/replication.js";
import { controllerNode, desiredPartitionTable, type ClusterNode } from "./controller.js";
import { FailureDetector, type Liveness } from "./failure_detector.js";

const ALL = ["admin", "worker", "log-server", "metadata-server", "http-ingress"];
const node = (plainId: number, roles = ALL, location = ""): ClusterNode => ({
  plainId,
  roles,
  location,
});

describe("failure detector", () => {
  it("suspects after silence, declares dead after more, and revives on a heartbeat", () => {
    const detector = new FailureDetector({ suspectAfterMs: 1_000, deadAfterMs: 3_000 });
    detector.heard(NodeId(2), 5, 0);
    assert.deepEqual(detector.tick(0), [{ node: 2, generation: 5, from: "dead", to: "alive" }]);
    assert.deepEqual(detector.tick(999), []);
    assert.deepEqual(detector.tick(1_000), [
      { node: 2, generation: 5, from: "alive", to: "suspect" },
    ]);
    assert.deepEqual(detector.notDead(), [2]);
    assert.deepEqual(detector.tick(3_500), [
      { node: 2, generation: 5, from: "suspect", to: "dead" },
    ]);
    assert.deepEqual(detector.notDead(), []);
    // An older incarnation's late message does not revive the node.
    detector.heard(NodeId(2), 4, 3_600);
    assert.equal(detector.state(NodeId(2)), "dead");
    detector.heard(NodeId(2), 5, 3_700);
    assert.deepEqual(detector.tick(3_700), [{ node: 2, generation: 5, from: "dead", to: "alive" }]);
  });

  it("reports a restart (a newer generation) even when the node never looked down", () => {
    const detector = new FailureDetector({ suspectAfterMs: 1_000, deadAfterMs: 3_000 });
    detector.heard(NodeId(3), 1, 0);
    detector.tick(0);
    detector.heard(NodeId(3), 2, 500);
    assert.deepEqual(detector.tick(500), [
      { node: 3, generation: 2, from: "restarted", to: "alive" },
    ]);
    assert.equal(detector.state(NodeId(7)), "dead", "a node never heard of is not alive");
  });

  it("declares a node whose connection was refused dead at once, until it is heard again", () => {
    const detector = new FailureDetector({ suspectAfterMs: 1_000, deadAfterMs: 3_000 });
    detector.heard(NodeId(2), 1, 0);
    detector.tick(0);
    detector.refused(NodeId(2));
    assert.deepEqual(detector.tick(100), [{ node: 2, generation: 1, from: "alive", to: "dead" }]);
    // Time alone does not revive it (its last heartbeat is recent), a heartbeat does.
    assert.deepEqual(detector.tick(200), []);
    assert.equal(detector.state(NodeId(2)), "dead");
    detector.heard(NodeId(2), 2, 300);
    assert.deepEqual(detector.tick(300), [
      { node: 2, generation: 2, from: "restarted", to: "alive" },
    ]);
  });
});

describe("cluster controller", () => {
  const states =
    (dead: number[] = [], suspect: number[] = []) =>
    (n: NodeId): Liveness =>
      dead.includes(n) ? "dead" : suspect.includes(n) ? "suspect" : "alive";

  it("runs on the lowest admin node that is not dead", () => {
    const nodes = [node(1), node(2, ["worker"]), node(3)];
    assert.equal(controllerNode(nodes, states()), 1);
    assert.equal(controllerNode(nodes, states([1])), 3, "node 2 is no admin");
    assert.equal(controllerNode(nodes, states([], [1])), 1, "a suspect still runs it");
    assert.equal(controllerNode(nodes, states([1, 3])), undefined);
  });

  it("writes a table once, keeps it while nothing changes, moves only what a dead node held", () => {
    const nodes = [node(1), node(2), node(3), node(4, ["admin"])];
    const view = { nodes, partitions: 6, property: parseReplication(2), current: undefined };
    const first = desiredPartitionTable({ ...view, liveness: states() })!;
    assert.equal(first.length, 6);
    assert.ok(
      first.every((a) => !a.replicas.includes(NodeId(4))),
      "node 4 is no worker",
    );
    assert.equal(desiredPartitionTable({ ...view, current: first, liveness: states() }), undefined);
    assert.equal(
      desiredPartitionTable({ ...view, current: first, liveness: states([], [2]) }),
      undefined,
      "a suspect keeps its place",
    );
    const second = desiredPartitionTable({ ...view, current: first, liveness: states([2]) })!;
    for (const [p, before] of first.entries()) {
      if (!before.replicas.includes(NodeId(2))) assert.deepEqual(second[p], before);
      else assert.ok(!second[p]!.replicas.includes(NodeId(2)));
    }
  });

  it("places replicas across the nodes' locations", () => {
    const nodes = [node(1, ALL, "eu.a"), node(2, ALL, "eu.b"), node(3, ALL, "us.a")];
    const table = desiredPartitionTable({
      nodes,
      liveness: states(),
      partitions: 4,
      property: parseReplication({ region: 2 }),
      current: undefined,
    })!;
    for (const { replicas } of table) assert.ok(replicas.includes(NodeId(3)), "one copy in us");
  });
});
