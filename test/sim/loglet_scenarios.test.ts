/**
 * The replicated loglet's stories, told on a simulated cluster (deterministic: same seed, same run).
 * Each test reads as the protocol's story: who is down, what is appended, who seals, what the tail is.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { NodeId } from "../../src/core/node_id.js";
import type { LogletEntry } from "../../src/bifrost/loglet.js";
import { parseReplication } from "../../src/bifrost/replicated/replication.js";
import { logletIdOf, type LogletParams } from "../../src/bifrost/replicated/types.js";
import { LogletCluster } from "../../src/sim/loglet_cluster.js";
import { RELIABLE_NETWORK } from "../../src/sim/network.js";
import { simPayload, simText } from "../../src/sim/ports.js";

const DISK = { syncMinMs: 1, syncMaxMs: 1, readMaxMs: 0 };

function threeServers(seed = 1): LogletCluster {
  return new LogletCluster(seed, { nodes: 3, faults: RELIABLE_NETWORK, disk: DISK });
}

/** Segment 0 of log 7, sequenced by node `sequencer`, nodeset {1,2,3}, two copies. */
function segment(cluster: LogletCluster, sequencer: number, segmentIndex = 0): LogletParams {
  const params: LogletParams = {
    logletId: logletIdOf(7, segmentIndex),
    sequencer: cluster.incarnation(sequencer),
    nodeset: [NodeId(1), NodeId(2), NodeId(3)],
    replication: parseReplication({ node: 2 }),
  };
  cluster.open(params);
  return params;
}

const records = (...texts: string[]): Uint8Array[] => texts.map(simPayload);
const texts = (entries: readonly LogletEntry[]): string[] =>
  entries.map((e) => (e.kind === "record" ? simText(e.payload) : `gap ${e.from}..${e.to}`));

/** Which nodes hold `offset` durably, according to their log servers. */
function holders(cluster: LogletCluster, params: LogletParams, offset: number): number[] {
  const out: number[] = [];
  for (const node of cluster.alive()) {
    const state = node.logServer.inspect().inspect(params.logletId);
    if (state?.held.some((r) => r.first <= offset && offset < r.end)) out.push(node.id);
  }
  return out;
}

