/**
 * The Kafka ingress: one librdkafka consumer (`@confluentinc/kafka-javascript`) per subscription in
 * the schema, in the consumer group the subscription names. Records are taken a batch at a time; each
 * becomes an invocation carrying a dedup tag (its topic partition and offset); the batch is appended
 * to the partitions' logs (one append per Keel partition, in offset order) and applied, and only then
 * are its offsets stored (committed to Kafka with the next automatic commit, as Restate does) and the
 * next batch taken. A record delivered again (a restart, a
 * rebalance, a lost commit) is dropped by its partition's dedup table, so each record is invoked once.
 * While an invoker the records go to is saturated (any partition leader's, in a cluster) the
 * consumer pauses its partitions and records wait in Kafka.
 */

import { createRequire } from "node:module";
import type * as Kafka from "@confluentinc/kafka-javascript";
import { limits, type PartitionKey } from "../../core/index.js";
import type { Dedup, ServiceInvocation } from "../../gen/keel/records.js";
import type { KeelNode } from "../../node/index.js";
import type { Logger } from "../../platform/index.js";
import {
  consumerOptions,
  resolveKafkaCluster,
  subscriptionsOf,
  type KafkaCluster,
  type SubscriptionSchema,
} from "../../schema/index.js";
import { recordInvocation, type KafkaRecord } from "../index.js";

/** What `keel status` and the metrics show of a subscription's partitions. */
export interface SubscriptionLag {
  readonly subscription: string;
  readonly topic: string;
  readonly partition: number;
  /**
   * The offset after the last record invoked (applied in Keel, or committed to Kafka by an earlier
   * consumer); undefined until known.
   */
  readonly nextOffset: number | undefined;
  readonly high: number;
  readonly lag: number;
}

export interface SubscriptionStatus {
  readonly id: string;
  readonly state: "running" | "paused" | "failing";
  readonly problem?: string;
  readonly records: number;
  readonly partitions: readonly SubscriptionLag[];
}

/** How often the consumers are matched with the schema's subscriptions. */
const RECONCILE_MS = 250;
/** How long a consume call waits for records. */
const CONSUME_WAIT_MS = 200;
/** How often lag is measured (committed offsets and high watermarks asked of the brokers). */
const LAG_REFRESH_MS = 2_000;
const RETRY_MS = 500;
/**
 * librdkafka's consumer options that exist only at the topic level (its CONFIGURATION.md, "Topic
 * configuration properties"). Those named at both levels (`auto.commit.interval.ms`,
 * `enable.auto.commit`, `offset.store.method`) are global options, as librdkafka takes a name set
 * globally: the topic-level ones are the legacy simple consumer's, which the high-level consumer
 * ignores (a topic-level `auto.commit.interval.ms` left commits at the default 5 s).
 */
const TOPIC_LEVEL_CONSUMER_OPTIONS = new Set([
  "auto.offset.reset",
  "auto.commit.enable",
  "offset.store.path",
  "offset.store.sync.interval.ms",
  "consume.callback.max.messages",
]);

// The client is a native addon, loaded with the first subscription (a node without any never needs it).
type Rdkafka = typeof Kafka;
type KafkaConsumer = Kafka.KafkaConsumer;
type Message = Kafka.Message;
/** In the binding (`lib/kafka-consumer.js`) but not in its type declarations. */
interface TimeoutOnlyForFirst {
  setDefaultIsTimeoutOnlyForFirstMessage(onlyForFirst: boolean): void;
}
let client: Rdkafka | Error | undefined;

function loadClient(): Rdkafka | Error {
  if (client !== undefined) return client;
  try {
    client = createRequire(import.meta.url)("@confluentinc/kafka-javascript") as Rdkafka;
  } catch (error) {
    client = new Error(
      `the Kafka client (@confluentinc/kafka-javascript) is not installed or did not build: ${(error as Error).message.split("\n")[0]}; install it with \`CKJS_LINKING=dynamic npm install\` (see the README)`,
    );
  }
  return client;
}

export interface KafkaIngressOptions {
  /**
   * Invocations waiting for an invoker slot above which subscriptions pause their partitions; they
   * resume at half of it (default `limits.kafkaPauseQueuedInvocations`).
   */
  readonly pauseQueuedInvocations?: number;
}

