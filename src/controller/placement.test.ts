import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { NodeId } from "../core/node_id.js";
import { seededPrng } from "../core/prng.js";
import {
  isWriteQuorum,
  parseLocation,
  parseReplication,
  type Topology,
} from "../bifrost/replicated/replication.js";
import {
  placePartitions,
  rebalance,
  type PartitionAssignment,
  type PlacementInput,
} from "./placement.js";

const ids = (...ns: number[]): NodeId[] => ns.map((n) => NodeId(n));
const topologyOf = (locations: Record<number, string>): Topology =>
  new Map(Object.entries(locations).map(([n, l]) => [NodeId(Number(n)), parseLocation(l)]));

function checkInvariants(input: PlacementInput, placed: PartitionAssignment[]): void {
  assert.equal(placed.length, input.partitions);
  const alive = new Set(input.workers);
  const copies = Math.min(input.property.node, alive.size);
  for (const [p, { leader, replicas }] of placed.entries()) {
    assert.equal(replicas.length, copies, `partition ${p} has ${copies} replicas`);
    assert.equal(new Set(replicas).size, replicas.length, `partition ${p}: distinct replicas`);
    for (const r of replicas) assert.ok(alive.has(r), `partition ${p}: replica ${r} is alive`);
    if (copies > 0) assert.equal(leader, replicas[0], `partition ${p}: the leader comes first`);
    if (isWriteQuorum(input.workers, input.property, input.topology)) {
      assert.ok(
        isWriteQuorum(replicas, input.property, input.topology),
        `partition ${p} spans the domains`,
      );
    }
  }
}

const countBy = (nodes: (NodeId | undefined)[]): Map<NodeId | undefined, number> => {
  const counts = new Map<NodeId | undefined, number>();
  for (const n of nodes) counts.set(n, (counts.get(n) ?? 0) + 1);
  return counts;
};

