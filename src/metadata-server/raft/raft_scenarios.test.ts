/**
 * Raft as stories. Each test is a short scenario on a hand-driven cluster (src/metadata-server/raft/testing.ts):
 * members tick, messages move only when delivered, and the assertions say what the protocol promises
 * at each step. The group is provisioned at index 1, term 1, so the first elected leader has term 2.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RaftTestCluster } from "./testing.js";
import { LogIndex, MemberId, Term, type RaftMessage } from "./types.js";

const ELECTION = 10;

describe("raft: leader election", () => {
  it("3 members elect one leader in term 2 and agree on it", () => {
    const cluster = new RaftTestCluster([1, 2, 3]);
    const leader = cluster.electLeader();
    for (const id of [1, 2, 3]) {
      assert.equal(cluster.raft(id).status().term, 2);
      assert.equal(cluster.raft(id).status().leader, leader);
    }
    assert.equal([1, 2, 3].filter((id) => cluster.role(id) === "leader").length, 1);
    // The election counters (metrics): the leader started and won one, the others none.
    for (const id of [1, 2, 3]) {
      const { electionsStarted, electionsWon } = cluster.raft(id).status();
      const expected = id === leader ? 1 : 0;
      assert.deepEqual(
        { electionsStarted, electionsWon },
        { electionsStarted: expected, electionsWon: expected },
      );
    }
  });

  it("a lone member provisioned as the only voter elects itself and commits alone", () => {
    const cluster = new RaftTestCluster([1]);
    assert.equal(cluster.electLeader(), 1);
    assert.equal(cluster.propose(1, "solo").kind, "accepted");
    cluster.stabilize();
    assert.deepEqual(cluster.applied(1), ["solo"]);
  });

  it("isolate the leader; the others elect a new leader in term 3; heal; the old leader steps down", () => {
    const cluster = new RaftTestCluster([1, 2, 3]);
    const oldLeader = cluster.electLeader();
    cluster.isolate(oldLeader);
    // The old leader accepts a proposal it can never commit.
    assert.equal(cluster.propose(oldLeader, "lost").kind, "accepted");
    const others = [1, 2, 3].filter((id) => id !== oldLeader);
    for (let k = 0; k < 100 && cluster.leader() === oldLeader; k++) {
      for (const id of others) cluster.tick(id);
      cluster.stabilize();
    }
    const newLeader = cluster.leader();
    assert.ok(newLeader !== undefined && newLeader !== oldLeader);
    assert.equal(cluster.raft(newLeader).status().term, 3);
    assert.equal(cluster.propose(newLeader, "kept").kind, "accepted");
    cluster.stabilize();
    cluster.heal();
    cluster.tickAll(5);
    assert.equal(cluster.role(oldLeader), "follower");
    assert.equal(cluster.raft(oldLeader).status().term, 3);
    for (const id of [1, 2, 3]) assert.deepEqual(cluster.applied(id), ["kept"]);
  });

  it("an isolated leader steps down after an election timeout without a quorum (check-quorum)", () => {
    const cluster = new RaftTestCluster([1, 2, 3]);
    const leader = cluster.electLeader();
    cluster.isolate(leader);
    cluster.tick(leader, 2 * ELECTION);
    assert.equal(cluster.role(leader), "follower");
    assert.equal(cluster.raft(leader).status().term, 2, "stepping down does not raise the term");
  });

  it("a partitioned follower does not disrupt the group: pre-vote keeps its term from rising", () => {
    const cluster = new RaftTestCluster([1, 2, 3]);
    const leader = cluster.electLeader();
    const loner = [1, 2, 3].find((id) => id !== leader)!;
    cluster.isolate(loner);
    for (let k = 0; k < 10 * ELECTION; k++) {
      cluster.tick(loner);
      cluster.stabilize();
    }
    assert.equal(cluster.raft(loner).status().term, 2, "pre-votes never win, so the term stays");
    cluster.heal();
    cluster.tickAll(5);
    assert.equal(cluster.leader(), leader);
    assert.equal(cluster.raft(leader).status().term, 2);
  });

  it("while members hear from a leader they ignore vote requests of a higher term (the lease)", () => {
    const cluster = new RaftTestCluster([1, 2, 3]);
    const leader = cluster.electLeader();
    const [a, b] = [1, 2, 3].filter((id) => id !== leader) as [number, number];
    cluster.raft(b).step({
      kind: "vote",
      from: MemberId(a),
      to: MemberId(b),
      term: Term(7),
      lastIndex: LogIndex(100),
      lastTerm: Term(6),
      transfer: false,
    });
    assert.equal(cluster.raft(b).status().term, 2);
    assert.equal(cluster.raft(b).hasReady(), false, "no answer at all");
  });
});

describe("raft: replication and commit", () => {
  it("a proposal commits once a majority persisted it, and every member applies it in order", () => {
    const cluster = new RaftTestCluster([1, 2, 3]);
    const leader = cluster.electLeader();
    for (const text of ["a", "b", "c"]) cluster.propose(leader, text);
    cluster.stabilize();
    cluster.tickAll(2);
    for (const id of [1, 2, 3]) assert.deepEqual(cluster.applied(id), ["a", "b", "c"]);
  });

  it("a minority cannot commit: with two of three members down, proposals wait", () => {
    const cluster = new RaftTestCluster([1, 2, 3]);
    const leader = cluster.electLeader();
    const [a, b] = [1, 2, 3].filter((id) => id !== leader) as [number, number];
    cluster.crash(a);
    cluster.crash(b);
    const before = cluster.commitOf(leader);
    cluster.propose(leader, "alone");
    cluster.stabilize();
    assert.equal(cluster.commitOf(leader), before);
    cluster.restart(a);
    cluster.tickAll(3);
    assert.deepEqual(cluster.applied(leader), ["alone"]);
  });

  it("a follower that was down catches up from a snapshot once the leader compacted its log", () => {
    const cluster = new RaftTestCluster([1, 2, 3]);
    const leader = cluster.electLeader();
    const straggler = [1, 2, 3].find((id) => id !== leader)!;
    cluster.crash(straggler);
    for (let k = 0; k < 20; k++) cluster.propose(leader, `v${k}`);
    cluster.stabilize();
    const applied = cluster.raft(leader).status().applied;
    cluster.raft(leader).compact(applied, new TextEncoder().encode("image"));
    cluster.stabilize();
    assert.equal(cluster.raft(leader).status().snapshotIndex, applied);
    cluster.restart(straggler);
    cluster.tickAll(5);
    assert.equal(cluster.raft(straggler).status().snapshotIndex, applied);
    assert.equal(cluster.applied(straggler)[0], `<snapshot ${applied}>`);
    cluster.propose(leader, "after");
    cluster.stabilize();
    cluster.tickAll(2);
    assert.equal(cluster.applied(straggler).at(-1), "after");
  });

  it("a follower's conflicting uncommitted suffix is replaced by the leader's entries", () => {
    const cluster = new RaftTestCluster([1, 2, 3]);
    const leader = cluster.electLeader();
    const [a, b] = [1, 2, 3].filter((id) => id !== leader) as [number, number];
    cluster.isolate(leader);
    cluster.propose(leader, "doomed-1");
    cluster.propose(leader, "doomed-2");
    cluster.stabilize();
    cluster.forceCampaign(a);
    cluster.stabilize();
    assert.equal(cluster.role(a), "leader");
    cluster.propose(a, "winner");
    cluster.stabilize();
    cluster.heal();
    cluster.tickAll(5);
    for (const id of [1, 2, 3]) assert.deepEqual(cluster.applied(id), ["winner"]);
    void b;
  });
});

describe("raft: Figure 8 (committing entries of earlier terms)", () => {
  /**
   * Five members. S1 leads term 2 and stores "x" at index 3 on itself and S2 only. S5 wins term 3
   * with S3 and S4 and stores its noop at index 3, on itself only. S1 wins term 4 and copies "x" to
   * S3: "x" is now on a majority (S1, S2, S3) but is of term 2. A correct leader does not commit it;
   * the broken one does. Then S1 crashes and S5 wins term 5 (its last term, 3, beats their 2) and
   * overwrites index 3 everywhere: whatever S1 committed there is lost.
   */
  function figure8(broken: boolean): {
    s1Commit: number;
    newLeaderTermAtThree: number | undefined;
    s2TermAtThree: number | undefined;
  } {
    const cluster = new RaftTestCluster([1, 2, 3, 4, 5], {
      limits: { appendEntriesPerMessageMax: 1 },
      ...(broken ? { faults: { commitEarlierTermsByCounting: true } } : {}),
    });
    const all = [1, 2, 3, 4, 5];
    cluster.forceCampaign(1);
    cluster.stabilize();
    assert.equal(cluster.role(1), "leader");
    assert.equal(cluster.raft(1).status().term, 2);
    cluster.tickAll(1);

    // Term 2: "x" at index 3 reaches S2 only.
    cluster.propose(1, "x");
    cluster.processReady(1);
    cluster.deliver((m) => m.kind === "append" && m.to === 2);
    cluster.drop((m) => m.from === 1);
    cluster.processReady(2);
    cluster.drop(() => true);
    assert.equal(cluster.raft(2).termAt(LogIndex(3)), 2);

    // Term 3: S5 wins with S3 and S4; its noop at index 3 stays on S5.
    cluster.isolate(1);
    cluster.forceCampaign(5);
    for (let k = 0; k < 10 && cluster.role(5) !== "leader"; k++) {
      for (const id of all) cluster.processReady(id);
      cluster.deliver((m) => m.kind !== "append");
    }
    assert.equal(cluster.role(5), "leader");
    assert.equal(cluster.raft(5).status().term, 3);
    cluster.processReady(5);
    cluster.drop(() => true);
    assert.equal(cluster.raft(5).termAt(LogIndex(3)), 3);

    // Term 4: S1 wins with S2, S3, S4 (S5 is cut off) and copies "x" to S3, one entry per message.
    cluster.heal();
    cluster.isolate(5);
    cluster.crash(1);
    cluster.restart(1);
    // S1 is still in term 2: its first attempt learns term 3 from the answers, the second wins.
    for (let k = 0; k < 3 && cluster.role(1) !== "leader"; k++) {
      cluster.forceCampaign(1);
      for (let r = 0; r < 6; r++) {
        for (const id of all) cluster.processReady(id);
        cluster.deliver((m) => m.kind !== "append");
      }
    }
    assert.equal(cluster.role(1), "leader");
    assert.equal(cluster.raft(1).status().term, 4);
    // S1 replicates to S2 and S3, one entry per message; S3 must not get index 4 (S1's noop).
    const holdsFourOnS3 = (m: RaftMessage): boolean =>
      m.kind === "append" && m.to === 3 && m.entries.some((e) => e.index >= 4);
    const amongFirstThree = (m: RaftMessage): boolean => m.from <= 3 && m.to <= 3;
    for (let r = 0; r < 20; r++) {
      for (const id of [1, 2, 3]) cluster.processReady(id);
      cluster.network = cluster.network.map((m) =>
        m.kind === "append" && holdsFourOnS3(m)
          ? { ...m, entries: m.entries.filter((e) => e.index < 4) }
          : m,
      );
      cluster.deliver(amongFirstThree);
      cluster.drop(() => true);
    }
    cluster.processReady(1);
    assert.equal(cluster.raft(3).termAt(LogIndex(3)), 2);
    assert.equal(cluster.raft(3).status().lastIndex, 3);
    assert.equal(cluster.raft(2).status().lastIndex, 4);
    const s1Commit = cluster.commitOf(1);

    // S1 crashes before index 4 spreads; S5 wins term 5 and overwrites index 3.
    cluster.crash(1);
    cluster.network = [];
    // S5 restarts (it still believed it led term 3) and then wins term 5.
    cluster.crash(5);
    cluster.restart(5);
    cluster.heal();
    cluster.isolate(1);
    for (let k = 0; k < 3 && cluster.role(5) !== "leader"; k++) {
      cluster.forceCampaign(5);
      for (let r = 0; r < 6; r++) {
        for (const id of all) cluster.processReady(id);
        cluster.deliver();
      }
    }
    assert.equal(cluster.role(5), "leader");
    assert.equal(cluster.raft(5).status().term, 5);
    // Bounded rounds: with the broken variant the logs can no longer be reconciled.
    for (let r = 0; r < 30; r++) {
      for (const id of all) cluster.processReady(id);
      cluster.deliver();
    }
    return {
      s1Commit,
      newLeaderTermAtThree: cluster.raft(5).termAt(LogIndex(3)),
      s2TermAtThree: cluster.raft(2).termAt(LogIndex(3)),
    };
  }

  it("a correct leader does not commit an earlier term's entry by counting, so nothing committed is lost", () => {
    const outcome = figure8(false);
    assert.ok(outcome.s1Commit < 3, `S1 must not commit index 3 (committed ${outcome.s1Commit})`);
    assert.equal(outcome.newLeaderTermAtThree, 3);
    assert.equal(outcome.s2TermAtThree, 3, "S5's entry replaces the uncommitted one everywhere");
  });

  it("the broken variant commits it, and the next leader lacks that committed entry", () => {
    const outcome = figure8(true);
    assert.ok(outcome.s1Commit >= 3, "the broken leader commits index 3 (term 2) by counting");
    assert.equal(outcome.newLeaderTermAtThree, 3, "leader completeness is violated");
  });
});