export class KafkaIngress {
  private readonly consumers = new Map<string, SubscriptionConsumer>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly node: KeelNode,
    /** The clusters of the node's configuration (registered ones are in the schema). */
    private readonly configuredClusters: readonly KafkaCluster[],
    private readonly logger: Logger,
    private readonly options: KafkaIngressOptions = {},
  ) {}

  start(): void {
    if (this.configuredClusters.length > 0) {
      const loaded = loadClient();
      if (loaded instanceof Error)
        this.logger.warn("Kafka clusters are configured but cannot be consumed", {
          error: loaded.message,
        });
    }
    this.timer = setInterval(() => this.reconcile(), RECONCILE_MS);
    this.timer.unref();
    this.reconcile();
  }

  /**
   * Starts consumers for new subscriptions, stops those of deleted ones, and restarts those whose
   * subscription or cluster changed (a cluster's properties patched through the admin API).
   */
  private reconcile(): void {
    if (this.stopped || !this.node.isSchemaLoaded) return;
    const schema = this.node.schema().schema;
    const wanted = new Map<string, { subscription: SubscriptionSchema; cluster: KafkaCluster }>();
    for (const subscription of subscriptionsOf(schema)) {
      const found = resolveKafkaCluster(schema, this.configuredClusters, subscription.cluster);
      // As Restate: a subscription whose cluster is gone (deleted with force, or left the
      // configuration) is not consumed.
      if (found === undefined) continue;
      const cluster = { name: found.name, properties: found.properties };
      wanted.set(subscription.id, { subscription, cluster });
    }
    for (const [id, consumer] of this.consumers) {
      const now = wanted.get(id);
      if (
        now === undefined ||
        JSON.stringify(now.subscription) !== JSON.stringify(consumer.subscription) ||
        JSON.stringify(now.cluster) !== JSON.stringify(consumer.cluster)
      ) {
        this.consumers.delete(id);
        void consumer.stop();
      }
    }
    for (const [id, { subscription, cluster }] of wanted) {
      if (this.consumers.has(id)) continue;
      const consumer = new SubscriptionConsumer(
        this.node,
        cluster,
        subscription,
        this.logger,
        this.options.pauseQueuedInvocations ?? limits.kafkaPauseQueuedInvocations,
      );
      this.consumers.set(id, consumer);
      consumer.start();
    }
  }

  status(): SubscriptionStatus[] {
    return [...this.consumers.values()].map((c) => c.status());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    const consumers = [...this.consumers.values()];
    this.consumers.clear();
    await Promise.allSettled(consumers.map((c) => c.stop()));
  }
}

