/**
 * Kafka subscriptions against a real broker: Apache Kafka 0.9.0.1 with ZooKeeper (test/support/kafka.ts),
 * consumed by Keel through librdkafka with the client options Kafka 0.9 needs, given in the cluster's
 * configuration. Records to an object handler apply in order per key; every record is invoked exactly
 * once across restarts (one of them a SIGKILL) of the consuming node; a deleted subscription stops; a
 * record its handler rejects does not hold up the records after it. Keel only: the reference server
 * is not started with Kafka clusters here.
 */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  DIST,
  RESTATE_CLI_BIN,
  call,
  eventually,
  freePort,
  postJson,
  register,
  startKeel,
  startServices,
  tempDir,
  type KeelServer,
  type ServiceEndpoint,
} from "./harness.js";
import {
  committedOffsets,
  kafkaConfigFile,
  kafkaUnavailable,
  producerFor,
  startKafka09,
  type KafkaBroker,
  type ProducedRecord,
  type RecordProducer,
} from "../support/kafka.js";

const unavailable = kafkaUnavailable();

async function seen(server: KeelServer, key: string): Promise<number[]> {
  const res = await call(`${server.ingress}/KafkaLog/${key}/seen`, { method: "POST" });
  assert.equal(res.status, 200, res.text);
  return res.json<number[]>();
}

function cli(server: KeelServer, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      RESTATE_CLI_BIN,
      args,
      {
        timeout: 30_000,
        env: {
          PATH: process.env["PATH"] ?? "",
          HOME: tempDir("cli-home"),
          NO_COLOR: "1",
          RESTATE_ADMIN_URL: server.admin,
        },
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
        resolve({ code, out: `${stdout}${stderr}` });
      },
    );
  });
}

