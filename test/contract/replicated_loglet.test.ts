/** The loglet contract for the replicated provider in memory: in-process transport, memory stores. */

import { systemClock } from "../../src/platform/io/system.js";
import { InProcessNetwork } from "../../src/net/io/in_process_transport.js";
import { NodeId } from "../../src/core/node_id.js";
import { MemoryLogServerStore } from "../../src/log-server/memory_log_store.js";
import { describeOn } from "./replicated_cluster.js";

const network = new InProcessNetwork();
const stores = new Map<number, MemoryLogServerStore>();

describeOn("in memory", {
  transport: (node) => network.endpoint(NodeId(node)),
  store: (node) => {
    const store = stores.get(node) ?? new MemoryLogServerStore(systemClock);
    stores.set(node, store);
    return Promise.resolve({ store, recovered: store.recovered() });
  },
  stop: (node) => {
    network.remove(NodeId(node));
    return Promise.resolve();
  },
});