class SubscriptionConsumer {
  private consumer: KafkaConsumer | undefined;
  private running = true;
  private loop: Promise<void> | undefined;
  private paused = false;
  private problem: string | undefined;
  private records = 0;
  /** Per partition: the offset after the last record invoked, and the high watermark. */
  private readonly offsets = new Map<number, { next: number | undefined; high: number }>();
  private lagTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly node: KeelNode,
    readonly cluster: KafkaCluster,
    readonly subscription: SubscriptionSchema,
    private readonly logger: Logger,
    private readonly pauseQueuedInvocations: number,
  ) {}

  start(): void {
    this.loop = this.run().catch((error: unknown) => {
      this.logger.error("kafka subscription stopped", {
        subscription: this.subscription.id,
        error: (error as Error).message,
      });
    });
  }

  status(): SubscriptionStatus {
    const partitions: SubscriptionLag[] = [...this.offsets.entries()]
      .sort(([a], [b]) => a - b)
      .map(([partition, { next, high }]) => ({
        subscription: this.subscription.id,
        topic: this.subscription.topic,
        partition,
        nextOffset: next,
        high,
        lag: Math.max(0, high - (next ?? 0)),
      }));
    return {
      id: this.subscription.id,
      state: this.problem !== undefined ? "failing" : this.paused ? "paused" : "running",
      ...(this.problem === undefined ? {} : { problem: this.problem }),
      records: this.records,
      partitions,
    };
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.lagTimer !== undefined) clearInterval(this.lagTimer);
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const rdkafka = loadClient();
      if (rdkafka instanceof Error) {
        this.fail(rdkafka.message);
        return;
      }
      try {
        this.consumer = await this.connect(rdkafka);
        this.problem = undefined;
        await this.consumeLoop(this.consumer);
      } catch (error) {
        if (!this.running) break;
        this.fail((error as Error).message);
        await sleep(RETRY_MS * 4);
      } finally {
        const consumer = this.consumer;
        this.consumer = undefined;
        if (consumer !== undefined) await disconnect(consumer);
      }
    }
  }

  private fail(message: string): void {
    if (this.problem !== message)
      this.logger.warn("kafka subscription failing", {
        subscription: this.subscription.id,
        error: message,
      });
    this.problem = message;
  }

  private connect(rdkafka: Rdkafka): Promise<KafkaConsumer> {
    // The JavaScript binding always gives librdkafka a topic configuration of its own, which would
    // hide topic-level options set globally (as Restate's client takes them): they go there.
    const global: Record<string, string> = {};
    const topic: Record<string, string> = {};
    for (const [key, value] of Object.entries(consumerOptions(this.cluster, this.subscription))) {
      if (TOPIC_LEVEL_CONSUMER_OPTIONS.has(key)) topic[key] = value;
      else global[key] = value;
    }
    const consumer = new rdkafka.KafkaConsumer(global, topic);
    consumer.setDefaultConsumeTimeout(CONSUME_WAIT_MS);
    // A batch is what has arrived: only the first record is waited for. By default the binding
    // waits up to the timeout for each of the batch's records, so on a topic of 150 records a
    // second a batch took 3 s to fill, and its records waited that long to be invoked.
    (consumer as unknown as TimeoutOnlyForFirst).setDefaultIsTimeoutOnlyForFirstMessage(true);
    return new Promise((resolve, reject) => {
      consumer.connect({ timeout: 10_000 }, (error) => {
        if (error) reject(new Error(`cannot connect to Kafka: ${error.message}`));
        else {
          consumer.subscribe([this.subscription.topic]);
          resolve(consumer);
        }
      });
    });
  }

  private async consumeLoop(consumer: KafkaConsumer): Promise<void> {
    this.lagTimer ??= setInterval(() => this.refreshLag(), LAG_REFRESH_MS);
    this.lagTimer.unref();
    while (this.running) {
      await this.applyBackPressure(consumer);
      const messages = await consume(consumer, limits.kafkaBatchRecordsMax);
      if (messages.length === 0 || !this.running) continue;
      await this.ingest(messages);
      this.records += messages.length;
      // Offsets are stored once the batch is applied, and committed with the next automatic commit:
      // records applied but not committed (a crash) come again, and their partitions drop them.
      const next = new Map<number, number>();
      for (const m of messages) next.set(m.partition, m.offset + 1);
      const stored = [...next].map(([partition, offset]) => ({
        topic: this.subscription.topic,
        partition,
        offset,
      }));
      for (const { partition, offset } of stored) {
        const entry = this.offsets.get(partition) ?? { next: undefined, high: offset };
        entry.next = offset;
        entry.high = Math.max(entry.high, offset);
        this.offsets.set(partition, entry);
      }
      try {
        consumer.offsetsStore(stored);
      } catch (error) {
        // A partition revoked meanwhile: its new owner starts from the last commit, harmlessly.
        this.logger.debug("kafka offset store failed", { error: (error as Error).message });
      }
    }
  }

  /**
   * Pauses the assigned partitions while the invoker queue of a partition leader (this node's, and
   * in a cluster every other leader's) is above the bound; resumes at half of it. While paused, every pass pauses the whole assignment again: librdkafka keeps a paused
   * partition paused across rebalances, but not one it first assigns after the pause, nor a
   * consumer connected anew after a failure.
   */
  private async applyBackPressure(consumer: KafkaConsumer): Promise<void> {
    const queued = await this.node.leadersQueuedInvocations();
    if (!this.running) return;
    const bound = this.pauseQueuedInvocations;
    if (queued > bound || (this.paused && queued > bound / 2)) {
      if (!this.paused)
        this.logger.debug("kafka subscription paused", {
          subscription: this.subscription.id,
          queued,
        });
      this.paused = true;
      consumer.pause(consumer.assignments());
    } else if (this.paused) {
      this.paused = false;
      consumer.resume(consumer.assignments());
    }
  }

  /** Appends the batch's invocations (one append per Keel partition), retried until applied. */
  private async ingest(messages: Message[]): Promise<void> {
    const byPartition = new Map<
      number,
      { key: PartitionKey; invocations: ServiceInvocation[]; dedup: Dedup[] }
    >();
    const schema = this.node.schema();
    for (const message of messages) {
      const made = recordInvocation(schema, this.subscription, recordOf(message));
      // The consumer starts again from the last commit, and retries until the sink is back.
      if (made.kind === "unavailable")
        throw new Error(`record ${message.partition}/${message.offset}: ${made.reason}`);
      if (made.kind === "skip") {
        this.logger.warn("kafka record skipped", {
          subscription: this.subscription.id,
          topic: message.topic,
          partition: message.partition,
          offset: message.offset,
          reason: made.reason,
        });
        continue;
      }
      const partitionId = this.node.partitionTable.partitionOf(made.partitionKey);
      let group = byPartition.get(partitionId);
      if (group === undefined) {
        group = { key: made.partitionKey, invocations: [], dedup: [] };
        byPartition.set(partitionId, group);
      }
      group.invocations.push(made.invocation);
      group.dedup.push(made.dedup);
    }
    const pending = new Set(byPartition.values());
    while (pending.size > 0) {
      const results = await Promise.allSettled(
        [...pending].map(async (group) => {
          await this.node.ingestDeduplicated(group.key, group.invocations, group.dedup);
          pending.delete(group);
        }),
      );
      const failed = results.find((r) => r.status === "rejected");
      if (failed === undefined) break;
      // Appends that failed are sent again (dedup makes a landed one harmless), as long as it runs.
      this.fail(`appending records failed: ${String(failed.reason)}`);
      if (!this.running) throw new Error("stopped while appending records");
      await sleep(RETRY_MS);
    }
    this.problem = undefined;
  }

  private refreshLag(): void {
    const consumer = this.consumer;
    if (consumer === undefined) return;
    let assignments: { topic: string; partition: number }[];
    try {
      assignments = consumer.assignments();
    } catch {
      return;
    }
    const mine = new Set(assignments.map((a) => a.partition));
    for (const partition of this.offsets.keys())
      if (!mine.has(partition)) this.offsets.delete(partition);
    // Every partition the group gave this consumer shows, records taken from it or not.
    for (const partition of mine)
      if (!this.offsets.has(partition)) this.offsets.set(partition, { next: undefined, high: 0 });
    if (assignments.length === 0) return;
    consumer.committed(assignments, LAG_REFRESH_MS, (error, committed) => {
      if (error || committed === undefined) return;
      for (const c of committed) {
        const entry = this.offsets.get(c.partition) ?? { next: undefined, high: 0 };
        if (c.offset >= 0) entry.next = Math.max(entry.next ?? 0, c.offset);
        this.offsets.set(c.partition, entry);
      }
    });
    for (const { topic, partition } of assignments) {
      consumer.queryWatermarkOffsets(topic, partition, LAG_REFRESH_MS, (error, watermarks) => {
        if (error || watermarks === undefined) return;
        const entry = this.offsets.get(partition) ?? { next: undefined, high: 0 };
        entry.high = watermarks.highOffset;
        if (entry.next === undefined) entry.next = watermarks.lowOffset;
        this.offsets.set(partition, entry);
      });
    }
  }
}

function recordOf(message: Message): KafkaRecord {
  const headers: [string, Uint8Array | undefined][] = [];
  for (const header of message.headers ?? []) {
    for (const [name, value] of Object.entries(header)) {
      headers.push([name, value === undefined || value === null ? undefined : bytesOf(value)]);
    }
  }
  const timestamp = message.timestamp;
  return {
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    key: message.key === undefined || message.key === null ? undefined : bytesOf(message.key),
    value: message.value === null ? undefined : new Uint8Array(message.value),
    timestampMs: timestamp === undefined || timestamp < 0 ? undefined : timestamp,
    headers,
  };
}

function bytesOf(value: string | Buffer): Uint8Array {
  return typeof value === "string" ? Buffer.from(value, "utf8") : new Uint8Array(value);
}

function consume(consumer: KafkaConsumer, count: number): Promise<Message[]> {
  return new Promise((resolve, reject) => {
    consumer.consume(count, (error, messages) => {
      if (error) reject(new Error(`consuming failed: ${error.message}`));
      else resolve(messages);
    });
  });
}

function disconnect(consumer: KafkaConsumer): Promise<void> {
  return new Promise((resolve) => {
    try {
      consumer.disconnect(() => resolve());
    } catch {
      resolve();
    }
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
