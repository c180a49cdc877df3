/**
 * A Kafka record as an invocation, as Restate's Kafka ingress makes it: the body is the record's
 * value, the object (or workflow) key is the record's key, and the handler sees the record's
 * whereabouts as headers (`kafka.offset`, `kafka.topic`, `kafka.partition`, `kafka.timestamp`,
 * `restate.subscription.id`, `kafka.key` in padded base64url). Keel also passes the record's own
 * headers on (their values as UTF-8 text). Each record carries a dedup tag (its topic partition and
 * offset), which makes delivering it twice harmless.
 */

import {
  fromUtf8,
  fromUtf8Strict,
  kafkaRecordInvocationId,
  toBase64Url,
  type PartitionKey,
} from "../core/index.js";
import type { Dedup, ServiceInvocation } from "../gen/keel/records.js";
import type { Header } from "../gen/keel/service_protocol.js";
import {
  retentionOf,
  targetOf,
  type SchemaIndex,
  type SubscriptionSchema,
} from "../schema/index.js";

export interface KafkaRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: Uint8Array | undefined;
  readonly value: Uint8Array | undefined;
  /** Milliseconds since the epoch; undefined when the record has none (Kafka before 0.10). */
  readonly timestampMs: number | undefined;
  readonly headers: readonly (readonly [string, Uint8Array | undefined])[];
}

/** The dedup producer of a subscription's topic partition (also its dedup table key). */
export function kafkaProducer(subscriptionId: string, topic: string, partition: number): string {
  return `${subscriptionId}/${topic}/${partition}`;
}

export type RecordInvocation =
  | {
      readonly kind: "invocation";
      readonly invocation: ServiceInvocation;
      readonly partitionKey: PartitionKey;
      readonly dedup: Dedup;
    }
  /** A record that can never be invoked (its key is not UTF-8 for an object): skipped, and why. */
  | { readonly kind: "skip"; readonly reason: string }
  /** The sink is not registered (now): the record waits, as Restate's consumer does. */
  | { readonly kind: "unavailable"; readonly reason: string };

export function recordInvocation(
  schema: SchemaIndex,
  subscription: SubscriptionSchema,
  record: KafkaRecord,
): RecordInvocation {
  const service = schema.service(subscription.service);
  const handler = service?.handlers.find((h) => h.name === subscription.handler);
  if (service === undefined || handler === undefined)
    return { kind: "unavailable", reason: "the sink's service and handler are not registered" };
  let key = "";
  if (service.ty !== "Service") {
    const text = record.key === undefined ? "" : fromUtf8Strict(record.key);
    if (text === undefined) return { kind: "skip", reason: "the record key must be valid UTF-8" };
    key = text;
  }
  const target = targetOf(service, handler, key);
  const producer = kafkaProducer(subscription.id, record.topic, record.partition);
  const id = kafkaRecordInvocationId(
    { service: service.name, handler: handler.name, key, keyed: service.ty !== "Service" },
    producer,
    record.offset,
  );
  const invocation: ServiceInvocation = {
    invocationId: id.bytes,
    target,
    argument: record.value ?? new Uint8Array(0),
    headers: recordHeaders(subscription.id, record),
    source: { kind: { $case: "subscription", value: subscription.id } },
    responseSink: undefined,
    idempotencyKey: undefined,
    executionTimeMs: 0,
    ...retentionOf(service, handler, false),
    wantsResult: false,
    // No ingress span: the invocation starts a trace of its own.
    traceParent: "",
  };
  return {
    kind: "invocation",
    invocation,
    partitionKey: id.partitionKey,
    dedup: { sourcePartition: 0, seq: record.offset, producer },
  };
}

function recordHeaders(subscriptionId: string, record: KafkaRecord): Header[] {
  const headers: Header[] = [];
  for (const [name, value] of record.headers)
    headers.push({ key: name, value: value === undefined ? "" : fromUtf8(value) });
  headers.push({ key: "kafka.offset", value: String(record.offset) });
  headers.push({ key: "kafka.topic", value: record.topic });
  headers.push({ key: "kafka.partition", value: String(record.partition) });
  if (record.timestampMs !== undefined)
    headers.push({ key: "kafka.timestamp", value: String(record.timestampMs) });
  headers.push({ key: "restate.subscription.id", value: subscriptionId });
  if (record.key !== undefined)
    headers.push({ key: "kafka.key", value: paddedBase64Url(record.key) });
  return headers;
}

function paddedBase64Url(bytes: Uint8Array): string {
  const text = toBase64Url(bytes);
  return text + "=".repeat((4 - (text.length % 4)) % 4);
}
