/**
 * Typed access to a partition's tables over one transaction. Encoding is protobuf throughout
 * (proto/keel/records.proto), so stored bytes are deterministic and versionable.
 */

import { fromHex, readU32BE, writeU32BE } from "../core/bytes.js";
import {
  InboxEntry,
  InvocationStatus,
  JournalEntry,
  OutboxMessage,
  PartitionFsm,
  PromiseValue,
  Timer,
  VirtualObjectLock,
} from "../gen/keel/records.js";
import { InvocationId } from "../protocol/ids.js";
import {
  FSM_KEY,
  activeKey,
  dedupKey,
  inboxKey,
  inboxPrefix,
  journalKey,
  journalPrefix,
  lockKey,
  notificationKey,
  notificationPrefix,
  outboxKey,
  OUTBOX_PREFIX,
  outboxSeqOf,
  promiseKey,
  promisePrefix,
  stateKey,
  statePrefix,
  statusKey,
  type NotificationRef,
  type ObjectRef,
} from "./keys.js";
import type { PartitionReader, PartitionTxn } from "./store.js";
import { encodeMessage } from "../protocol/proto_encode.js";

const u32 = (value: number): Uint8Array => {
  const out = new Uint8Array(4);
  writeU32BE(out, 0, value);
  return out;
};

const u64 = (value: number): Uint8Array => {
  const out = new Uint8Array(8);
  writeU32BE(out, 0, Math.floor(value / 2 ** 32));
  writeU32BE(out, 4, value >>> 0);
  return out;
};
const readU64 = (bytes: Uint8Array): number => readU32BE(bytes, 0) * 2 ** 32 + readU32BE(bytes, 4);

export function emptyFsm(): PartitionFsm {
  return PartitionFsm.decode(new Uint8Array(0));
}

/** Read-only table access, usable on any reader (the invoker, SQL scans). */
export class TableReader {
  constructor(protected readonly reader: PartitionReader) {}

  fsm(): PartitionFsm {
    const raw = this.reader.get(FSM_KEY);
    return raw === undefined ? emptyFsm() : PartitionFsm.decode(raw);
  }

  status(id: InvocationId): InvocationStatus | undefined {
    const raw = this.reader.get(statusKey(id));
    return raw === undefined ? undefined : InvocationStatus.decode(raw);
  }

  journalEntry(id: InvocationId, index: number): JournalEntry | undefined {
    const raw = this.reader.get(journalKey(id, index));
    return raw === undefined ? undefined : JournalEntry.decode(raw);
  }

  /** The journal entries 0..length-1, asserting none is missing. */
  journal(id: InvocationId, length: number): JournalEntry[] {
    const out: JournalEntry[] = [];
    for (let i = 0; i < length; i++) {
      const entry = this.journalEntry(id, i);
      if (entry === undefined)
        throw new Error(`journal of ${id.toString()} has no entry ${i} (length ${length})`);
      out.push(entry);
    }
    return out;
  }

  notificationIndex(id: InvocationId, ref: NotificationRef): number | undefined {
    const raw = this.reader.get(notificationKey(id, ref));
    return raw === undefined ? undefined : readU32BE(raw, 0);
  }

  state(o: ObjectRef, key: Uint8Array): Uint8Array | undefined {
    return this.reader.get(stateKey(o, key));
  }

  /** All state entries of an object, ordered by key bytes. */
  stateEntries(o: ObjectRef): { key: Uint8Array; value: Uint8Array }[] {
    const prefix = statePrefix(o);
    return this.reader
      .scan(prefix)
      .map(([k, value]) => ({ key: fromHex(k.slice(prefix.length))!, value }));
  }

  lock(o: ObjectRef): InvocationId | undefined {
    const raw = this.reader.get(lockKey(o));
    return raw === undefined
      ? undefined
      : InvocationId.fromBytes(VirtualObjectLock.decode(raw).invocationId);
  }

  /** The oldest entry of an object key's inbox (an invocation or a state edit). */
  inboxHead(o: ObjectRef): { key: string; entry: InboxEntry } | undefined {
    const [first] = this.reader.scan(inboxPrefix(o), 1);
    return first === undefined ? undefined : { key: first[0], entry: InboxEntry.decode(first[1]) };
  }

  promise(o: ObjectRef, name: string): PromiseValue | undefined {
    const raw = this.reader.get(promiseKey(o, name));
    return raw === undefined ? undefined : PromiseValue.decode(raw);
  }

  timer(key: string): Timer | undefined {
    const raw = this.reader.get(key);
    return raw === undefined ? undefined : Timer.decode(raw);
  }

  outbox(limit: number, startAfterSeq?: number): { seq: number; message: OutboxMessage }[] {
    const after = startAfterSeq === undefined ? undefined : outboxKey(startAfterSeq);
    return this.reader
      .scan(OUTBOX_PREFIX, limit, after)
      .map(([k, v]) => ({ seq: outboxSeqOf(k), message: OutboxMessage.decode(v) }));
  }

