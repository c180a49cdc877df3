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
import { toHex } from "../core/bytes.js";
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
