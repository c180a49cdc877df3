import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { NodeId } from "../../core/node_id.js";
import { seededPrng } from "../../core/prng.js";
import { selectNodeset } from "./nodeset.js";
import {
  isFMajority,
  isWriteQuorum,
  parseLocation,
  parseReplication,
  selectSpread,
  type NodeLocation,
} from "./replication.js";
import { formatLogletParams, parseLogletParams, logletIdOf } from "./types.js";

const ids = (...n: number[]): NodeId[] => n.map(NodeId);
const flat = new Map<NodeId, NodeLocation>();
/** Nodes 1..6 over three zones: 1,4 in a; 2,5 in b; 3,6 in c. */
const zoned = new Map<NodeId, NodeLocation>(
  [1, 2, 3, 4, 5, 6].map((n) => [NodeId(n), parseLocation(`us-east.${"abc"[(n - 1) % 3]}`)]),
);

describe("replication property", () => {
  it("parses numbers and scopes, and fills in the copies", () => {
    assert.deepEqual(parseReplication(2), { node: 2 });
    assert.deepEqual(parseReplication({ zone: 2 }), { zone: 2, node: 2 });
    assert.deepEqual(parseReplication({ zone: 2, node: 3 }), { zone: 2, node: 3 });
    assert.throws(() => parseReplication({ rack: 2 }), /unknown replication scope 'rack'/);
    assert.throws(() => parseReplication({ region: 3, zone: 2 }), /zone count 2 is below region/);
    assert.throws(() => parseReplication({ node: 0 }), /must be 1..128/);
  });

  it("a write quorum spans the required domains at every scope", () => {
    const node2 = parseReplication({ node: 2 });
    assert.equal(isWriteQuorum(ids(1), node2, flat), false);
    assert.equal(isWriteQuorum(ids(1, 2), node2, flat), true);
    const zone2 = parseReplication({ zone: 2 });
    assert.equal(isWriteQuorum(ids(1, 4), zone2, zoned), false, "two nodes of zone a");
    assert.equal(isWriteQuorum(ids(1, 2), zone2, zoned), true);
  });

  it("an f-majority is n − r + 1 nodes for {node: r}, and meets every write quorum", () => {
    const nodeset = ids(1, 2, 3, 4, 5);
    const node3 = parseReplication({ node: 3 });
    assert.equal(isFMajority(new Set(ids(1, 2)), nodeset, node3, flat), false);
    assert.equal(isFMajority(new Set(ids(1, 2, 3)), nodeset, node3, flat), true);
    // Zones: with zone a fully answered (nodes 1 and 4) and zone b fully, only zone c is left, so no
    // write quorum of two zones can avoid the answers.
    const zone2 = parseReplication({ zone: 2 });
    const six = ids(1, 2, 3, 4, 5, 6);
    assert.equal(isFMajority(new Set(ids(1, 4, 2, 5)), six, zone2, zoned), true);
    assert.equal(isFMajority(new Set(ids(1, 2, 3)), six, zone2, zoned), false);
  });

  it("selects spreads that are write quorums, keeping included nodes and avoiding excluded", () => {
    const prng = seededPrng(1);
    const zone2 = parseReplication({ zone: 2 });
    for (let i = 0; i < 50; i++) {
      const spread = selectSpread(ids(1, 2, 3, 4, 5, 6), zone2, zoned, prng, {
        include: ids(4),
        exclude: new Set(ids(2)),
      })!;
      assert.ok(isWriteQuorum(spread, zone2, zoned));
      assert.ok(spread.includes(NodeId(4)));
      assert.ok(!spread.includes(NodeId(2)));
      assert.equal(spread.length, 2);
    }
    const node2 = parseReplication({ node: 2 });
    assert.equal(
      selectSpread(ids(1, 2), node2, flat, prng, { exclude: new Set(ids(2)) }),
      undefined,
    );
  });
});

describe("nodeset selection", () => {
  it("takes at least 2r − 1 nodes, balanced over zones, avoiding recently failed nodes", () => {
    const prng = seededPrng(7);
    const zone2 = parseReplication({ zone: 2 });
    const result = selectNodeset(
      { candidates: ids(1, 2, 3, 4, 5, 6), property: zone2, topology: zoned, targetSize: 0 },
      prng,
    );
    assert.ok(result.ok);
    assert.equal(result.nodeset.length, 3);
    assert.equal(new Set(result.nodeset.map((n) => (n - 1) % 3)).size, 3, "one node per zone");
    const avoided = selectNodeset(
      {
        candidates: ids(1, 2, 3, 4),
        property: parseReplication(2),
        topology: flat,
        targetSize: 0,
        avoid: new Set(ids(3)),
      },
      prng,
    );
    assert.ok(avoided.ok);
    assert.deepEqual(avoided.nodeset, ids(1, 2, 4));
  });

  it("uses avoided nodes when they are needed, and fails when the property cannot be met", () => {
    const prng = seededPrng(3);
    const needed = selectNodeset(
      {
        candidates: ids(1, 2),
        property: parseReplication(2),
        topology: flat,
        targetSize: 0,
        avoid: new Set(ids(2)),
      },
      prng,
    );
    assert.deepEqual(needed.ok && needed.nodeset, ids(1, 2));
    const impossible = selectNodeset(
      {
        candidates: ids(1, 4),
        property: parseReplication({ zone: 2 }),
        topology: zoned,
        targetSize: 0,
      },
      prng,
    );
    assert.equal(impossible.ok, false);
  });
});

describe("loglet params", () => {
  it("round-trip through the JSON kept in the chain", () => {
    const params = {
      logletId: logletIdOf(3, 1),
      sequencer: { node: NodeId(2), generation: 5 },
      nodeset: ids(1, 2, 3),
      replication: parseReplication({ zone: 2 }),
    };
    const json = formatLogletParams(params);
    assert.equal(
      json,
      '{"loglet_id":"3_1","sequencer":"N2:5","nodeset":[1,2,3],"replication":{"zone":2,"node":2}}',
    );
    assert.deepEqual(parseLogletParams(json), params);
    assert.throws(
      () =>
        parseLogletParams('{"loglet_id":"3_1","sequencer":"N2:5","nodeset":[1],"replication":2}'),
      /2 copies cannot fit a nodeset of 1/,
    );
  });
});
