import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KeelError } from "../core/errors.js";
import { PartitionTable } from "../core/partitioning.js";
import { MemoryLoglet } from "../bifrost/memory_loglet.js";
import { MemoryMetadataStore } from "../metadata/memory_store.js";
import { MemoryObjectStore } from "../object-store/memory_object_store.js";
import { MemoryStore } from "../partition-store/memory_store.js";
import { SnapshotRepository } from "../partition-store/snapshot_repository.js";
import { ManualClock, counterEntropy } from "../platform/memory_ports.js";
import { NO_LOG } from "../platform/ports.js";
import { PartitionScenario, serviceTarget } from "../partition/testing.js";
import { PartitionSnapshots, type SnapshotSettings } from "./snapshots.js";
import { processorOn } from "./testing.js";

function snapshotsOver(objects: MemoryObjectStore, settings: SnapshotSettings): PartitionSnapshots {
  return new PartitionSnapshots({
    repository: new SnapshotRepository(objects, NO_LOG),
    settings,
    clusterName: "c",
    nodeName: "n1",
    table: new PartitionTable(1),
    clock: new ManualClock(1_800_000_000_000),
    entropy: counterEntropy(),
    logger: NO_LOG,
  });
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("partition snapshots", () => {
  it("snapshot, trim through the oldest kept, and a lost store restored from the snapshot", async () => {
    const loglet = new MemoryLoglet();
    const metadata = new MemoryMetadataStore();
    const objects = new MemoryObjectStore();
    const snapshots = snapshotsOver(objects, { intervalRecords: 3, retained: 2 });
    const store = new MemoryStore();
    const leader = await processorOn(loglet, metadata, "n1", undefined, store);
    await snapshots.prepare(0, leader.store, leader.log);
    await leader.start();
    await leader.claimLeadership();
    const scenario = new PartitionScenario();
    const invoke = async (): Promise<void> => {
      const invocation = scenario.invocation(serviceTarget("Svc", "run"), "x");
      await leader.waitForApplied(await leader.propose([{ $case: "invoke", value: invocation }]));
    };
    await invoke();
    const first = await snapshots.create(leader);
    assert.equal(first.appliedLsn, leader.appliedLsn);
    assert.equal(await leader.log.trimPoint(), first.appliedLsn, "one kept: trimmed through it");
    await invoke();
    await invoke();
    snapshots.tick([leader]);
    await snapshots.settled();
    assert.equal((await snapshots.list(0)).length, 1, "two records since: the interval is not due");
    await invoke();
    // Three records since the last one: a tick takes the next snapshot on its own.
    snapshots.tick([leader]);
    await snapshots.settled();
    const kept = await snapshots.list(0);
    assert.equal(kept.length, 2);
    assert.equal(kept[0]!.appliedLsn, leader.appliedLsn);
    assert.equal(await leader.log.trimPoint(), first.appliedLsn, "trimmed through the oldest kept");
    await invoke();
    const third = await snapshots.create(leader);
    assert.deepEqual(
      (await snapshots.list(0)).map((m) => m.appliedLsn),
      [third.appliedLsn, kept[0]!.appliedLsn],
      "the oldest is pruned",
    );
    assert.equal(await leader.log.trimPoint(), kept[0]!.appliedLsn);
    await invoke();
    const appliedAtStop = leader.appliedLsn;
    const contentAtStop = store.reader().scan("");
    await leader.stop();

    // The store is lost: its replacement comes back from the newest snapshot plus the log after it.
    const replacement = new MemoryStore();
    const restarted = await processorOn(loglet, metadata, "n1", undefined, replacement);
    await snapshotsOver(objects, { intervalRecords: 0, retained: 2 }).prepare(
      0,
      restarted.store,
      restarted.log,
    );
    await restarted.start();
    for (let i = 0; i < 50 && restarted.appliedLsn < appliedAtStop; i++) await settle();
    assert.equal(restarted.appliedLsn, appliedAtStop);
    assert.deepEqual(replacement.reader().scan(""), contentAtStop);
    await restarted.stop();
  });

  it("refuses to start a store behind a trimmed log when no snapshot covers the gap", async () => {
    const loglet = new MemoryLoglet();
    const metadata = new MemoryMetadataStore();
    const objects = new MemoryObjectStore();
    const snapshots = snapshotsOver(objects, { intervalRecords: 0, retained: 1 });
    const leader = await processorOn(loglet, metadata, "n1");
    await leader.start();
    await leader.claimLeadership();
    await snapshots.create(leader);
    await leader.stop();
    objects.objects.clear();
    const restarted = await processorOn(loglet, metadata, "n1");
    await assert.rejects(
      snapshots.prepare(0, restarted.store, restarted.log),
      (error) =>
        error instanceof KeelError &&
        error.code === "storage" &&
        /trimmed through LSN 1 .* no readable snapshot/.test(error.message),
    );
  });

  it("an automatic snapshot that failed waits before the next attempt", async () => {
    const objects = new MemoryObjectStore();
    let puts = 0;
    const failing = Object.assign(Object.create(objects) as MemoryObjectStore, {
      put: () => {
        puts++;
        return Promise.reject(new Error("disk full"));
      },
    });
    const clock = new ManualClock(1_800_000_000_000);
    const snapshots = new PartitionSnapshots({
      repository: new SnapshotRepository(failing, NO_LOG),
      settings: { intervalRecords: 1, retained: 1 },
      clusterName: "c",
      nodeName: "n1",
      table: new PartitionTable(1),
      clock,
      entropy: counterEntropy(),
      logger: NO_LOG,
    });
    const leader = await processorOn(new MemoryLoglet(), new MemoryMetadataStore(), "n1");
    await leader.start();
    await leader.claimLeadership();
    snapshots.tick([leader]);
    await snapshots.settled();
    await settle();
    assert.equal(puts, 1);
    assert.match(snapshots.problem ?? "", /disk full/);
    snapshots.tick([leader]);
    await snapshots.settled();
    assert.equal(puts, 1, "no second attempt at once");
    clock.advance(30_000);
    snapshots.tick([leader]);
    await snapshots.settled();
    assert.equal(puts, 2, "the next attempt after the pause");
    await leader.stop();
  });
});
