/**
 * The key layout of a partition store. Every key is ASCII so that JavaScript string order and the
 * store's byte order agree. User-chosen parts (object keys, promise and signal names) are
 * percent-encoded, state keys (bytes) are hex; numbers are fixed-width hex so they sort numerically.
 *
 * No key is longer than `STORE_KEY_BYTES_MAX`, whatever the user chose: a part that would make it
 * longer is stored as `#` and the SHA-256 of its bytes (see `DIGEST_MARKER`), and the object-table
 * entry whose key holds a digest keeps the parts in full in its value (`LongKeyedEntry`, tables.ts).
 * The object part (`<pk>/<service>/<key>`) is chosen from the object alone, so all keys of one object
 * share a prefix; inbox sequence numbers and timer times stay plain, so their order holds. Parts that
 * fit are stored as they always were.
 *
 *   f                                     partition FSM (applied LSN, epoch, sequence counters)
 * Invocations (<inv>) are named by the hex of their raw id bytes (InvocationId.hex).
 *
 *   st/<inv>                              invocation status
 *   a/<inv>                               index of invocations in the invoked phase (re-invoked by a new leader)
 *   j/<inv>/<index>                       journal entries
 *   jn/<inv>/<c|s|n><id>                  notification id -> journal index
 *   s/<pk>/<service>/<key>/<state key>    object and workflow state
 *   l/<pk>/<service>/<key>                exclusive lock of an object or workflow key
 *   i/<pk>/<service>/<key>/<seq>          inbox of an object or workflow key, FIFO by seq
 *   p/<pk>/<service>/<key>/<name>         workflow durable promises
 *   t/<wake ms>/<kind>/<inv>[/<id>]       timers, ordered by wake-up time
 *   o/<seq>                               outbox to other partitions
 *   d/<source partition>                  dedup: highest sequence applied per source partition
 *   d/p/<producer>                        dedup: highest offset applied per Kafka topic partition
 */

import { assert, type PartitionKey, toHex, utf8, sha256, InvocationId } from "../core/index.js";
import { STORE_KEY_BYTES_MAX } from "./store.js";

const hex = (value: bigint | number, width: number): string =>
  value.toString(16).padStart(width, "0");
const pkHex = (pk: PartitionKey): string => hex(pk, 16);
const enc = (text: string): string => encodeURIComponent(text);

export const FSM_KEY = "f";

export const statusKey = (id: InvocationId): string => `st/${id.hex}`;
export const STATUS_PREFIX = "st/";
export const activeKey = (id: InvocationId): string => `a/${id.hex}`;
export const ACTIVE_PREFIX = "a/";

/** The invocation named by a key that starts with `prefix` followed by an invocation's hex id. */
export function invocationIdAfter(prefix: string, key: string): InvocationId | undefined {
  return InvocationId.fromHex(key.slice(prefix.length, prefix.length + 48));
}

export const JOURNAL_PREFIX = "j/";
export const journalPrefix = (id: InvocationId): string => `${JOURNAL_PREFIX}${id.hex}/`;
export const journalKey = (id: InvocationId, index: number): string =>
  `${journalPrefix(id)}${hex(index, 8)}`;

export type NotificationRef =
  | { readonly kind: "completion"; readonly id: number }
  | { readonly kind: "signal"; readonly id: number }
  | { readonly kind: "namedSignal"; readonly name: string };

export const notificationPrefix = (id: InvocationId): string => `jn/${id.hex}/`;
export function notificationKey(id: InvocationId, ref: NotificationRef): string {
  switch (ref.kind) {
    case "completion":
      return `${notificationPrefix(id)}c${hex(ref.id, 8)}`;
    case "signal":
      return `${notificationPrefix(id)}s${hex(ref.id, 8)}`;
    case "namedSignal":
      return userPart(`${notificationPrefix(id)}n`, enc(ref.name), utf8(ref.name));
  }
}

export interface ObjectRef {
  readonly partitionKey: PartitionKey;
  readonly service: string;
  readonly key: string;
}

/**
 * Starts a user-chosen part stored as its digest: SHA-256 of the part's bytes, in hex. Neither
 * percent-encoding nor hex ever produces it, so a digest never equals a plain part, and a store key
 * holds a digest exactly when it contains the marker.
 */
export const DIGEST_MARKER = "#";
const DIGEST_PART_BYTES = DIGEST_MARKER.length + 64;
/**
 * The longest plain object part (`<pk>/<service>/<key>`): what leaves a state key of 256 bytes (hex)
 * room after it. Longer object parts are stored with digests. The bound is the one the edges used to
 * enforce, so every object part stored before digests existed keeps its encoding.
 */
const OBJECT_PART_BYTES_MAX = STORE_KEY_BYTES_MAX - "s//".length - 2 * 256;

const digestPart = (bytes: Uint8Array): string => `${DIGEST_MARKER}${toHex(sha256(bytes))}`;

/** Whether a store key holds a digest in place of a user-chosen part (see `LongKeyedEntry`). */
export const hasDigest = (storeKey: string): boolean => storeKey.includes(DIGEST_MARKER);