describe("Kafka subscriptions (Kafka 0.9.0.1)", { skip: unavailable }, () => {
  let broker: KafkaBroker;
  let producer: RecordProducer;
  let server: KeelServer;
  let services: ServiceEndpoint;
  let nodePort: number;

  before(async () => {
    broker = await startKafka09({ partitions: 3 });
    producer = await producerFor(broker);
    nodePort = await freePort();
    server = await startKeel({ nodePort, extraArgs: ["--config", kafkaConfigFile(broker)] });
    services = await startServices();
    const registered = await register(server.admin, services.url);
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
  });

  after(async () => {
    await producer?.close();
    await services?.stop();
    await server?.stop();
    server?.cleanup();
    await broker?.stop();
  });

  const subscribe = async (
    topic: string,
    sink: string,
    options: Record<string, string> = {},
  ): Promise<string> => {
    const res = await postJson(`${server.admin}/subscriptions`, {
      source: `kafka://local/${topic}`,
      sink,
      options: { "auto.offset.reset": "earliest", ...options },
    });
    assert.equal(res.status, 201, res.text);
    return res.json<{ id: string }>().id;
  };

  it("refuses bad sources, unknown clusters and unknown handlers with 400", async () => {
    const create = (body: unknown) => postJson(`${server.admin}/subscriptions`, body);
    const unknownCluster = await create({
      source: "kafka://elsewhere/orders",
      sink: "service://KafkaLog/add",
    });
    assert.equal(unknownCluster.status, 400);
    assert.equal(
      unknownCluster.json<{ message: string }>().message,
      `Kafka cluster 'elsewhere' not found. Available clusters: ["local"]`,
    );
    const badSource = await create({
      source: "http://local/orders",
      sink: "service://KafkaLog/add",
    });
    assert.equal(badSource.status, 400);
    assert.match(badSource.text, /invalid source URI/);
    const badTopic = await create({
      source: "kafka://local/a%20b",
      sink: "service://KafkaLog/add",
    });
    assert.equal(badTopic.status, 400);
    assert.match(badTopic.text, /Kafka topic/);
    const unknownHandler = await create({
      source: "kafka://local/orders",
      sink: "service://KafkaLog/nope",
    });
    assert.equal(unknownHandler.status, 400);
    assert.match(unknownHandler.text, /cannot find service\/handler/);
    const list = await call(`${server.admin}/subscriptions`);
    assert.deepEqual(list.json(), { subscriptions: [] });
  });

  it("applies keyed records to an object in order per key, through the restate CLI", async () => {
    const keys = ["a", "b", "c", "d"];
    const records: ProducedRecord[] = [];
    for (let n = 0; n < 200; n++)
      records.push({ topic: "ordered", key: keys[n % 4]!, value: JSON.stringify({ n }) });
    await producer.send(records);
    const created = await cli(server, [
      "subscriptions",
      "create",
      "--yes",
      "kafka://local/ordered",
      "service://KafkaLog/add",
      "auto.offset.reset=earliest",
    ]);
    assert.equal(created.code, 0, created.out);
    const listed = await call(`${server.admin}/subscriptions`);
    const [subscription] = listed.json<{ subscriptions: Record<string, unknown>[] }>()
      .subscriptions;
    assert.ok(subscription !== undefined, listed.text);
    const id = subscription["id"] as string;
    assert.deepEqual(subscription, {
      id,
      source: "kafka://local/ordered",
      sink: "service://KafkaLog/add",
      options: { "auto.offset.reset": "earliest", "group.id": id, "client.id": "restate" },
    });
    const described = await cli(server, ["subscriptions", "describe", id]);
    assert.equal(described.code, 0, described.out);
    assert.match(described.out, /kafka:\/\/local\/ordered/);

    for (const [i, key] of keys.entries()) {
      const expected = records.map((_, n) => n).filter((n) => n % 4 === i);
      await eventually(
        async () => ((await seen(server, key)).length >= expected.length ? true : undefined),
        `the records of key ${key}`,
        60_000,
      );
      assert.deepEqual(await seen(server, key), expected);
    }
    const rows = await postJson(
      `${server.admin}/query`,
      {
        query: `SELECT invoked_by, invoked_by_subscription_id FROM sys_invocation WHERE target_service_name = 'KafkaLog' AND target_handler_name = 'add' LIMIT 1`,
      },
      { accept: "application/json" },
    );
    assert.deepEqual(rows.json<{ rows: unknown[] }>().rows, [
      { invoked_by: "subscription", invoked_by_subscription_id: id },
    ]);
    const status = await call(`${server.admin}/keel/status`);
    const mine = status
      .json<{ subscriptions: { id: string; records: number; lag: number }[] }>()
      .subscriptions.find((s) => s.id === id);
    assert.ok(mine !== undefined && mine.records === 200, status.text);

    const removed = await cli(server, ["subscriptions", "delete", "--yes", id]);
    assert.equal(removed.code, 0, removed.out);
    assert.deepEqual((await call(`${server.admin}/subscriptions`)).json(), { subscriptions: [] });
  });

  it("stops consuming a deleted subscription", async () => {
    await producer.send([{ topic: "stopping", key: "s", value: JSON.stringify({ n: 1 }) }]);
    const id = await subscribe("stopping", "service://KafkaLog/add");
    await eventually(
      async () => ((await seen(server, "s")).length === 1 ? true : undefined),
      "the first record",
      60_000,
    );
    const deleted = await call(`${server.admin}/subscriptions/${id}`, { method: "DELETE" });
    assert.equal(deleted.status, 202);
    assert.equal((await call(`${server.admin}/subscriptions/${id}`)).status, 404);
    // Keel's status names the subscriptions it consumes: once it is gone there, nothing more comes.
    await eventually(async () => {
      const status = await call(`${server.admin}/keel/status`);
      const ids = status.json<{ subscriptions: { id: string }[] }>().subscriptions.map((s) => s.id);
      return ids.includes(id) ? undefined : true;
    }, "the consumer to stop");
    await producer.send([{ topic: "stopping", key: "s", value: JSON.stringify({ n: 2 }) }]);
    // A new subscription of the same topic (own consumer group, from the earliest offset) shows the
    // record is in the topic: the deleted one would have taken it by then.
    await subscribe("stopping", "service://KafkaLog/add");
    await eventually(
      async () => ((await seen(server, "s")).length >= 3 ? true : undefined),
      "the new subscription's records",
      60_000,
    );
    assert.deepEqual(await seen(server, "s"), [1, 1, 2]);
  });

  it("commits offsets at the subscription's auto.commit.interval.ms, and when it stops", async () => {
    await producer.send(
      [1, 2, 3].map((n) => ({
        topic: "committing",
        partition: 0,
        key: "committed",
        value: JSON.stringify({ n }),
      })),
    );
    const id = await subscribe("committing", "service://KafkaLog/add", {
      "auto.commit.interval.ms": "600000",
    });
    await eventually(
      async () => ((await seen(server, "committed")).length === 3 ? true : undefined),
      "the records",
      60_000,
    );
    // librdkafka's default interval (5 s) would have committed by now; ten minutes did not.
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    assert.deepEqual(await committedOffsets(broker, id, "committing", 3), [-1001, -1001, -1001]);
    const deleted = await call(`${server.admin}/subscriptions/${id}`, { method: "DELETE" });
    assert.equal(deleted.status, 202);
    // The consumer commits what it stored as it closes.
    await eventually(
      async () =>
        (await committedOffsets(broker, id, "committing", 3))[0] === 3 ? true : undefined,
      "the commit as the consumer closes",
    );
  });

  it("invokes the records of a slow topic as they come, not once a batch is full", async () => {
    const send = (n: number) =>
      producer.send([
        { topic: "trickle", partition: 0, key: "trickle", value: JSON.stringify({ n }) },
      ]);
    await send(0);
    await subscribe("trickle", "service://KafkaLog/add");
    await eventually(
      async () => ((await seen(server, "trickle")).length === 1 ? true : undefined),
      "the first record",
      60_000,
    );
    // A record every 50 ms for 3 s: a consumer that waited for a full batch (or a pause between
    // records) would invoke none of them before the last was sent.
    const started = Date.now();
    let n = 1;
    while (Date.now() - started < 3_000) {
      await send(n++);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const invokedWhileSending = (await seen(server, "trickle")).length;
    assert.ok(invokedWhileSending >= n / 2, `${invokedWhileSending} invoked while ${n} were sent`);
    await eventually(
      async () => ((await seen(server, "trickle")).length === n ? true : undefined),
      "every record",
    );
  });

  it("does not let a record its handler rejects hold up the partition", async () => {
    await producer.send([
      { topic: "poison", partition: 0, key: "p", value: JSON.stringify({ n: 1 }) },
      { topic: "poison", partition: 0, key: "p", value: JSON.stringify({ n: 2, poison: true }) },
      { topic: "poison", partition: 0, key: "p", value: "not json at all" },
      { topic: "poison", partition: 0, key: "p", value: JSON.stringify({ n: 3 }) },
    ]);
    await subscribe("poison", "service://KafkaLog/add");
    await eventually(
      async () => ((await seen(server, "p")).length >= 2 ? true : undefined),
      "the records after the poison one",
      60_000,
    );
    assert.deepEqual(await seen(server, "p"), [1, 3]);
  });

  it("invokes every record of 3 partitions exactly once across two restarts, one a SIGKILL", async () => {
    // A killed consumer's partitions move on once its session times out (librdkafka's default: 45 s).
    // Offsets are committed only when the consumer closes: the SIGKILL loses every commit, so the
    // restarted node is given again every record it had invoked, and must drop each of them.
    const keys = ["k0", "k1", "k2", "k3", "k4", "k5"];
    let n = 0;
    const produce = async (count: number): Promise<void> => {
      const records: ProducedRecord[] = [];
      for (let i = 0; i < count; i++, n++)
        records.push({
          topic: "counted",
          key: keys[n % keys.length]!,
          value: JSON.stringify({ n }),
        });
      await producer.send(records);
    };
    const total = (): Promise<number> =>
      Promise.all(keys.map((k) => seen(server, k))).then((all) =>
        all.reduce((sum, s) => sum + s.length, 0),
      );
    // The topic exists before the subscription (a consumer that subscribed first may learn of it only
    // at its next metadata refresh, 5 minutes away).
    await produce(300);
    await subscribe("counted", "service://KafkaLog/add", {
      "session.timeout.ms": "6000",
      "auto.commit.interval.ms": "600000",
    });
    // Kill the node while it consumes (some records applied, their offsets maybe not committed).
    await eventually(async () => ((await total()) > 0 ? true : undefined), "consumption", 60_000);
    await server.kill9();
    await produce(300);
    await server.restart();
    await eventually(
      async () => ((await total()) >= 400 ? true : undefined),
      "more records",
      60_000,
    );
    assert.ok((await server.stop()) === 0);
    await produce(300);
    await server.restart();
    await eventually(
      async () => ((await total()) >= 900 ? true : undefined),
      "every record",
      90_000,
    );
    // Nothing more arrives late: duplicates would show up as extra entries.
    const status = await eventually(async () => {
      const res = await call(`${server.admin}/keel/status`);
      const subs = res.json<{ subscriptions: { lag: number; partitions: unknown[] }[] }>()
        .subscriptions;
      const counted = subs.at(-1);
      return counted !== undefined && counted.partitions.length === 3 && counted.lag === 0
        ? counted
        : undefined;
    }, "no lag");
    assert.equal(status.lag, 0);
    for (const [i, key] of keys.entries()) {
      const expected: number[] = [];
      for (let m = i; m < 900; m += keys.length) expected.push(m);
      assert.deepEqual(await seen(server, key), expected, `key ${key}`);
    }
    const keelStatus = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        [join(DIST, "src", "bin", "keel.js"), "status", "--admin", server.admin],
        { timeout: 30_000 },
        (error, stdout) => (error ? reject(new Error(error.message)) : resolve(stdout)),
      ),
    );
    assert.match(keelStatus, /Kafka subscriptions consumed here/);
    assert.match(keelStatus, /sub_\w+\s+running\s+counted\s+2\s+300\s+300\s+0/);
    const metrics = await call(`http://127.0.0.1:${nodePort}/metrics`);
    assert.match(
      metrics.text,
      /keel_kafka_subscription_lag\{subscription="sub_[^"]+",topic="counted",partition="2"\} 0/,
    );
  });
});