describe("partition placement", () => {
  it("from scratch: every partition replicated, leaders and replicas spread evenly", () => {
    const input: PlacementInput = {
      partitions: 24,
      workers: ids(1, 2, 3),
      topology: new Map(),
      property: parseReplication(2),
    };
    const placed = placePartitions(input);
    checkInvariants(input, placed);
    assert.deepEqual([...countBy(placed.map((a) => a.leader)).values()], [8, 8, 8]);
    const replicaLoad = countBy(placed.flatMap((a) => [...a.replicas]));
    assert.deepEqual([...replicaLoad.values()].sort(), [16, 16, 16]);
    assert.deepEqual(placePartitions(input), placed, "the same input, the same placement");
  });

  it("a lost node moves only its own replicas and leaderships, to the least loaded", () => {
    const start: PlacementInput = {
      partitions: 12,
      workers: ids(1, 2, 3, 4),
      topology: new Map(),
      property: parseReplication(2),
    };
    const before = placePartitions(start);
    const after = placePartitions({ ...start, workers: ids(1, 2, 4), previous: before });
    checkInvariants({ ...start, workers: ids(1, 2, 4) }, after);
    for (const [p, was] of before.entries()) {
      const now = after[p]!;
      if (!was.replicas.includes(NodeId(3))) {
        assert.deepEqual(now, was, `partition ${p} did not involve node 3 and stays as it was`);
      } else {
        const survivors = was.replicas.filter((r) => r !== NodeId(3));
        for (const s of survivors) assert.ok(now.replicas.includes(s), `partition ${p} keeps ${s}`);
        if (was.leader !== NodeId(3)) assert.equal(now.leader, was.leader);
      }
    }
    // The orphaned leaderships go to a replica that held the partition before (it leads at once;
    // the new replica has the log to read first). A later balancing pass, when every replica has
    // been one for a pass, spreads the leaders to at most one above an even share.
    for (const [p, was] of before.entries())
      if (was.leader === NodeId(3)) assert.ok(was.replicas.includes(after[p]!.leader!));
    const balanced = rebalance(after, ids(1, 2, 4), start.property, after);
    const leaders = [...countBy(balanced.map((a) => a.leader)).values()];
    assert.ok(Math.max(...leaders) <= 12 / 3 + 1, `leaders spread: ${leaders.join(",")}`);
    // The node comes back: nothing moves to it by itself (moving live replicas is rebalancing).
    assert.deepEqual(placePartitions({ ...start, previous: after }), after);
  });

  it("spans regions when the property asks for it, and repairs a replica set crowding one region", () => {
    const topology = topologyOf({
      1: "eu.a",
      2: "eu.b",
      3: "us.a",
      4: "us.b",
      5: "ap.a",
      6: "ap.b",
    });
    const input: PlacementInput = {
      partitions: 6,
      workers: ids(1, 2, 3, 4, 5, 6),
      topology,
      property: parseReplication({ region: 3 }),
    };
    const placed = placePartitions(input);
    checkInvariants(input, placed);
    // A region is lost: with two regions left, two replicas in distinct regions, the third anywhere.
    const twoRegions = { ...input, workers: ids(1, 2, 3, 4), previous: placed };
    const degraded = placePartitions(twoRegions);
    checkInvariants(twoRegions, degraded);
    // A placement that crowds one region is spread again once the regions are there.
    const crowded: PartitionAssignment[] = [{ leader: NodeId(1), replicas: ids(1, 2, 3) }];
    const spread = placePartitions({ ...input, partitions: 1, previous: crowded });
    assert.equal(spread[0]!.leader, NodeId(1), "the leader stays");
    assert.ok(isWriteQuorum(spread[0]!.replicas, input.property, topology));
  });

  it("holds its invariants and stability over random membership changes", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const prng = seededPrng(seed);
      const nodes = Array.from({ length: 2 + prng.nextInt(7) }, (_, i) => NodeId(i + 1));
      const topology = new Map(
        nodes.map((n) => [n, parseLocation(`r${prng.nextInt(3)}.z${prng.nextInt(2)}`)]),
      );
      const property = parseReplication(
        prng.nextInt(2) === 0 ? 1 + prng.nextInt(3) : { region: 2 },
      );
      let previous: PartitionAssignment[] | undefined;
      for (let round = 0; round < 8; round++) {
        const workers = nodes.filter(() => prng.nextInt(4) !== 0);
        const input: PlacementInput = {
          partitions: 1 + prng.nextInt(10),
          workers,
          topology,
          property,
        };
        const placed = placePartitions({
          ...input,
          ...(previous === undefined ? {} : { previous }),
        });
        checkInvariants(input, placed);
        if (previous !== undefined) {
          for (const [p, was] of placed.entries()) {
            const before: PartitionAssignment | undefined = previous[p];
            if (before?.leader !== undefined && workers.includes(before.leader)) {
              assert.equal(was.leader, before.leader, `seed ${seed}: an alive leader stays`);
            }
          }
        }
        previous = placed;
      }
    }
  });
});

describe("rebalance", () => {
  it("gives a worker that joined its share of replicas and leaders, moving no leader's replica away", () => {
    const property = parseReplication(2);
    const before = placePartitions({
      partitions: 12,
      workers: ids(1, 2),
      topology: new Map(),
      property,
    });
    // First pass: node 3 gets its replicas but no leadership (it has not read their logs yet).
    const moved = rebalance(before, ids(1, 2, 3), property, before);
    assert.ok(moved.every((a) => a.leader !== NodeId(3)));
    // A later pass: leaders move to it too.
    const after = rebalance(moved, ids(1, 2, 3), property, moved);
    const count = (pick: (a: PartitionAssignment) => readonly (NodeId | undefined)[]) => {
      const counts = new Map<NodeId | undefined, number>();
      for (const a of after) for (const n of pick(a)) counts.set(n, (counts.get(n) ?? 0) + 1);
      return counts;
    };
    assert.deepEqual([...count((a) => a.replicas).values()].sort(), [8, 8, 8]);
    assert.deepEqual([...count((a) => [a.leader]).values()].sort(), [4, 4, 4]);
    for (const [p, a] of after.entries()) {
      assert.equal(a.replicas.length, 2);
      assert.equal(a.replicas[0], a.leader);
      assert.equal(new Set(a.replicas).size, 2);
      // A replica moves only off a follower: the old leader stays a replica of its partition.
      assert.ok(a.replicas.includes(before[p]!.leader!));
    }
    assert.deepEqual(
      rebalance(after, ids(1, 2, 3), property, after),
      after,
      "balanced is a fixed point",
    );
  });
});
