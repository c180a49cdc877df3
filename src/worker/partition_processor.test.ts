import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KeelError } from "../core/errors.js";
import { PartitionId, type LogletOffset } from "../core/brand.js";
import { PartitionTable } from "../core/partitioning.js";
import { Bifrost } from "../bifrost/bifrost.js";
import type { Loglet, LogletProvider } from "../bifrost/loglet.js";
import { MemoryLoglet } from "../bifrost/memory_loglet.js";
import { MemoryMetadataStore } from "../metadata/memory_store.js";
import { MemoryStore } from "../partition-store/memory_store.js";
import { ManualClock } from "../platform/memory_ports.js";
import { NO_LOG } from "../platform/ports.js";
import { PartitionProcessor, type PartitionInvoker } from "./partition_processor.js";

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A memory loglet whose appends wait until the test releases them (a slow disk). */
class HeldLoglet extends MemoryLoglet {
  readonly held: (() => void)[] = [];

  override append(payloads: readonly Uint8Array[]): Promise<LogletOffset> {
    return new Promise((resolve, reject) =>
      this.held.push(() => void super.append(payloads).then(resolve, reject)),
    );
  }
}

const IDLE_INVOKER: PartitionInvoker = {
  invoke: () => undefined,
  notify: () => undefined,
  abort: () => undefined,
  retryNow: () => undefined,
  stopPartition: () => undefined,
};

describe("partition processor", () => {
  it("a stop while the leadership announcement is being appended fails the start, and only the start", async () => {
    const loglet = new HeldLoglet();
    const provider: LogletProvider = {
      name: "held",
      open: () => Promise.resolve<Loglet>(loglet),
      close: () => Promise.resolve(),
    };
    const metadata = new MemoryMetadataStore();
    const bifrost = new Bifrost(metadata, new Map([["held", provider]]), () => ({
      provider: "held",
      params: "{}",
    }));
    const processor = new PartitionProcessor({
      partitionId: PartitionId(0),
      partitionTable: new PartitionTable(1),
      nodeName: "n1",
      log: await bifrost.log(0),
      store: new MemoryStore(),
      metadata,
      clock: new ManualClock(1_800_000_000_000),
      logger: NO_LOG,
      invoker: IDLE_INVOKER,
      shuffleTransport: { deliver: () => Promise.resolve() },
      onFatal: (error) => assert.fail(`fatal: ${String(error)}`),
    });
    const unhandled: unknown[] = [];
    const record = (reason: unknown): void => void unhandled.push(reason);
    process.on("unhandledRejection", record);
    try {
      const started = processor.start();
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
      assert.deepEqual(unhandled, [], "the refused claim is the start's failure, nobody else's");
    } finally {
      process.off("unhandledRejection", record);
    }
  });
});