/** Keys at least this long have their object part remembered (shorter ones are cheap to encode). */
const LONG_KEY_CHARS_MIN = 256;
const LONG_OBJECT_PARTS_REMEMBERED_MAX = 64;
/**
 * The object parts of recently used long keys, by key. Encoding and digesting a key of 60 KB takes
 * milliseconds, and one command builds several keys of its object. Only a memo: the result is the
 * same with or without it.
 */
const longObjectParts = new Map<
  string,
  { readonly service: string; readonly partitionKey: PartitionKey; readonly part: string }
>();

function objectPart(o: ObjectRef): string {
  if (o.key.length < LONG_KEY_CHARS_MIN) return encodeObjectPart(o);
  const known = longObjectParts.get(o.key);
  if (known !== undefined && known.service === o.service && known.partitionKey === o.partitionKey)
    return known.part;
  const part = encodeObjectPart(o);
  if (longObjectParts.size >= LONG_OBJECT_PARTS_REMEMBERED_MAX)
    longObjectParts.delete(longObjectParts.keys().next().value!);
  longObjectParts.set(o.key, { service: o.service, partitionKey: o.partitionKey, part });
  return part;
}

function encodeObjectPart(o: ObjectRef): string {
  const plain = `${pkHex(o.partitionKey)}/${enc(o.service)}/${enc(o.key)}`;
  if (plain.length <= OBJECT_PART_BYTES_MAX) return plain;
  // Service names are identifiers, unbounded in length: digested too when even they do not fit.
  const service =
    pkHex(o.partitionKey).length + enc(o.service).length + 2 + DIGEST_PART_BYTES <=
    OBJECT_PART_BYTES_MAX
      ? enc(o.service)
      : digestPart(utf8(o.service));
  return `${pkHex(o.partitionKey)}/${service}/${digestPart(utf8(o.key))}`;
}

/** `prefix` + `plain`, or `prefix` + the digest of `bytes` when that would not fit a store key. */
function userPart(prefix: string, plain: string, bytes: Uint8Array): string {
  const key = prefix + plain;
  if (key.length <= STORE_KEY_BYTES_MAX) return key;
  const digested = prefix + digestPart(bytes);
  assert(digested.length <= STORE_KEY_BYTES_MAX, `store key prefix of ${prefix.length} bytes`);
  return digested;
}

export const statePrefix = (o: ObjectRef): string => `s/${objectPart(o)}/`;
export const stateKey = (o: ObjectRef, key: Uint8Array): string =>
  userPart(statePrefix(o), toHex(key), key);
export const STATE_PREFIX = "s/";

export const lockKey = (o: ObjectRef): string => `l/${objectPart(o)}`;
export const LOCK_PREFIX = "l/";

export const inboxPrefix = (o: ObjectRef): string => `i/${objectPart(o)}/`;
export const inboxKey = (o: ObjectRef, seq: number): string => `${inboxPrefix(o)}${hex(seq, 16)}`;
export const INBOX_PREFIX = "i/";

export const promisePrefix = (o: ObjectRef): string => `p/${objectPart(o)}/`;
export const promiseKey = (o: ObjectRef, name: string): string =>
  userPart(promisePrefix(o), enc(name), utf8(name));
export const PROMISE_PREFIX = "p/";

export const TIMER_PREFIX = "t/";
export type TimerKind = "sleep" | "delayed" | "cleanup";
export function timerKey(
  wakeAtMs: number,
  kind: TimerKind,
  id: InvocationId,
  completionId?: number,
): string {
  const base = `${TIMER_PREFIX}${hex(Math.max(0, Math.floor(wakeAtMs)), 12)}/${kind}/${id.hex}`;
  return completionId === undefined ? base : `${base}/${hex(completionId, 8)}`;
}
/** The wake-up time encoded in a timer key. */
export function timerWakeAt(key: string): number {
  return parseInt(key.slice(TIMER_PREFIX.length, TIMER_PREFIX.length + 12), 16);
}

export const OUTBOX_PREFIX = "o/";
export const outboxKey = (seq: number): string => `${OUTBOX_PREFIX}${hex(seq, 16)}`;
export const outboxSeqOf = (key: string): number => parseInt(key.slice(OUTBOX_PREFIX.length), 16);

export const dedupKey = (sourcePartition: number): string => `d/${hex(sourcePartition, 4)}`;
/**
 * An outside producer's dedup entry: a Kafka subscription's topic partition, named by Keel
 * (`<subscription id>/<topic>/<partition>`, a topic being at most 249 characters), so never long.
 */
export const producerDedupKey = (producer: string): string => `d/p/${producer}`;

/**
 * The plain parts of an object-table key (state, lock, inbox, promise). A part that starts with
 * `DIGEST_MARKER` is a digest: the entry's value (a `LongKeyedEntry`) holds it in full.
 */
export function parseObjectKey(
  key: string,
): { partitionKey: bigint; service: string; key: string; rest: string } | undefined {
  const parts = key.split("/");
  if (parts.length < 4) return undefined;
  return {
    partitionKey: BigInt(`0x${parts[1]!}`),
    service: decodeURIComponent(parts[2]!),
    key: decodeURIComponent(parts[3]!),
    rest: parts.slice(4).join("/"),
  };
}
