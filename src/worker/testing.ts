/**
 * A partition processor over a given loglet for unit tests: partition 0 of a one-partition table,
 * with memory metadata and store, a manual clock, and an invoker of the test's choosing.
 */

import { PartitionId, PartitionTable } from "../core/index.js";
import { Bifrost, type Loglet, type LogletProvider } from "../bifrost/index.js";
import type { MemoryMetadataStore } from "../metadata/index.js";
import { MemoryStore } from "../partition-store/index.js";
import { ManualClock, NO_LOG } from "../platform/index.js";
import { PartitionProcessor, type PartitionInvoker } from "./partition_processor.js";

export const IDLE_INVOKER: PartitionInvoker = {
  invoke: () => undefined,
  notify: () => undefined,
  abort: () => undefined,
  retryNow: () => undefined,
  stopPartition: () => undefined,
};

/** A partition processor of partition 0 of 1 on `loglet`, as the node `nodeName`. */
export async function processorOn(
  loglet: Loglet,
  metadata: MemoryMetadataStore,
  nodeName: string,
  invoker: PartitionInvoker = IDLE_INVOKER,
  store = new MemoryStore(),
): Promise<PartitionProcessor> {
  const provider: LogletProvider = {
    name: "test",
    open: () => Promise.resolve(loglet),
    close: () => Promise.resolve(),
  };
  const bifrost = new Bifrost(metadata, new Map([["test", provider]]), () => ({
    provider: "test",
    params: "{}",
  }));
  return new PartitionProcessor({
    partitionId: PartitionId(0),
    partitionTable: new PartitionTable(1),
    nodeName,
    log: await bifrost.log(0),
    store,
    metadata,
    clock: new ManualClock(1_800_000_000_000),
    logger: NO_LOG,
    invoker,
    shuffleTransport: { deliver: () => Promise.resolve() },
    onFatal: (error) => {
      throw new Error(`a processor under test failed: ${String(error)}`);
    },
  });
}
