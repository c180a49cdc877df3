/**
 * Back-pressure of Kafka subscriptions against a real broker (Kafka 0.9.0.1, test/support/kafka.ts):
 * with a small bound on queued invocations (`--kafka-pause-queued-invocations`) and few invoker
 * slots, a subscription whose handler waits at a gate the test holds stops taking records once the
 * queue is over the bound (the records wait in Kafka: the subscription shows `paused` with lag), and
 * once the gate opens it resumes and every record is invoked exactly once. The same in a cluster
 * whose consuming node leads no partition: it pauses on the leader's queue. Keel only: the setting
 * and `/keel/status` are Keel's.
 */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer, type Server, type ServerResponse } from "node:http";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  DIST,
  call,
  eventually,
  freePorts,
  postJson,
  register,
  startKeel,
  tempDir,
  startServices,
  type KeelServer,
  type ServiceEndpoint,
} from "./harness.js";
import {
  kafkaConfigFile,
  joinGroup,
  kafkaUnavailable,
  producerFor,
  startKafka09,
  type KafkaBroker,
  type ProducedRecord,
  type RecordProducer,
} from "../support/kafka.js";

const unavailable = kafkaUnavailable();

const PAUSE_BOUND = 20;
const INVOKER_SLOTS = 4;
/** `limits.kafkaBatchRecordsMax`: the records one pass takes before it looks at the queue again. */
const BATCH = 500;
const RECORDS = 2_000;

interface SubscriptionState {
  id: string;
  state: string;
  records: number;
  lag: number;
  partitions: unknown[];
}