describe("replicated loglet stories", () => {
  it("appends with one log server down: two copies on the two that are up", () => {
    const cluster = threeServers();
    const params = segment(cluster, 1);
    cluster.crash(3);
    const first = cluster.append(1, params.logletId, records("a", "b"));
    const second = cluster.append(1, params.logletId, records("c"));
    assert.ok(cluster.settle([first, second]));
    assert.equal(first.value(), 2);
    assert.equal(second.value(), 3);
    assert.deepEqual(holders(cluster, params, 3), [1, 2]);
    const read = cluster.read(2, params.logletId, 1, 10);
    assert.ok(cluster.settle([read]));
    assert.deepEqual(texts(read.value()), ["a", "b", "c"]);
  });

  it("sequencer crash mid-batch: seal finds the partial tail, repairs it, the next segment follows it", () => {
    const cluster = threeServers();
    cluster.crash(3); // so that the first records go to nodes 1 and 2
    const params = segment(cluster, 1);
    const abc = cluster.append(1, params.logletId, records("a", "b", "c"));
    assert.ok(cluster.settle([abc]));
    assert.equal(abc.value(), 3);
    cluster.restart(3);

    // Record "d" reaches node 2 only: the sequencer's own log server misses it, then the sequencer dies.
    cluster.network.partition([1], [1]);
    const d = cluster.append(1, params.logletId, records("d"));
    cluster.runFor(20);
    assert.deepEqual(holders(cluster, params, 4), [2]);
    cluster.crash(1);
    cluster.network.heal();
    assert.equal(d.settled, false, "the client of a dead sequencer never hears back");

    // Node 3 seals: nodes 2 and 3 are an f-majority; node 2's tail 5 wins, "d" is copied to node 3.
    const sealed = cluster.seal(3, params.logletId);
    assert.ok(cluster.settle([sealed]));
    assert.deepEqual(sealed.value(), { offset: 5, sealed: true });
    assert.deepEqual(holders(cluster, params, 4), [2, 3], "offset 4 now has a write quorum");

    // Any later find-tail agrees, and the next segment starts where this one ends.
    const again = cluster.findTail(2, params.logletId);
    const read = cluster.read(2, params.logletId, 1, 10);
    assert.ok(cluster.settle([again, read]));
    assert.deepEqual(again.value(), { offset: 5, sealed: true });
    assert.deepEqual(texts(read.value()), ["a", "b", "c", "d"]);
    const next = segment(cluster, 2, 1);
    const e = cluster.append(2, next.logletId, records("e"));
    assert.ok(cluster.settle([e]));
    assert.equal(e.value(), 1, "segment 1 starts at its own offset 1 (LSN 5 of the log)");
  });

  it("seal racing an in-flight append: the append either commits below the tail or is refused", () => {
    // The store reaches the servers before the seal: "b" commits and the sealed tail covers it.
    let cluster = threeServers(2);
    let params = segment(cluster, 1);
    assert.ok(cluster.settle([cluster.append(1, params.logletId, records("a"))]));
    let b = cluster.append(1, params.logletId, records("b"));
    cluster.runFor(0); // the batch leaves the sequencer
    let sealed = cluster.seal(2, params.logletId);
    assert.ok(cluster.settle([b, sealed]));
    assert.equal(b.value(), 2);
    assert.deepEqual(sealed.value(), { offset: 3, sealed: true });

    // The seal reaches the servers first: "b" is refused and the tail stays at 2.
    cluster = threeServers(2);
    params = segment(cluster, 1);
    assert.ok(cluster.settle([cluster.append(1, params.logletId, records("a"))]));
    sealed = cluster.seal(2, params.logletId);
    cluster.runFor(1); // the prepare is on its way and arrives before the store
    b = cluster.append(1, params.logletId, records("b"));
    assert.ok(cluster.settle([b, sealed]));
    assert.equal(b.errorCode(), "sealed");
    assert.deepEqual(sealed.value(), { offset: 2, sealed: true });
    const late = cluster.append(1, params.logletId, records("c"));
    assert.ok(cluster.settle([late]));
    assert.equal(late.errorCode(), "sealed", "after the seal every append is refused");
  });

  it("a reader at the known global tail sees nothing, even when a server already holds more", () => {
    const cluster = threeServers(3);
    cluster.crash(2); // records go to nodes 1 and 3
    const params = segment(cluster, 1);
    assert.ok(cluster.settle([cluster.append(1, params.logletId, records("a"))]));

    cluster.network.partition([1], [1]); // "b" lands on node 3 only: not committed
    const b = cluster.append(1, params.logletId, records("b"));
    cluster.runFor(20);
    assert.deepEqual(holders(cluster, params, 2), [3]);
    const atTail = cluster.read(3, params.logletId, 2, 10);
    assert.ok(cluster.settle([atTail]));
    assert.deepEqual(atTail.value(), [], "offset 2 is not committed: nothing to read yet");

    cluster.network.heal();
    cluster.restart(2);
    assert.ok(cluster.settle([b]));
    assert.equal(b.value(), 2);
    const after = cluster.read(3, params.logletId, 2, 10);
    assert.ok(cluster.settle([after]));
    assert.deepEqual(texts(after.value()), ["b"]);
  });

  it("trim, then a read below the trim point gets a trim gap at once", () => {
    const cluster = threeServers(4);
    const params = segment(cluster, 1);
    const six = cluster.append(1, params.logletId, records("1", "2", "3", "4", "5", "6"));
    assert.ok(cluster.settle([six]));
    const trim = cluster.trim(2, params.logletId, 3);
    assert.ok(cluster.settle([trim]));
    trim.value();
    const below = cluster.read(3, params.logletId, 1, 10);
    const above = cluster.read(3, params.logletId, 4, 10);
    assert.ok(cluster.settle([below, above], 1_000), "a read below the trim point never hangs");
    assert.deepEqual(texts(below.value()), ["gap 1..3"]);
    assert.deepEqual(texts(above.value()), ["4", "5", "6"]);
  });

  it("two nodes seal at once after the sequencer died: their ballots make them agree", () => {
    const cluster = threeServers(5);
    const params = segment(cluster, 1);
    assert.ok(cluster.settle([cluster.append(1, params.logletId, records("a", "b"))]));
    cluster.network.partition([1], [1]);
    cluster.append(1, params.logletId, records("c")); // reaches one other server at most
    cluster.runFor(5);
    cluster.crash(1);
    cluster.network.heal();
    const viaTwo = cluster.seal(2, params.logletId);
    const viaThree = cluster.seal(3, params.logletId);
    assert.ok(cluster.settle([viaTwo, viaThree]));
    assert.deepEqual(viaTwo.value(), viaThree.value());
    assert.ok(viaTwo.value().offset >= 3, "a and b are below the sealed tail");
  });
});
