/**
 * Typed access to a partition's tables over one transaction. Encoding is protobuf throughout
 * (proto/keel/records.proto), so stored bytes are deterministic and versionable. Object-table
 * entries whose store key holds a digest (keys.ts) store a `LongKeyedEntry`; the readers here and the
 * `decode*Entry` functions (for scans, e.g. SQL) unwrap it, so no other code sees digests.
 */

import {
  assert,
  PartitionKey,
  compareBytes,
  fromHex,
  fromUtf8,
  readU32BE,
  utf8,
  writeU32BE,
  InvocationId,
} from "../core/index.js";
import {
  InboxEntry,
  InvocationStatus,
  JournalEntry,
  LongKeyedEntry,
  OutboxMessage,
  PartitionFsm,
  PromiseValue,
  Timer,
  VirtualObjectLock,
} from "../gen/keel/records.js";
import {
  FSM_KEY,
  activeKey,
  hasDigest,
  dedupKey,
  producerDedupKey,
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
  parseObjectKey,
  promiseKey,
  promisePrefix,
  stateKey,
  statePrefix,
  statusKey,
  STATUS_PREFIX,
  type NotificationRef,
  type ObjectRef,
} from "./keys.js";
import type { PartitionReader, PartitionTxn } from "./store.js";
import { encodeMessage } from "../wire/index.js";

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

/** The number of `InvocationPhase` values: the length of `PartitionFsm.invocationsByPhase`. */
export const INVOCATION_PHASES = 6;

/** The FSM of an empty store. */
export function emptyFsm(): PartitionFsm {
  const fsm = PartitionFsm.decode(new Uint8Array(0));
  fsm.invocationsByPhase = new Array<number>(INVOCATION_PHASES).fill(0);
  return fsm;
}

/** A status's phase in the per-phase counts, or NO_PHASE for an absent status. */
const NO_PHASE = -1;

const NO_PART = new Uint8Array(0);

/**
 * The stored value of an object-table entry (state, lock, inbox, promise): the value itself, or, when
 * its store key holds a digest of a part too long for a key, a `LongKeyedEntry` naming the parts in
 * full. `part` is the state key or the promise name's UTF-8 (empty for locks and inbox entries).
 */
function storedObjectValue(
  storeKey: string,
  o: ObjectRef,
  part: Uint8Array,
  value: Uint8Array,
): Uint8Array {
  if (!hasDigest(storeKey)) return value;
  return encodeMessage(LongKeyedEntry, { service: o.service, objectKey: o.key, part, value });
}

/** An object-table entry read back from its store key and stored value. */
interface ObjectEntry {
  readonly object: ObjectRef;
  /** The plain remainder of the store key after the object part (hex state key, name, seq). */
  readonly rest: string;
  /** The parts in full, when the store key holds a digest. */
  readonly long: LongKeyedEntry | undefined;
  readonly value: Uint8Array;
}

function objectEntry(storeKey: string, stored: Uint8Array): ObjectEntry | undefined {
  const parsed = parseObjectKey(storeKey);
  if (parsed === undefined) return undefined;
  if (!hasDigest(storeKey)) {
    const { partitionKey, service, key, rest } = parsed;
    return {
      object: { partitionKey: PartitionKey(partitionKey), service, key },
      rest,
      long: undefined,
      value: stored,
    };
  }
  const long = LongKeyedEntry.decode(stored);
  return {
    object: {
      partitionKey: PartitionKey(parsed.partitionKey),
      service: long.service,
      key: long.objectKey,
    },
    rest: parsed.rest,
    long,
    value: long.value,
  };
}

/**
 * The value stored under `storeKey` for object `o` (and `part`), unwrapped. Asserts that a wrapped
 * entry is the one asked for: two parts with one digest would be a SHA-256 collision.
 */
function objectValue(
  storeKey: string,
  o: ObjectRef,
  stored: Uint8Array,
  part: Uint8Array = NO_PART,
): Uint8Array {
  if (!hasDigest(storeKey)) return stored;
  const long = LongKeyedEntry.decode(stored);
  assert(long.service === o.service, `entry ${storeKey} belongs to service ${long.service}`);
  assert(long.objectKey === o.key, `entry ${storeKey} belongs to another key of ${o.service}`);
  assert(compareBytes(long.part, part) === 0, `entry ${storeKey} belongs to another name`);
  return long.value;
}

