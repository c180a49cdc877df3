/**
 * Kafka subscriptions in a cluster: every node with the ingress role consumes the subscription in one
 * consumer group, so Kafka shares the topic's partitions among the nodes; when a consuming node is
 * killed, the others take its partitions over (once its session times out) and every record is still
 * invoked exactly once, those it had invoked without committing them included. The Kafka cluster is
 * registered through one node's admin API (`/kafka-clusters`) and every node consumes from it. Keel
 * only.
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  call,
  eventually,
  postJson,
  register,
  startCluster,
  startServices,
  type KeelCluster,
  type KeelServer,
  type ServiceEndpoint,
} from "./harness.js";
import {
  kafkaUnavailable,
  producerFor,
  startKafka09,
  type KafkaBroker,
  type ProducedRecord,
  type RecordProducer,
} from "../support/kafka.js";

const KEYS = ["k0", "k1", "k2", "k3", "k4", "k5"];

describe("Kafka subscriptions in a cluster of three", { skip: kafkaUnavailable() }, () => {
  let broker: KafkaBroker;
  let producer: RecordProducer;
  let cluster: KeelCluster;
  let services: ServiceEndpoint;

  before(async () => {
    broker = await startKafka09({ partitions: 3 });
    producer = await producerFor(broker);
    cluster = await startCluster({ size: 3, replication: "2", partitions: 4 });
    services = await startServices();
    assert.equal((await register(cluster.nodes[0]!.admin, services.url)).status, 201);
    const registered = await postJson(`${cluster.nodes[2]!.admin}/kafka-clusters`, {
      name: "local",
      properties: { "bootstrap.servers": broker.bootstrap, ...broker.clientOptions },
    });
    assert.equal(registered.status, 201, registered.text);
  });

  after(async () => {
    await producer?.close();
    await services?.stop();
    await cluster?.stop();
    cluster?.cleanup();
    await broker?.stop();
  });

  it("invokes every record exactly once when a consuming node is killed", async () => {
    const [first] = cluster.nodes;
    const seen = async (key: string): Promise<number[]> => {
      const res = await call(`${first!.ingress}/KafkaLog/${key}/seen`, { method: "POST" });
      assert.equal(res.status, 200, res.text);
      return res.json<number[]>();
    };
    const total = async (): Promise<number> =>
      (await Promise.all(KEYS.map(seen))).reduce((sum, s) => sum + s.length, 0);
    let n = 0;
    const produce = async (count: number): Promise<void> => {
      const records: ProducedRecord[] = [];
      for (let i = 0; i < count; i++, n++)
        records.push({
          topic: "shared",
          key: KEYS[n % KEYS.length]!,
          value: JSON.stringify({ n }),
        });
      await producer.send(records);
    };
    // The topic exists before the consumers subscribe: a consumer learns of a topic created later only
    // at its next metadata refresh (librdkafka: every 5 minutes), and the group leader assigns only
    // the partitions it knows of.
    await produce(300);
    const created = await postJson(`${first!.admin}/subscriptions`, {
      source: "kafka://local/shared",
      sink: "service://KafkaLog/add",
      // A killed member's partitions move on once its session times out; no offset is committed
      // before a consumer closes, so the killed node's invoked records all come again.
      options: {
        "auto.offset.reset": "earliest",
        "session.timeout.ms": "6000",
        "auto.commit.interval.ms": "600000",
      },
    });
    assert.equal(created.status, 201, created.text);
    const id = created.json<{ id: string }>().id;
    // Every node consumes the subscription (the group shares the partitions among them).
    for (const node of cluster.nodes)
      await eventually(async () => {
        const status = await call(`${node.admin}/keel/status`);
        const subscriptions = status.json<{ subscriptions: { id: string }[] }>().subscriptions;
        return subscriptions.some((s) => s.id === id) ? true : undefined;
      }, `${node.admin} to consume the subscription`);
    await eventually(
      async () => ((await total()) >= 300 ? true : undefined),
      "the first records",
      60_000,
    );
    // The victim: a node other than the one the test reads through, consuming a share of the topic
    // (its status lists the partitions the group gave it).
    const holds = async (node: KeelServer): Promise<boolean> => {
      const status = await call(`${node.admin}/keel/status`);
      const mine = status
        .json<{ subscriptions: { id: string; partitions: unknown[] }[] }>()
        .subscriptions.find((s) => s.id === id);
      return mine !== undefined && mine.partitions.length > 0;
    };
    const victim = await eventually(async () => {
      for (const node of cluster.nodes.slice(1)) if (await holds(node)) return node;
      return undefined;
    }, "a node other than the first to hold partitions of the topic");
    await victim.kill9();
    await produce(300);
    await eventually(
      async () => ((await total()) >= 600 ? true : undefined),
      "every record, the killed node's partitions taken over",
      90_000,
    ).catch(async (error: unknown) => {
      const survivors = cluster.nodes.filter((node) => node !== victim);
      const statuses = await Promise.all(
        survivors.map(
          async (node) =>
            (await call(`${node.admin}/keel/status`)).json<{ subscriptions: unknown }>()
              .subscriptions,
        ),
      );
      throw new Error(
        `${(error as Error).message}; ${await total()} invoked; survivors' subscriptions: ${JSON.stringify(statuses)}`,
      );
    });
    for (const [i, key] of KEYS.entries()) {
      const expected: number[] = [];
      for (let m = i; m < 600; m += KEYS.length) expected.push(m);
      assert.deepEqual(await seen(key), expected, `key ${key}`);
    }
    await victim.restart();
  });
});