/** An HTTP gate: every request waits until `open()`, then (and from then on) answers 200. */
class Gate {
  private readonly waiting: ServerResponse[] = [];
  private opened = false;
  private readonly server: Server = createServer((_req, res) => {
    if (this.opened) res.end("open");
    else this.waiting.push(res);
  });
  held = 0;

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    const address = this.server.address();
    assert.ok(typeof address === "object" && address !== null);
    this.server.on("request", () => this.held++);
    return `http://127.0.0.1:${address.port}/`;
  }

  open(): void {
    this.opened = true;
    for (const res of this.waiting.splice(0)) res.end("open");
  }

  close(): Promise<void> {
    this.open();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

async function query<T>(server: KeelServer, sql: string): Promise<T[]> {
  const res = await postJson(
    `${server.admin}/query`,
    { query: sql },
    { accept: "application/json" },
  );
  assert.equal(res.status, 200, res.text);
  return res.json<{ rows: T[] }>().rows;
}

/** The subscription as `GET /keel/status` shows it (undefined until its consumer is started). */
async function subscriptionState(
  server: KeelServer,
  id: string,
): Promise<SubscriptionState | undefined> {
  const res = await call(`${server.admin}/keel/status`);
  assert.equal(res.status, 200, res.text);
  return res.json<{ subscriptions: SubscriptionState[] }>().subscriptions.find((s) => s.id === id);
}

async function consumed(server: KeelServer, id: string): Promise<SubscriptionState> {
  const found = await subscriptionState(server, id);
  assert.ok(found !== undefined, `subscription ${id} is not consumed`);
  return found;
}

const invocationsCreated = async (server: KeelServer): Promise<number> =>
  Number(
    (
      await query<{ n: number | string }>(
        server,
        "SELECT count(*) AS n FROM sys_invocation WHERE target_service_name = 'KafkaGate'",
      )
    )[0]?.n ?? 0,
  );

/**
 * Produces `RECORDS` records for the gated handler to `topic` (before the subscription: a consumer
 * that subscribed first may learn of the topic only at its next metadata refresh, 5 minutes away),
 * subscribes the handler through `server`, and resolves with the subscription's id once it is paused
 * with records left in Kafka (lag is measured against the brokers' high watermarks every 2 s).
 */
async function subscribeUntilPaused(
  server: KeelServer,
  producer: RecordProducer,
  gateUrl: string,
  topic: string,
): Promise<{ id: string; paused: SubscriptionState }> {
  const records: ProducedRecord[] = [];
  for (let n = 0; n < RECORDS; n++)
    records.push({ topic, key: `g${n}`, value: JSON.stringify({ gate: gateUrl }) });
  await producer.send(records);
  const created = await postJson(`${server.admin}/subscriptions`, {
    source: `kafka://local/${topic}`,
    sink: "service://KafkaGate/pass",
    options: { "auto.offset.reset": "earliest" },
  });
  assert.equal(created.status, 201, created.text);
  const id = created.json<{ id: string }>().id;
  const paused = await eventually(
    async () => {
      const s = await subscriptionState(server, id);
      return s?.state === "paused" && s.lag > 0 ? s : undefined;
    },
    "the subscription to pause with lag",
    30_000,
  );
  return { id, paused };
}

describe("Kafka subscription back-pressure (Kafka 0.9.0.1)", { skip: unavailable }, () => {
  let broker: KafkaBroker;
  let producer: RecordProducer;
  let server: KeelServer;
  let services: ServiceEndpoint;
  const gate = new Gate();
  let gateUrl: string;

  before(async () => {
    gateUrl = await gate.listen();
    broker = await startKafka09({ partitions: 2 });
    producer = await producerFor(broker);
    server = await startKeel({
      extraArgs: [
        "--config",
        kafkaConfigFile(broker),
        "--kafka-pause-queued-invocations",
        String(PAUSE_BOUND),
        "--concurrent-invocations-limit",
        String(INVOKER_SLOTS),
        // Handlers wait at the gate without a word to Keel; nothing should time them out here.
        "--inactivity-timeout",
        "10m",
      ],
    });
    services = await startServices();
    const registered = await register(server.admin, services.url);
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
  });

  after(async () => {
    await gate.close();
    await producer?.close();
    await services?.stop();
    await server?.stop();
    server?.cleanup();
    await broker?.stop();
  });

  it("pauses while the invoker's queue is over the bound, then invokes every record once", async () => {
    // Every slot waits at the gate, the queue passes the bound: the consumer pauses.
    const { id, paused } = await subscribeUntilPaused(server, producer, gateUrl, "held");
    // At most one batch more than the bound was taken (a pass takes a batch, then looks at the
    // queue), and no more are taken while the handlers wait: watched for 3 s.
    const bound = PAUSE_BOUND + INVOKER_SLOTS + BATCH;
    for (let i = 0; i < 6; i++) {
      const s = await consumed(server, id);
      assert.equal(s.state, "paused");
      assert.ok(s.records <= bound, `records taken while paused: ${s.records} > ${bound}`);
      assert.equal(s.records, paused.records, "records were taken while paused");
      assert.ok(s.lag >= RECORDS - bound, `lag ${s.lag}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    assert.equal(gate.held, INVOKER_SLOTS, "handlers that reached the gate");
    const invocations = await invocationsCreated(server);
    assert.ok(invocations <= bound, `invocations created while paused: ${invocations}`);
    assert.equal(invocations, paused.records);
    const keelStatus = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        [join(DIST, "src", "bin", "keel.js"), "status", "--admin", server.admin],
        { timeout: 30_000 },
        (error, stdout) => (error ? reject(new Error(error.message)) : resolve(stdout)),
      ),
    );
    assert.match(keelStatus, new RegExp(`${id}\\s+paused\\s+held\\s`));

    // A rebalance while paused (a member joins the group, then leaves) moves partitions away and
    // back: they stay paused.
    const member = await joinGroup(broker, id, "held");
    await eventually(
      () => (member.assignments().length === 1 ? true : undefined),
      "the new member to get a partition",
      30_000,
    );
    await eventually(
      async () => ((await consumed(server, id)).partitions.length === 1 ? true : undefined),
      "the consumer to hold one partition",
      30_000,
    );
    await member.leave();
    await eventually(
      async () => ((await consumed(server, id)).partitions.length === 2 ? true : undefined),
      "the consumer to hold both partitions again",
      30_000,
    );
    for (let i = 0; i < 6; i++) {
      const s = await consumed(server, id);
      assert.equal(s.state, "paused");
      assert.equal(s.records, paused.records, "records were taken after the rebalances");
      await new Promise((resolve) => setTimeout(resolve, 500));
    }

    gate.open();
    // The queue drains, the subscription resumes and takes the rest; each record counted once.
    await eventually(
      async () => {
        const s = await consumed(server, id);
        return s.state === "running" && s.records === RECORDS && s.lag === 0 ? s : undefined;
      },
      "every record to be taken",
      60_000,
    );
    const counts = await eventually(
      async () => {
        const rows = await query<{ v: string; n: number | string }>(
          server,
          "SELECT value_utf8 AS v, count(*) AS n FROM state WHERE service_name = 'KafkaGate' AND key = 'count' GROUP BY value_utf8",
        );
        const total = rows.reduce((sum, r) => sum + Number(r.n), 0);
        return total === RECORDS ? rows : undefined;
      },
      "every record to be counted",
      60_000,
    );
    assert.deepEqual(
      counts.map((r) => ({ v: r.v, n: Number(r.n) })),
      [{ v: "1", n: RECORDS }],
    );
    assert.equal(await invocationsCreated(server), RECORDS);
  });
});

describe(
  "Kafka subscription back-pressure in a cluster (Kafka 0.9.0.1)",
  { skip: unavailable },
  () => {
    let broker: KafkaBroker;
    let producer: RecordProducer;
    let baseDir: string;
    /** Leads every partition; no ingress role, so it consumes nothing. */
    let leader: KeelServer;
    /** Consumes the subscription; no worker role, so every invocation goes to the leader's invoker. */
    let consumer: KeelServer;
    let services: ServiceEndpoint;
    const gate = new Gate();
    let gateUrl: string;

    before(async () => {
      gateUrl = await gate.listen();
      broker = await startKafka09({ partitions: 2 });
      producer = await producerFor(broker);
      baseDir = tempDir("kafka-pressure");
      const [leaderPort, consumerPort] = await freePorts(2);
      const metadataServers = `127.0.0.1:${leaderPort}`;
      leader = await startKeel({
        baseDir,
        nodeName: "n1",
        nodePort: leaderPort!,
        waitUntilReady: false,
        extraArgs: [
          ...["--metadata-servers", metadataServers, "--auto-provision"],
          ...["--replication", "1", "--partitions", "2"],
          ...["--roles", "metadata-server,admin,worker,log-server"],
          ...[
            "--concurrent-invocations-limit",
            String(INVOKER_SLOTS),
            "--inactivity-timeout",
            "10m",
          ],
        ],
      });
      consumer = await startKeel({
        baseDir,
        nodeName: "n2",
        nodePort: consumerPort!,
        waitUntilReady: false,
        extraArgs: [
          ...["--metadata-servers", metadataServers, "--partitions", "2"],
          ...["--roles", "admin,http-ingress,log-server"],
          ...["--kafka-pause-queued-invocations", String(PAUSE_BOUND)],
        ],
      });
      for (const node of [leader, consumer])
        await eventually(
          async () =>
            (await fetch(`${node.admin}/health`).catch(() => undefined))?.ok ? true : undefined,
          `${node === leader ? "n1" : "n2"} to be ready`,
          60_000,
        );
      services = await startServices();
      const registered = await register(leader.admin, services.url);
      assert.equal(registered.status, 201, JSON.stringify(registered.body));
      const cluster = await postJson(`${consumer.admin}/kafka-clusters`, {
        name: "local",
        properties: { "bootstrap.servers": broker.bootstrap, ...broker.clientOptions },
      });
      assert.equal(cluster.status, 201, cluster.text);
    });

    after(async () => {
      await gate.close();
      await producer?.close();
      await services?.stop();
      await Promise.all([leader?.stop(), consumer?.stop()]);
      if (baseDir !== undefined) rmSync(baseDir, { recursive: true, force: true });
      await broker?.stop();
    });

    it("pauses a consumer that leads nothing while the leader's queue is over the bound", async () => {
      // The consumer's own invoker runs nothing: only the leader's queue can pause it.
      const { id, paused } = await subscribeUntilPaused(consumer, producer, gateUrl, "led");
      assert.equal(await subscriptionState(leader, id), undefined, "n1 consumes nothing");
      // A reading of the leader's queue may be 100 ms old (shared by the node's subscriptions): a
      // second batch may pass before the queue is seen over the bound.
      const bound = PAUSE_BOUND + INVOKER_SLOTS + 2 * BATCH;
      for (let i = 0; i < 6; i++) {
        const s = await consumed(consumer, id);
        assert.equal(s.state, "paused");
        assert.ok(s.records <= bound, `records taken while paused: ${s.records} > ${bound}`);
        assert.equal(s.records, paused.records, "records were taken while paused");
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      assert.equal(gate.held, INVOKER_SLOTS, "handlers that reached the gate");
      assert.equal(await invocationsCreated(leader), paused.records);

      gate.open();
      await eventually(
        async () => {
          const s = await consumed(consumer, id);
          return s.state === "running" && s.records === RECORDS && s.lag === 0 ? s : undefined;
        },
        "every record to be taken",
        60_000,
      );
      await eventually(
        async () => ((await invocationsCreated(leader)) === RECORDS ? true : undefined),
        "an invocation for every record",
        60_000,
      );
    });
  },
);