/** A state entry (key `s/…`) with its object and its state key in full. */
export function decodeStateEntry(
  storeKey: string,
  stored: Uint8Array,
): { object: ObjectRef; key: Uint8Array; value: Uint8Array } | undefined {
  const entry = objectEntry(storeKey, stored);
  if (entry === undefined) return undefined;
  const key = entry.long?.part ?? fromHex(entry.rest);
  return key === undefined ? undefined : { object: entry.object, key, value: entry.value };
}

/** A lock entry (key `l/…`) with its object and holder. */
export function decodeLockEntry(
  storeKey: string,
  stored: Uint8Array,
): { object: ObjectRef; holder: InvocationId } | undefined {
  const entry = objectEntry(storeKey, stored);
  if (entry === undefined) return undefined;
  const holder = InvocationId.fromBytes(VirtualObjectLock.decode(entry.value).invocationId);
  return { object: entry.object, holder };
}

/** An inbox entry (key `i/…`) with its object and sequence number. */
export function decodeInboxEntry(
  storeKey: string,
  stored: Uint8Array,
): { object: ObjectRef; seq: number; entry: InboxEntry } | undefined {
  const entry = objectEntry(storeKey, stored);
  if (entry === undefined) return undefined;
  return {
    object: entry.object,
    seq: parseInt(entry.rest, 16),
    entry: InboxEntry.decode(entry.value),
  };
}

/** A durable promise (key `p/…`) with its object and name in full. */
export function decodePromiseEntry(
  storeKey: string,
  stored: Uint8Array,
): { object: ObjectRef; name: string; promise: PromiseValue } | undefined {
  const entry = objectEntry(storeKey, stored);
  if (entry === undefined) return undefined;
  const name =
    entry.long === undefined ? decodeURIComponent(entry.rest) : fromUtf8(entry.long.part);
  return { object: entry.object, name, promise: PromiseValue.decode(entry.value) };
}

/** Read-only table access, usable on any reader (the invoker, SQL scans). */
export class TableReader {
  constructor(protected readonly reader: PartitionReader) {}

  /**
   * The partition's FSM. A store written before the per-phase counts were kept gets them counted
   * here, once (they are written with the next record applied).
   */
  fsm(): PartitionFsm {
    const raw = this.reader.get(FSM_KEY);
    if (raw === undefined) return emptyFsm();
    const fsm = PartitionFsm.decode(raw);
    if (fsm.invocationsByPhase.length === 0) fsm.invocationsByPhase = this.countByPhase();
    return fsm;
  }

  /** Counts the invocation statuses in each phase (a scan of every status). */
  countByPhase(): number[] {
    const counts = new Array<number>(INVOCATION_PHASES).fill(0);
    for (const [, raw] of this.reader.scan(STATUS_PREFIX)) {
      const phase = InvocationStatus.decode(raw).phase;
      counts[phase] = (counts[phase] ?? 0) + 1;
    }
    return counts;
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
    const storeKey = stateKey(o, key);
    const stored = this.reader.get(storeKey);
    if (stored === undefined) return undefined;
    return objectValue(storeKey, o, stored, key);
  }

  /** All state entries of an object, ordered by key bytes. */
  stateEntries(o: ObjectRef): { key: Uint8Array; value: Uint8Array }[] {
    let digested = false;
    const entries = this.reader.scan(statePrefix(o)).map(([storeKey, stored]) => {
      digested ||= hasDigest(storeKey);
      const entry = decodeStateEntry(storeKey, stored);
      assert(entry !== undefined, `state entry ${storeKey} decodes`);
      return { key: entry.key, value: entry.value };
    });
    // Plain keys sort as their hex, so by key bytes; digests sort by hash.
    return digested ? entries.sort((a, b) => compareBytes(a.key, b.key)) : entries;
  }

  lock(o: ObjectRef): InvocationId | undefined {
    const storeKey = lockKey(o);
    const stored = this.reader.get(storeKey);
    return stored === undefined
      ? undefined
      : InvocationId.fromBytes(
          VirtualObjectLock.decode(objectValue(storeKey, o, stored)).invocationId,
        );
  }

  /** The oldest entry of an object key's inbox (an invocation or a state edit). */
  inboxHead(o: ObjectRef): { key: string; entry: InboxEntry } | undefined {
    const [first] = this.reader.scan(inboxPrefix(o), 1);
    if (first === undefined) return undefined;
    const [storeKey, stored] = first;
    return { key: storeKey, entry: InboxEntry.decode(objectValue(storeKey, o, stored)) };
  }