  dedupSeq(sourcePartition: number): number | undefined {
    const raw = this.reader.get(dedupKey(sourcePartition));
    return raw === undefined ? undefined : readU64(raw);
  }
}

/**
 * Read-write table access for the state machine, for the application of one record. Invocation
 * statuses are decoded once and encoded once per record: `status()` hands out a working copy that
 * later reads of the same invocation share, `putStatus` marks it to be written, and `flush()` (at the
 * end of the record) encodes every marked status. A copy changed but never put is not written.
 */
export class Tables extends TableReader {
  private readonly statuses = new Map<string, InvocationStatus | undefined>();
  private readonly dirtyStatuses = new Set<string>();

  constructor(private readonly txn: PartitionTxn) {
    super(txn);
  }

  override status(id: InvocationId): InvocationStatus | undefined {
    const key = statusKey(id);
    if (this.statuses.has(key)) return this.statuses.get(key);
    const status = super.status(id);
    this.statuses.set(key, status);
    return status;
  }

  /** Writes every status put during this record. */
  flush(): void {
    for (const key of this.dirtyStatuses) {
      const status = this.statuses.get(key);
      if (status === undefined) this.txn.delete(key);
      else this.txn.put(key, encodeMessage(InvocationStatus, status));
    }
    this.dirtyStatuses.clear();
  }

  putFsm(fsm: PartitionFsm): void {
    this.txn.put(FSM_KEY, encodeMessage(PartitionFsm, fsm));
  }

  putStatus(id: InvocationId, status: InvocationStatus): void {
    const key = statusKey(id);
    this.statuses.set(key, status);
    this.dirtyStatuses.add(key);
  }

  deleteStatus(id: InvocationId): void {
    const key = statusKey(id);
    this.statuses.set(key, undefined);
    this.dirtyStatuses.add(key);
    this.txn.delete(activeKey(id));
  }

  /** Marks whether the invocation is in the invoked phase (a new leader re-invokes those). */
  setActive(id: InvocationId, active: boolean): void {
    if (active) this.txn.put(activeKey(id), new Uint8Array(0));
    else this.txn.delete(activeKey(id));
  }

  putJournalEntry(id: InvocationId, index: number, entry: JournalEntry): void {
    this.txn.put(journalKey(id, index), encodeMessage(JournalEntry, entry));
  }

  putNotificationIndex(id: InvocationId, ref: NotificationRef, index: number): void {
    this.txn.put(notificationKey(id, ref), u32(index));
  }

  /** Removes the journal and its notification index. */
  deleteJournal(id: InvocationId): void {
    for (const [key] of this.txn.scan(journalPrefix(id))) this.txn.delete(key);
    for (const [key] of this.txn.scan(notificationPrefix(id))) this.txn.delete(key);
  }

  putState(o: ObjectRef, key: Uint8Array, value: Uint8Array): void {
    this.txn.put(stateKey(o, key), value);
  }

  deleteState(o: ObjectRef, key: Uint8Array): void {
    this.txn.delete(stateKey(o, key));
  }

  clearState(o: ObjectRef): void {
    for (const [key] of this.txn.scan(statePrefix(o))) this.txn.delete(key);
  }

  putLock(o: ObjectRef, id: InvocationId): void {
    this.txn.put(lockKey(o), encodeMessage(VirtualObjectLock, { invocationId: id.bytes }));
  }

  deleteLock(o: ObjectRef): void {
    this.txn.delete(lockKey(o));
  }

  enqueueInbox(o: ObjectRef, seq: number, entry: InboxEntry): void {
    this.txn.put(inboxKey(o, seq), encodeMessage(InboxEntry, entry));
  }

  deleteInboxEntry(o: ObjectRef, seq: number): void {
    this.txn.delete(inboxKey(o, seq));
  }

  deleteRaw(key: string): void {
    this.txn.delete(key);
  }

  putPromise(o: ObjectRef, name: string, value: PromiseValue): void {
    this.txn.put(promiseKey(o, name), encodeMessage(PromiseValue, value));
  }

  clearPromises(o: ObjectRef): void {
    for (const [key] of this.txn.scan(promisePrefix(o))) this.txn.delete(key);
  }

  putTimer(key: string, timer: Timer): void {
    this.txn.put(key, encodeMessage(Timer, timer));
  }

  deleteTimer(key: string): void {
    this.txn.delete(key);
  }

  putOutbox(seq: number, message: OutboxMessage): void {
    this.txn.put(outboxKey(seq), encodeMessage(OutboxMessage, message));
  }

  /** Deletes outbox messages with seq ≤ `throughSeq`. */
  truncateOutbox(throughSeq: number): void {
    for (const [key] of this.txn.scan(OUTBOX_PREFIX)) {
      if (outboxSeqOf(key) > throughSeq) break;
      this.txn.delete(key);
    }
  }

  putDedupSeq(sourcePartition: number, seq: number): void {
    this.txn.put(dedupKey(sourcePartition), u64(seq));
  }
}