describe("raft: membership, one server at a time", () => {
  it("a learner catches up, is promoted, and a voter is then removed; commits continue", () => {
    const cluster = new RaftTestCluster([1, 2, 3], { spares: [4] });
    const leader = cluster.electLeader();
    cluster.propose(leader, "before");
    cluster.stabilize();
    const add = cluster
      .raft(leader)
      .proposeMembershipChange({ kind: "addLearner", member: MemberId(4), address: "n4" });
    assert.equal(add.kind, "accepted");
    cluster.stabilize();
    cluster.tickAll(3);
    assert.deepEqual(cluster.raft(4).status().membership.learners, [4]);
    assert.equal(cluster.role(4), "follower");
    assert.deepEqual(cluster.applied(4).at(-1), "before");
    const promote = cluster
      .raft(leader)
      .proposeMembershipChange({ kind: "promote", member: MemberId(4) });
    assert.equal(promote.kind, "accepted");
    cluster.stabilize();
    cluster.tickAll(2);
    assert.deepEqual(cluster.raft(leader).status().membership.voters, [1, 2, 3, 4]);
    const victim = [1, 2, 3].find((id) => id !== leader)!;
    const remove = cluster
      .raft(leader)
      .proposeMembershipChange({ kind: "remove", member: MemberId(victim) });
    assert.equal(remove.kind, "accepted");
    cluster.stabilize();
    cluster.tickAll(2);
    cluster.crash(victim);
    cluster.propose(leader, "after");
    cluster.stabilize();
    cluster.tickAll(2);
    assert.equal(cluster.applied(4).at(-1), "after");
  });

  it("refuses a second change while one is uncommitted", () => {
    const cluster = new RaftTestCluster([1, 2, 3], { spares: [4, 5] });
    const leader = cluster.electLeader();
    cluster.tickAll(1);
    const first = cluster
      .raft(leader)
      .proposeMembershipChange({ kind: "addLearner", member: MemberId(4), address: "n4" });
    assert.equal(first.kind, "accepted");
    const second = cluster
      .raft(leader)
      .proposeMembershipChange({ kind: "addLearner", member: MemberId(5), address: "n5" });
    assert.equal(second.kind, "rejected");
  });

  it("refuses a change before the new leader has committed an entry of its own term", () => {
    const cluster = new RaftTestCluster([1, 2, 3], { spares: [4] });
    cluster.forceCampaign(1);
    for (let r = 0; r < 6 && cluster.role(1) !== "leader"; r++) {
      for (const id of [1, 2, 3]) cluster.processReady(id);
      cluster.deliver((m) => m.kind !== "append");
    }
    assert.equal(cluster.role(1), "leader");
    const early = cluster
      .raft(1)
      .proposeMembershipChange({ kind: "addLearner", member: MemberId(4), address: "n4" });
    assert.equal(early.kind, "rejected");
    cluster.stabilize();
    const later = cluster
      .raft(1)
      .proposeMembershipChange({ kind: "addLearner", member: MemberId(4), address: "n4" });
    assert.equal(later.kind, "accepted");
  });

  it("a leader that removes itself steps down once the change commits", () => {
    const cluster = new RaftTestCluster([1, 2, 3]);
    const leader = cluster.electLeader();
    cluster.tickAll(1);
    const result = cluster
      .raft(leader)
      .proposeMembershipChange({ kind: "remove", member: MemberId(leader) });
    assert.equal(result.kind, "accepted");
    cluster.stabilize();
    assert.equal(cluster.role(leader), "follower");
    const rest = [1, 2, 3].filter((id) => id !== leader);
    for (let k = 0; k < 100 && cluster.leader() === undefined; k++) {
      for (const id of rest) cluster.tick(id);
      cluster.stabilize();
    }
    assert.ok(rest.includes(cluster.leader()!));
  });
});

