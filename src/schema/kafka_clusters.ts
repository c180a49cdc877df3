/**
 * Kafka clusters that subscriptions name. Two kinds, as in Restate: clusters registered through the
 * admin API (`/kafka-clusters`), stored in the schema so every node sees them, and clusters of a
 * node's configuration file (`[[ingress.kafka-clusters]]`, deprecated by Restate but still read).
 * A registered cluster takes precedence over a configured one of the same name; the admin API refuses
 * to register, change or delete a configured one.
 */

import type { Schema } from "./schema.js";
import { subscriptionsOf, type SubscriptionSchema } from "./subscriptions.js";

/** A Kafka cluster: its name and librdkafka client options. */
export interface KafkaCluster {
  readonly name: string;
  /** Client options as librdkafka names them; a configured cluster's `brokers` become `metadata.broker.list`. */
  readonly properties: Readonly<Record<string, string>>;
}

/** A cluster registered through the admin API. */
export interface RegisteredKafkaCluster extends KafkaCluster {
  readonly createdAtMs: number;
}

/** A cluster as the admin API shows it, with where it comes from. */
export interface ResolvedKafkaCluster extends RegisteredKafkaCluster {
  /** From a configuration file (its creation time is the epoch, as Restate shows it). */
  readonly configured: boolean;
  /** Registered, and a configured cluster of the same name is hidden by it. */
  readonly shadowsConfigured: boolean;
}

export function registeredKafkaClusters(schema: Schema): readonly RegisteredKafkaCluster[] {
  return schema.kafkaClusters ?? [];
}

/** The cluster a subscription naming `name` consumes from, registered first, then configured. */
export function resolveKafkaCluster(
  schema: Schema,
  configured: readonly KafkaCluster[],
  name: string,
): ResolvedKafkaCluster | undefined {
  const fromConfig = configured.find((c) => c.name === name);
  const registered = registeredKafkaClusters(schema).find((c) => c.name === name);
  if (registered !== undefined)
    return { ...registered, configured: false, shadowsConfigured: fromConfig !== undefined };
  if (fromConfig !== undefined)
    return { ...fromConfig, createdAtMs: 0, configured: true, shadowsConfigured: false };
  return undefined;
}

/** Every cluster: the registered ones, then the configured ones no registered cluster hides. */
export function listKafkaClusters(
  schema: Schema,
  configured: readonly KafkaCluster[],
): ResolvedKafkaCluster[] {
  const registered = registeredKafkaClusters(schema);
  const names = new Set(registered.map((c) => c.name));
  return [
    ...registered.map((c) => resolveKafkaCluster(schema, configured, c.name)!),
    ...configured
      .filter((c) => !names.has(c.name))
      .map((c) => resolveKafkaCluster(schema, configured, c.name)!),
  ];
}

export function kafkaClusterSubscriptions(schema: Schema, name: string): SubscriptionSchema[] {
  return subscriptionsOf(schema).filter((s) => s.cluster === name);
}

export function addKafkaCluster(schema: Schema, cluster: RegisteredKafkaCluster): Schema {
  return { ...schema, kafkaClusters: [...registeredKafkaClusters(schema), cluster] };
}

/** The schema with the cluster's properties replaced (the cluster must be registered). */
export function replaceKafkaClusterProperties(
  schema: Schema,
  name: string,
  properties: Readonly<Record<string, string>>,
): Schema {
  return {
    ...schema,
    kafkaClusters: registeredKafkaClusters(schema).map((c) =>
      c.name === name ? { ...c, properties: { ...properties } } : c,
    ),
  };
}

export function removeKafkaCluster(schema: Schema, name: string): Schema {
  return {
    ...schema,
    kafkaClusters: registeredKafkaClusters(schema).filter((c) => c.name !== name),
  };
}

/**
 * Why `name` is not a cluster name, in the words of the `http` crate's authority parser (Restate
 * requires a name to be a URI authority, so that `kafka://<name>/<topic>` is a URI), or undefined.
 */
export function kafkaClusterNameProblem(name: string): string | undefined {
  if (name === "") return "empty string";
  if (!/^[A-Za-z0-9\-._~!$&'()*+,;=:@[\]%]*$/.test(name)) return "invalid uri character";
  // The crate's rules: a `%` only in the userinfo (before an `@`), brackets once and in order, at
  // most one colon (the port's) after the userinfo or an IPv6 literal, and a host after an `@`.
  let colons = 0;
  let percent = false;
  let opened = false;
  let closed = false;
  for (const char of name) {
    if (char === ":") colons++;
    else if (char === "%") percent = true;
    else if (char === "@") {
      colons = 0;
      percent = false;
    } else if (char === "[") {
      if (percent || opened) return "invalid authority";
      opened = true;
    } else if (char === "]") {
      if (!opened || closed) return "invalid authority";
      closed = true;
      colons = 0;
      percent = false;
    }
  }
  if (opened !== closed || colons > 1 || name.endsWith("@") || percent) return "invalid authority";
  return undefined;
}
