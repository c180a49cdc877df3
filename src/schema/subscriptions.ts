/**
 * Kafka subscriptions as the schema stores them (the clusters they name: `kafka_clusters.ts`). A
 * subscription is stored with the client options
 * Restate fills in at creation (`group.id`: the subscription id unless given, `client.id`: `restate`),
 * so every node consumes it with the same consumer group.
 */

import type { KafkaCluster } from "./kafka_clusters.js";
import { redactKafkaProperties } from "./kafka_options.js";
import type { Schema } from "./schema.js";

export interface SubscriptionSchema {
  readonly id: string;
  readonly cluster: string;
  readonly topic: string;
  readonly service: string;
  readonly handler: string;
  /** The subscription's client options (they override the cluster's). */
  readonly options: Readonly<Record<string, string>>;
}

export function subscriptionsOf(schema: Schema): readonly SubscriptionSchema[] {
  return schema.subscriptions ?? [];
}

export function subscriptionSource(s: SubscriptionSchema): string {
  return `kafka://${s.cluster}/${s.topic}`;
}

export function subscriptionSink(s: SubscriptionSchema): string {
  return `service://${s.service}/${s.handler}`;
}

/** A subscription as the admin API answers it (Restate's `SubscriptionResponse`, secrets as `***`). */
export function subscriptionJson(s: SubscriptionSchema): Record<string, unknown> {
  return {
    id: s.id,
    source: subscriptionSource(s),
    sink: subscriptionSink(s),
    options: redactKafkaProperties(s.options),
  };
}

/** The options stored with a new subscription: Restate's defaults for the group and client ids. */
export function subscriptionOptions(
  id: string,
  given: Readonly<Record<string, string>>,
  cluster: KafkaCluster,
): Record<string, string> {
  const options: Record<string, string> = { ...given };
  options["group.id"] = given["group.id"] ?? cluster.properties["group.id"] ?? id;
  if (given["client.id"] === undefined && cluster.properties["client.id"] === undefined)
    options["client.id"] = "restate";
  return options;
}

/**
 * The client options a subscription's consumer runs with: the cluster's, then the subscription's,
 * then Keel's own, as Restate's: an offset is stored only once its record is applied, and stored
 * offsets are committed every `auto.commit.interval.ms` (default 5 s) and when the consumer closes.
 */
export function consumerOptions(
  cluster: KafkaCluster,
  subscription: SubscriptionSchema,
): Record<string, string> {
  const options: Record<string, string> = { ...cluster.properties, ...subscription.options };
  options["enable.auto.commit"] = "true";
  options["enable.auto.offset.store"] = "false";
  return options;
}

export function addSubscription(schema: Schema, subscription: SubscriptionSchema): Schema {
  return { ...schema, subscriptions: [...subscriptionsOf(schema), subscription] };
}

/** The schema without the subscription, or undefined when it has none of that id. */
export function removeSubscription(schema: Schema, id: string): Schema | undefined {
  const subscriptions = subscriptionsOf(schema);
  const kept = subscriptions.filter((s) => s.id !== id);
  if (kept.length === subscriptions.length) return undefined;
  return { ...schema, subscriptions: kept };
}

/** Kafka's legal topic names (`[a-zA-Z0-9._-]`, at most 249 characters). */
export function isKafkaTopicName(topic: string): boolean {
  return topic.length > 0 && topic.length <= 249 && /^[A-Za-z0-9._-]+$/.test(topic);
}