describe("raft: reads and leadership transfer", () => {
  it("read-index answers only after a quorum confirms the leadership", () => {
    const cluster = new RaftTestCluster([1, 2, 3]);
    const leader = cluster.electLeader();
    cluster.tickAll(1);
    assert.equal(cluster.raft(leader).readIndex(7).kind, "pending");
    const ready = cluster.raft(leader).ready();
    assert.deepEqual(ready.readStates, []);
    assert.ok(ready.messagesNow.some((m) => m.kind === "heartbeat"));
    cluster.network.push(...ready.messagesNow);
    cluster.raft(leader).advance(ready);
    cluster.deliver();
    for (const id of [1, 2, 3]) if (id !== leader) cluster.processReady(id);
    cluster.deliver();
    const confirmed = cluster.raft(leader).ready();
    assert.deepEqual(
      confirmed.readStates.map((r) => r.requestId),
      [7],
    );
    assert.equal(confirmed.readStates[0]!.index, cluster.commitOf(leader));
    cluster.raft(leader).advance(confirmed);
  });

  it("an answer to a heartbeat sent before a read arrived does not confirm that read", () => {
    const cluster = new RaftTestCluster([1, 2, 3]);
    const leader = cluster.electLeader();
    cluster.tickAll(1);
    const raft = cluster.raft(leader);
    // A read round goes out; its answers are still on the way.
    raft.readIndex(1);
    cluster.processReady(leader);
    const followers = [1, 2, 3].filter((id) => id !== leader);
    cluster.deliver((m) => m.kind === "heartbeat");
    for (const id of followers) cluster.processReady(id);
    // The heartbeat timer fires (heartbeats are due but not sent yet), then a second read arrives.
    raft.tick();
    raft.tick();
    raft.readIndex(2);
    // The old answers arrive: they confirm read 1, and must not confirm read 2.
    cluster.deliver((m) => m.kind === "heartbeatResponse");
    const ready = raft.ready();
    assert.deepEqual(
      ready.readStates.map((r) => r.requestId),
      [1],
    );
    cluster.network.push(...ready.messagesNow);
    raft.advance(ready);
    cluster.stabilize();
  });

  it("an isolated leader cannot confirm a read", () => {
    const cluster = new RaftTestCluster([1, 2, 3]);
    const leader = cluster.electLeader();
    cluster.tickAll(1);
    cluster.isolate(leader);
    cluster.raft(leader).readIndex(9);
    let served = false;
    for (let k = 0; k < 5; k++) {
      const ready = cluster.raft(leader).ready();
      if (ready.readStates.length > 0) served = true;
      cluster.network.push(...ready.messagesNow, ...ready.messagesAfterPersist);
      cluster.raft(leader).advance(ready);
      cluster.stabilize();
    }
    assert.equal(served, false);
  });

  it("transfers leadership to a caught-up follower, which wins the next term at once", () => {
    const cluster = new RaftTestCluster([1, 2, 3]);
    const leader = cluster.electLeader();
    cluster.propose(leader, "x");
    cluster.stabilize();
    const target = [1, 2, 3].find((id) => id !== leader)!;
    assert.equal(cluster.raft(leader).transferLeadership(MemberId(target)).kind, "started");
    assert.equal(cluster.propose(leader, "refused").kind, "transferring");
    cluster.stabilize();
    assert.equal(cluster.leader(), target);
    assert.equal(cluster.raft(target).status().term, 3);
    assert.equal(cluster.role(leader), "follower");
  });
});
