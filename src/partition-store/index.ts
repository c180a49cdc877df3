/**
 * The partition store: its contract (synchronous reads, ordered batches written off the hot
 * path, durability from the log), the key layout (long user-chosen parts by digest), typed tables, the
 * in-memory store, and snapshots (their format and their repository in an object store). LMDB is in
 * io/.
 */

export {
  FSM_KEY,
  ACTIVE_PREFIX,
  INBOX_PREFIX,
  JOURNAL_PREFIX,
  LOCK_PREFIX,
  PROMISE_PREFIX,
  STATE_PREFIX,
  STATUS_PREFIX,
  TIMER_PREFIX,
  invocationIdAfter,
  journalPrefix,
  statePrefix,
  statusKey,
  timerKey,
  timerWakeAt,
} from "./keys.js";
export type { NotificationRef, ObjectRef } from "./keys.js";
export {
  MemoryStore,
  applyWrites,
  bufferedBatch,
  replaceContent,
  collectEntries,
  fsmFirst,
  writesOf,
} from "./memory_store.js";
export type { BatchWrites } from "./memory_store.js";
export { MemoryPartitionStore, STORE_KEY_BYTES_MAX, compareKeys, prefixEnd } from "./store.js";
export type { PartitionReader, PartitionStore, PartitionTxn } from "./store.js";
export {
  TableReader,
  Tables,
  decodeInboxEntry,
  decodeLockEntry,
  decodePromiseEntry,
  decodeStateEntry,
  emptyFsm,
  INVOCATION_PHASES,
} from "./tables.js";
export {
  SNAPSHOT_FORMAT_VERSION,
  decodeSnapshot,
  encodeSnapshot,
  copyStore,
  parseSnapshotManifest,
  readSnapshot,
} from "./snapshot_format.js";
export type {
  EncodedSnapshot,
  SnapshotHashFactory,
  SnapshotManifest,
  SnapshotSummary,
  StoreCopy,
} from "./snapshot_format.js";
export { SnapshotRepository } from "./snapshot_repository.js";