  promise(o: ObjectRef, name: string): PromiseValue | undefined {
    const storeKey = promiseKey(o, name);
    const stored = this.reader.get(storeKey);
    if (stored === undefined) return undefined;
    return PromiseValue.decode(objectValue(storeKey, o, stored, utf8(name)));
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

  dedupSeq(source: DedupSource): number | undefined {
    const raw = this.reader.get(dedupSourceKey(source));
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
  /** Each status's phase as stored before this record (NO_PHASE: none), for the per-phase counts. */
  private readonly storedPhases = new Map<string, number>();
  private readonly dirtyStatuses = new Set<string>();

  constructor(private readonly txn: PartitionTxn) {
    super(txn);
  }

  override status(id: InvocationId): InvocationStatus | undefined {
    const key = statusKey(id);
    if (this.statuses.has(key)) return this.statuses.get(key);
    const status = super.status(id);
    this.statuses.set(key, status);
    this.storedPhases.set(key, status?.phase ?? NO_PHASE);
    return status;
  }

  /**
   * Writes every status put during this record, and moves the phases that changed between
   * `invocationsByPhase` (the FSM's counts, indexed by phase).
   */
  flush(invocationsByPhase: number[]): void {
    for (const key of this.dirtyStatuses) {
      const status = this.statuses.get(key);
      if (status === undefined) this.txn.delete(key);
      else this.txn.put(key, encodeMessage(InvocationStatus, status));
      const before = this.storedPhases.get(key)!;
      const after: number = status?.phase ?? NO_PHASE;
      if (before === after) continue;
      if (before !== NO_PHASE) invocationsByPhase[before]!--;
      if (after !== NO_PHASE) invocationsByPhase[after]!++;
      this.storedPhases.set(key, after);
    }
    this.dirtyStatuses.clear();
  }

  putFsm(fsm: PartitionFsm): void {
    this.txn.put(FSM_KEY, encodeMessage(PartitionFsm, fsm));
  }

  putStatus(id: InvocationId, status: InvocationStatus): void {
    const key = statusKey(id);
    // The stored phase is needed for the counts (callers have almost always read it already).
    if (!this.statuses.has(key)) this.status(id);
    this.statuses.set(key, status);
    this.dirtyStatuses.add(key);
  }

  deleteStatus(id: InvocationId): void {
    const key = statusKey(id);
    if (!this.statuses.has(key)) this.status(id);
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
    const storeKey = stateKey(o, key);
    this.txn.put(storeKey, storedObjectValue(storeKey, o, key, value));
  }

  deleteState(o: ObjectRef, key: Uint8Array): void {
    this.txn.delete(stateKey(o, key));
  }

  clearState(o: ObjectRef): void {
    for (const [key] of this.txn.scan(statePrefix(o))) this.txn.delete(key);
  }

  putLock(o: ObjectRef, id: InvocationId): void {
    const storeKey = lockKey(o);
    const value = encodeMessage(VirtualObjectLock, { invocationId: id.bytes });
    this.txn.put(storeKey, storedObjectValue(storeKey, o, NO_PART, value));
  }

  deleteLock(o: ObjectRef): void {
    this.txn.delete(lockKey(o));
  }

  enqueueInbox(o: ObjectRef, seq: number, entry: InboxEntry): void {
    const storeKey = inboxKey(o, seq);
    const value = encodeMessage(InboxEntry, entry);
    this.txn.put(storeKey, storedObjectValue(storeKey, o, NO_PART, value));
  }

  deleteInboxEntry(o: ObjectRef, seq: number): void {
    this.txn.delete(inboxKey(o, seq));
  }

  deleteRaw(key: string): void {
    this.txn.delete(key);
  }

  putPromise(o: ObjectRef, name: string, value: PromiseValue): void {
    const storeKey = promiseKey(o, name);
    const encoded = encodeMessage(PromiseValue, value);
    this.txn.put(storeKey, storedObjectValue(storeKey, o, utf8(name), encoded));
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

  putDedupSeq(source: DedupSource, seq: number): void {
    this.txn.put(dedupSourceKey(source), u64(seq));
  }
}

/** Where deduplicated records come from: another partition, or an outside producer (Kafka). */
export type DedupSource = number | { readonly producer: string };

function dedupSourceKey(source: DedupSource): string {
  return typeof source === "number" ? dedupKey(source) : producerDedupKey(source.producer);
}
