/**
 * The key layout of a partition store. Every key is ASCII so that JavaScript string order and the
 * store's byte order agree. User-chosen parts (object keys, promise names) are percent-encoded,
 * state keys (bytes) are hex; numbers are fixed-width hex so they sort numerically.
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
 */

import type { PartitionKey } from "../core/brand.js";
import { toHex, utf8 } from "../core/bytes.js";
import { InvocationId } from "../protocol/ids.js";

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
      return `${notificationPrefix(id)}n${enc(ref.name)}`;
  }
}

export interface ObjectRef {
  readonly partitionKey: PartitionKey;
  readonly service: string;
  readonly key: string;
}

const objectPart = (o: ObjectRef): string =>
  `${pkHex(o.partitionKey)}/${enc(o.service)}/${enc(o.key)}`;

export const statePrefix = (o: ObjectRef): string => `s/${objectPart(o)}/`;
export const stateKey = (o: ObjectRef, key: Uint8Array): string => `${statePrefix(o)}${toHex(key)}`;
export const STATE_PREFIX = "s/";

export const lockKey = (o: ObjectRef): string => `l/${objectPart(o)}`;
export const LOCK_PREFIX = "l/";

export const inboxPrefix = (o: ObjectRef): string => `i/${objectPart(o)}/`;
export const inboxKey = (o: ObjectRef, seq: number): string => `${inboxPrefix(o)}${hex(seq, 16)}`;
export const INBOX_PREFIX = "i/";

export const promisePrefix = (o: ObjectRef): string => `p/${objectPart(o)}/`;
export const promiseKey = (o: ObjectRef, name: string): string => `${promisePrefix(o)}${enc(name)}`;
export const PROMISE_PREFIX = "p/";

/**
 * The longest key a partition store holds (LMDB's limit with 4 KiB pages). Keys are ASCII, so their
 * length is their size. Every key the layout builds from user input must fit, or its write would
 * fail for ever: the edges (ingress, admin, the invoker) check the user-chosen parts first and refuse
 * what does not fit, so a record never carries one (Restate, on RocksDB, has no such limit).
 */
export const STORE_KEY_BYTES_MAX = 1978;
/** What an object key leaves for the longest per-object suffix: a state key of 256 bytes (hex). */
const OBJECT_SUFFIX_BYTES_RESERVED = 2 * 256;

/** Why an object key cannot be used (too long once encoded into store keys), if it cannot. */
export function objectKeyProblem(o: ObjectRef): string | undefined {
  const size = statePrefix(o).length + OBJECT_SUFFIX_BYTES_RESERVED;
  if (size <= STORE_KEY_BYTES_MAX) return undefined;
  return (
    `the key of ${o.service} is too long: ${utf8(o.key).length} bytes take ` +
    `${size - OBJECT_SUFFIX_BYTES_RESERVED} of the ${STORE_KEY_BYTES_MAX - OBJECT_SUFFIX_BYTES_RESERVED} ` +
    `bytes a key may use in the store (non-ASCII characters take three)`
  );
}

/** Why a state key of an object cannot be stored (too long), if it cannot. */
export function stateKeyProblem(o: ObjectRef, key: Uint8Array): string | undefined {
  return keyProblem(stateKey(o, key), `the state key of ${key.length} bytes`);
}

/** Why a durable promise name of a workflow cannot be stored (too long), if it cannot. */
export function promiseNameProblem(o: ObjectRef, name: string): string | undefined {
  return keyProblem(promiseKey(o, name), `the promise name of ${utf8(name).length} bytes`);
}

/** Why a named signal of an invocation cannot be stored (too long), if it cannot. */
export function signalNameProblem(id: InvocationId, name: string): string | undefined {
  return keyProblem(
    notificationKey(id, { kind: "namedSignal", name }),
    `the signal name of ${utf8(name).length} bytes`,
  );
}

function keyProblem(key: string, what: string): string | undefined {
  if (key.length <= STORE_KEY_BYTES_MAX) return undefined;
  return `${what} is too long: with its object it takes ${key.length} bytes in the store, more than ${STORE_KEY_BYTES_MAX}`;
}

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

/** Decodes the parts of an object-scoped key (state, lock, inbox, promise) for introspection. */
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
