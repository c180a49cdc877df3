/**
 * The log-server role of the replicated loglet: the pure log server (stores records in order,
 * never holds holes, promises and accepts ballots for seals), its store port and in-memory store, and
 * the driver that serves it to sequencers, readers and tail coordinators.
 */

export { LogServerNode } from "./server_node.js";
export type { LogServerStore } from "./store.js";
