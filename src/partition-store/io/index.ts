/**
 * Partition stores on LMDB: one environment per node, one database per partition, batches
 * of all partitions in one transaction, no fsync (the log is the truth), rebuilt after a machine crash.
 */

export { openLmdbEnvironment } from "./lmdb_store.js";
export type { LmdbEnvironment } from "./lmdb_store.js";
