/**
 * What a handler sees of a Kafka record beyond its value: the record's headers and timestamp (which
 * Kafka 0.9 does not have, so against librdkafka's built-in mock cluster, test/support/kafka.ts), and
 * its topic, partition, offset and key, as the headers Restate sets (`kafka.*`). Also consumption
 * through a cluster registered with the admin API (`/kafka-clusters`) as its properties change and it
 * is deleted and registered again. Keel only (the status route shows the consumers).
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { NodeStatusJson } from "../../src/admin/index.js";
import {
  call,
  eventually,
  postJson,
  register,
  startKeel,
  startServices,
  type KeelServer,
  type ServiceEndpoint,
} from "./harness.js";
import {
  kafkaConfigFile,
  kafkaUnavailable,
  startMockKafka,
  type KafkaBroker,
  type RecordProducer,
} from "../support/kafka.js";

describe(
  "Kafka record headers and timestamps (librdkafka's mock cluster)",
  { skip: kafkaUnavailable() },
  () => {
    let broker: KafkaBroker & { producer: RecordProducer };
    let server: KeelServer;
    let services: ServiceEndpoint;

    before(async () => {
      broker = await startMockKafka();
      server = await startKeel({ extraArgs: ["--config", kafkaConfigFile(broker)] });
      services = await startServices();
      assert.equal((await register(server.admin, services.url)).status, 201);
    });

    after(async () => {
      await services?.stop();
      await server?.stop();
      server?.cleanup();
      await broker?.stop();
    });

    it("passes the record's headers on and sets kafka.* headers with its whereabouts", async () => {
      const created = await postJson(`${server.admin}/subscriptions`, {
        source: "kafka://local/stamped",
        sink: "service://KafkaLog/add",
        options: { "auto.offset.reset": "earliest" },
      });
      assert.equal(created.status, 201, created.text);
      const id = created.json<{ id: string }>().id;
      const timestampMs = Date.UTC(2024, 0, 2, 3, 4, 5);
      await broker.producer.send([
        {
          topic: "stamped",
          partition: 0,
          key: "h",
          value: JSON.stringify({ n: 7 }),
          timestampMs,
          headers: { "x-trace": "abc", "x-tenant": "t1" },
        },
      ]);
      const headers = await eventually(
        async () => {
          const res = await call(`${server.ingress}/KafkaLog/h/headers`, { method: "POST" });
          const found = res.json<Record<string, string>>();
          return Object.keys(found).length > 0 ? found : undefined;
        },
        "the record's invocation",
        60_000,
      );
      assert.equal(headers["x-trace"], "abc");
      assert.equal(headers["x-tenant"], "t1");
      assert.equal(headers["kafka.timestamp"], String(timestampMs));
      assert.equal(headers["kafka.topic"], "stamped");
      assert.equal(headers["kafka.partition"], "0");
      assert.equal(headers["kafka.offset"], "0");
      assert.equal(headers["kafka.key"], "aA==");
      assert.equal(headers["restate.subscription.id"], id);
    });

    it("consumes through a cluster registered with the admin API, following its changes", async () => {
      const cluster = (properties: Record<string, string>) => ({
        // A replaced consumer's group member is expelled only when its session times out here (the
        // mock cluster's group coordinator; librdkafka's default is 45 s): keep that short.
        properties: {
          "bootstrap.servers": broker.bootstrap,
          "session.timeout.ms": "6000",
          "heartbeat.interval.ms": "1000",
          ...properties,
        },
      });
      const registered = await postJson(`${server.admin}/kafka-clusters`, {
        name: "registered",
        ...cluster({}),
      });
      assert.equal(registered.status, 201, registered.text);
      const created = await postJson(`${server.admin}/subscriptions`, {
        source: "kafka://registered/via-api",
        sink: "service://KafkaLog/add",
        options: { "auto.offset.reset": "earliest" },
      });
      assert.equal(created.status, 201, created.text);
      const id = created.json<{ id: string }>().id;
      const consumerOf = async () =>
        (await call(`${server.admin}/keel/status`))
          .json<NodeStatusJson>()
          .subscriptions.find((s) => s.id === id);
      const consumed = (key: string) =>
        eventually(
          async () => {
            const res = await call(`${server.ingress}/KafkaLog/${key}/headers`, { method: "POST" });
            return Object.keys(res.json<Record<string, string>>()).length > 0 ? true : undefined;
          },
          `the record of key ${key}`,
          60_000,
        );
      const produce = (key: string) =>
        broker.producer.send([
          { topic: "via-api", partition: 0, key, value: JSON.stringify({ n: 1 }) },
        ]);

      await produce("api-1");
      await consumed("api-1");
      assert.ok(((await consumerOf())?.records ?? 0) >= 1);
      // New properties restart the subscription's consumer (its record count starts again).
      const patched = await call(`${server.admin}/kafka-clusters/registered`, {
        method: "PATCH",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(cluster({ "client.id": "patched" })),
      });
      assert.equal(patched.status, 200, patched.text);
      await eventually(
        async () => ((await consumerOf())?.records === 0 ? true : undefined),
        "a new consumer",
      );
      await produce("api-2");
      await consumed("api-2");
      // Deleted with force, the cluster's subscription is no longer consumed; registered again, it is.
      const deleted = await call(`${server.admin}/kafka-clusters/registered?force=true`, {
        method: "DELETE",
      });
      assert.equal(deleted.status, 202);
      await eventually(
        async () => ((await consumerOf()) === undefined ? true : undefined),
        "the consumer stopped",
      );
      await produce("api-3");
      const again = await postJson(`${server.admin}/kafka-clusters`, {
        name: "registered",
        ...cluster({}),
      });
      assert.equal(again.status, 201, again.text);
      await consumed("api-3");
    });
  },
);
