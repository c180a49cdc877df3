import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { utf8 } from "../core/bytes.js";
import { NodeId } from "../core/node_id.js";
import { logletIdOf } from "../bifrost/replicated/types.js";
import type { RequestOutcome } from "../net/transport.js";
import { SimDisk } from "./disk.js";
import { SimNetwork } from "./network.js";
import { SimLogStore, SimTransport, type SimPacket } from "./ports.js";
import { SimScheduler } from "./scheduler.js";

describe("simulated transport", () => {
  it("serves a duplicated request once", () => {
    const s = new SimScheduler(1);
    const net = new SimNetwork<SimPacket>(s, {
      dropProbability: 0,
      duplicateProbability: 1,
      delayMinMs: 1,
      delayMaxMs: 3,
    });
    const a = new SimTransport(net, s, NodeId(1), 1);
    const b = new SimTransport(net, s, NodeId(2), 1);
    let served = 0;
    b.serve(1, {
      onMessage: () => undefined,
      onRequest: (_from, payload, respond) => {
        served++;
        respond(payload);
      },
    });
    const outcomes: RequestOutcome[] = [];
    a.request(NodeId(2), 1, utf8("x"), 100, (o) => outcomes.push(o));
    s.runFor(50);
    assert.equal(served, 1);
    assert.equal(outcomes.length, 1);
  });

  it("regression (seed 6751): a restarted node never takes its previous incarnation's responses", () => {
    const s = new SimScheduler(2);
    const net = new SimNetwork<SimPacket>(s, {
      dropProbability: 0,
      duplicateProbability: 0,
      delayMinMs: 5,
      delayMaxMs: 5,
    });
    const server = new SimTransport(net, s, NodeId(2), 1);
    server.serve(1, {
      onMessage: () => undefined,
      onRequest: (_from, payload, respond) => respond(payload),
    });
    const old = new SimTransport(net, s, NodeId(1), 1);
    old.request(NodeId(2), 1, utf8("old"), 1_000, () => assert.fail("the old incarnation is dead"));
    s.runFor(6); // the request arrived; its response is on the way
    old.kill();
    const reborn = new SimTransport(net, s, NodeId(1), 2);
    const got: string[] = [];
    reborn.request(NodeId(2), 1, utf8("new"), 1_000, (o) =>
      got.push(o.ok ? new TextDecoder().decode(o.payload) : o.error),
    );
    s.runFor(50);
    assert.deepEqual(got, ["new"], "request id 1 of the new incarnation gets its own answer");
  });
});

describe("simulated log store", () => {
  it("recovers what was synced and cuts a torn tail", () => {
    const s = new SimScheduler(5);
    const disk = new SimDisk(s.prng);
    const latency = { syncMinMs: 1, syncMaxMs: 1, readMaxMs: 0 };
    const id = logletIdOf(1, 0);
    let { store } = SimLogStore.open(disk, s, latency);
    let durable = 0;
    store.write(
      { kind: "records", logletId: id, first: 1, payloads: [utf8("a")] },
      () => durable++,
    );
    s.runFor(5);
    assert.equal(durable, 1);
    store.write(
      { kind: "records", logletId: id, first: 2, payloads: [utf8("b")] },
      () => durable++,
    );
    disk.crash(); // before the sync: "b" is lost, maybe torn
    store.kill();
    const reopened = SimLogStore.open(disk, s, latency);
    store = reopened.store;
    assert.deepEqual(reopened.recovered.get(id)?.batches, [{ first: 1, end: 2 }]);
    store.write(
      { kind: "records", logletId: id, first: 2, payloads: [utf8("c")] },
      () => durable++,
    );
    s.runFor(5);
    assert.deepEqual(SimLogStore.open(disk, s, latency).recovered.get(id)?.batches, [
      { first: 1, end: 2 },
      { first: 2, end: 3 },
    ]);
  });
});
