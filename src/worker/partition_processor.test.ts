import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KeelError } from "../core/errors.js";
import { PartitionId, type LogletOffset } from "../core/brand.js";
import { MemoryLoglet } from "../bifrost/memory_loglet.js";
import { MemoryMetadataStore } from "../metadata/memory_store.js";
import { MemoryStore } from "../partition-store/memory_store.js";
import { PartitionScenario, serviceTarget } from "../partition/testing.js";
import { InvocationId } from "../core/ids.js";
import { TerminationKind } from "../gen/keel/records.js";
import { IDLE_INVOKER, processorOn } from "./testing.js";

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A memory loglet whose appends wait until the test releases them (a slow disk). */
class HeldLoglet extends MemoryLoglet {
  readonly held: (() => void)[] = [];
  /** While false, appends go through at once. */
  holding = true;

  override append(payloads: readonly Uint8Array[]): Promise<LogletOffset> {
    if (!this.holding) return super.append(payloads);
    return new Promise((resolve, reject) =>
      this.held.push(() => void super.append(payloads).then(resolve, reject)),
    );
  }
}

describe("partition processor", () => {
  it("a stop while the leadership announcement is being appended fails the claim, and only the claim", async () => {
    const loglet = new HeldLoglet();
    const processor = await processorOn(loglet, new MemoryMetadataStore(), "n1", IDLE_INVOKER);
    const unhandled: unknown[] = [];
    const record = (reason: unknown): void => void unhandled.push(reason);
    process.on("unhandledRejection", record);
    try {
      await processor.start();
      const started = processor.claimLeadership();
      for (let i = 0; i < 20 && loglet.held.length === 0; i++) await settle();
      assert.equal(loglet.held.length, 1, "the AnnounceLeader append is on its way");
      await processor.stop();
      await settle();
      loglet.held.shift()!();
      await assert.rejects(
        started,
        (error) => error instanceof KeelError && error.code === "unavailable",
      );
      await settle();
      assert.deepEqual(unhandled, [], "the refused claim is the claim's failure, nobody else's");
    } finally {
      process.off("unhandledRejection", record);
    }
  });

  it("a follower applies every record and acts on none; when it claims, it leads and the leader steps down", async () => {
    const loglet = new MemoryLoglet();
    const metadata = new MemoryMetadataStore();
    const replica = async (nodeName: string) => {
      const calls: string[] = [];
      const store = new MemoryStore();
      const processor = await processorOn(
        loglet,
        metadata,
        nodeName,
        {
          invoke: (_p, id, mode) => void calls.push(`invoke ${id.toString()} ${mode}`),
          notify: () => undefined,
          abort: () => undefined,
          retryNow: () => undefined,
          stopPartition: (partition) => void calls.push(`stop ${partition}`),
        },
        store,
      );
      return { processor, store, calls };
    };
    const a = await replica("n1");
    const b = await replica("n2");
    await a.processor.start();
    await a.processor.claimLeadership();
    await b.processor.start();
    assert.ok(a.processor.isLeader && !b.processor.isLeader);

    const invocation = new PartitionScenario().invocation(serviceTarget("Svc", "run"), "in");
    const id = InvocationId.fromBytes(invocation.invocationId).toString();
    const lsn = await a.processor.propose([{ $case: "invoke", value: invocation }]);
    for (let i = 0; i < 100 && b.processor.appliedLsn < lsn; i++) await settle();
    assert.equal(b.processor.appliedLsn, a.processor.appliedLsn);
    const everything = (store: MemoryStore) => store.reader().scan("", 1_000_000);
    assert.deepEqual(everything(b.store), everything(a.store), "the replicas' stores are equal");
    assert.deepEqual(a.calls, [`invoke ${id} awaited`]);
    assert.deepEqual(b.calls, [], "a follower acts on nothing");

    await b.processor.claimLeadership();
    assert.ok(b.processor.isLeader);
    for (let i = 0; i < 100 && a.processor.isLeader; i++) await settle();
    assert.ok(!a.processor.isLeader, "the old leader applied the newer announcement");
    assert.deepEqual(a.calls, [`invoke ${id} awaited`, "stop 0"]);
    assert.deepEqual(b.calls, [`invoke ${id} takeover`], "the new leader resumes what was running");
    await assert.rejects(
      a.processor.propose([{ $case: "timerFired", value: { timerKey: "x" } }]),
      (error) => error instanceof KeelError && error.code === "not_leader",
    );
    await a.processor.stop();
    await b.processor.stop();
  });

  it("stops at once when the stop comes while the apply loop is reading the log", async () => {
    const processor = await processorOn(new MemoryLoglet(), new MemoryMetadataStore(), "n1");
    await processor.start();
    await processor.claimLeadership();
    const lsn = await processor.propose([{ $case: "timerFired", value: { timerKey: "none" } }]);
    // Woken by this record's application, the loop is now reading for the next one.
    await processor.waitForApplied(lsn);
    await processor.stop();
  });

  it("a shuffled delivery that a newer leader fences off fails, so that its source delivers again", async () => {
    const loglet = new HeldLoglet();
    loglet.holding = false;
    const metadata = new MemoryMetadataStore();
    const a = await processorOn(loglet, metadata, "n1");
    const b = await processorOn(loglet, metadata, "n2");
    await a.start();
    await a.claimLeadership();
    await b.start();
    loglet.holding = true;
    // A takes a delivery; its append waits. B claims meanwhile: its announcement reaches the log first.
    const delivered = a.acceptShuffled(PartitionId(1), [
      {
        seq: 7,
        message: {
          command: {
            $case: "terminate",
            value: {
              invocationId: new PartitionScenario().invocation(serviceTarget("Svc", "run"), "")
                .invocationId,
              kind: TerminationKind.TERMINATION_KIND_CANCEL,
            },
          },
        },
      },
    ]);
    const claimed = b.claimLeadership();
    for (let i = 0; i < 50 && loglet.held.length < 2; i++) await settle();
    assert.equal(loglet.held.length, 2, "the delivery and the announcement wait to be appended");
    loglet.holding = false;
    loglet.held.splice(1, 1)[0]!(); // the announcement first
    await claimed;
    loglet.held.shift()!(); // then the delivery, under the old epoch: fenced off
    await assert.rejects(
      delivered,
      (error) => error instanceof KeelError && error.code === "not_leader" && error.retryable,
    );
    await a.stop();
    await b.stop();
  });
});
