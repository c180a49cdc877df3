// `node bench/kafka.mjs [--records N] [--servers keel,restate]` (after `npm run build`): Kafka
// subscriptions, Keel side by side with the reference server, consuming the same broker (Apache Kafka
// 0.9.0.1 from test/support/kafka.ts, 3 partitions). For each server: records per second from a topic
// into a no-op service handler and into an object counter (64 keys), each measured from the
// subscription's creation over records produced beforehand; then a SIGKILL of the server halfway
// through a counter topic: how long the rest takes after the restart, and whether every record was
// counted exactly once (the counters' sum). The SDK endpoint runs in this process and counts handler
// runs in memory.
import "./polyfill.mjs";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import * as restate from "@restatedev/restate-sdk";
import { KEEL_SERVER, RESTATE_BIN, freePorts } from "./lib/shared.mjs";
import { until } from "./lib/children.mjs";
import { kafkaUnavailable, producerFor, startKafka09 } from "../dist/test/support/kafka.js";

const { values } = parseArgs({
  options: { records: { type: "string", default: "10000" }, servers: { type: "string", default: "keel,restate" } },
});
const RECORDS = Number(values.records);
const SERVERS = values.servers.split(",");
const KEYS = 64;
const problem = kafkaUnavailable();
if (problem !== undefined) {
  console.error(`cannot run: ${problem}`);
  process.exit(1);
}

let noopRuns = 0;
let counterRuns = 0;
const noop = restate.service({
  name: "BenchKafkaNoop",
  handlers: { handle: async () => void noopRuns++ },
});
const counter = restate.object({
  name: "BenchKafkaCounter",
  handlers: {
    add: async (ctx) => {
      ctx.set("count", ((await ctx.get("count")) ?? 0) + 1);
      counterRuns++;
    },
    count: restate.handlers.object.shared(async (ctx) => (await ctx.get("count")) ?? 0),
  },
});
const [endpointPort] = await freePorts(1);
await restate.endpoint().bind(noop).bind(counter).listen(endpointPort);

const broker = await startKafka09({ partitions: 3 });
const producer = await producerFor(broker);

function clusterToml() {
  const options = Object.entries(broker.clientOptions).map(([k, v]) => `${JSON.stringify(k)} = ${JSON.stringify(v)}`);
  return `[[ingress.kafka-clusters]]\nname = "bench"\nbrokers = ["${broker.bootstrap}"]\n${options.join("\n")}\n`;
}

async function startServer(kind, dir, ports) {
  const [ingress, admin, node] = ports;
  const config = path.join(dir, "config.toml");
  fs.writeFileSync(config, clusterToml());
  const args =
    kind === "keel"
      ? [KEEL_SERVER, "--base-dir", dir, "--node-name", "n1", "--bind-address", "127.0.0.1", "--ingress-port", String(ingress),
         "--admin-port", String(admin), "--node-port", String(node), "--log-level", "warn", "--config", config]
      : ["--no-logo", "--node-name", "n1", "--base-dir", dir, "--config-file", config];
  const child = spawn(kind === "keel" ? process.execPath : RESTATE_BIN, args, {
    stdio: ["ignore", "ignore", "pipe"],
    env: {
      ...process.env,
      TMPDIR: dir,
      RESTATE_BIND_ADDRESS: `127.0.0.1:${node}`,
      RESTATE_INGRESS__BIND_ADDRESS: `127.0.0.1:${ingress}`,
      RESTATE_ADMIN__BIND_ADDRESS: `127.0.0.1:${admin}`,
      RESTATE_LOG_FILTER: "warn",
    },
  });
  const output = [];
  child.stderr.on("data", (chunk) => { output.push(chunk.toString()); if (process.env.BENCH_VERBOSE) process.stderr.write(chunk); });
  const adminUrl = `http://127.0.0.1:${admin}`;
  await until(`${kind} to start`, async () => (await fetch(`${adminUrl}/health`)).ok && (await fetch(`http://127.0.0.1:${ingress}/restate/health`)).ok, Date.now() + 60_000, 100).catch((e) => {
    throw new Error(`${e.message}: ${output.join("").slice(-2000)}`);
  });
  return { child, adminUrl, ingressUrl: `http://127.0.0.1:${ingress}`, output };
}

async function stopServer(server, signal = "SIGTERM") {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  const exited = new Promise((r) => server.child.once("exit", r));
  server.child.kill(signal);
  const timer = setTimeout(() => server.child.kill("SIGKILL"), 20_000);
  await exited;
  clearTimeout(timer);
}

async function post(url, body) {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${url}: ${res.status} ${text}`);
  return text === "" ? undefined : JSON.parse(text);
}

async function produce(topic) {
  const records = [];
  for (let n = 0; n < RECORDS; n++) records.push({ topic, key: `k${n % KEYS}`, value: JSON.stringify(n) });
  for (let i = 0; i < records.length; i += 2000) await producer.send(records.slice(i, i + 2000));
}

async function counted(server) {
  const counts = await Promise.all(
    Array.from({ length: KEYS }, async (_, k) => {
      const res = await fetch(`${server.ingressUrl}/BenchKafkaCounter/k${k}/count`, { method: "POST" });
      return res.ok ? Number(await res.text()) : 0;
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

const subscribe = (server, topic, sink) =>
  post(`${server.adminUrl}/subscriptions`, {
    source: `kafka://bench/${topic}`,
    sink,
    // A killed consumer's partitions move on after its session times out (librdkafka's default: 45 s).
    options: { "auto.offset.reset": "earliest", "session.timeout.ms": "6000" },
  });

const results = [];
for (const kind of SERVERS) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `keel-bench-kafka-${kind}-`));
  const ports = await freePorts(3);
  let server = await startServer(kind, dir, ports);
  try {
    await post(`${server.adminUrl}/deployments`, { uri: `http://127.0.0.1:${endpointPort}` });
    const row = { server: kind };

    await produce(`${kind}-noop`);
    noopRuns = 0;
    let start = Date.now();
    await subscribe(server, `${kind}-noop`, "service://BenchKafkaNoop/handle");
    await until("the no-op records", async () => noopRuns >= RECORDS, Date.now() + 180_000, 20);
    row.noopPerSecond = Math.round(RECORDS / ((Date.now() - start) / 1000));

    await produce(`${kind}-counter`);
    start = Date.now();
    await subscribe(server, `${kind}-counter`, "service://BenchKafkaCounter/add");
    await until("the counted records", async () => (await counted(server)) >= RECORDS, Date.now() + 180_000, 200);
    row.counterPerSecond = Math.round(RECORDS / ((Date.now() - start) / 1000));

    await produce(`${kind}-kill`);
    counterRuns = 0;
    await subscribe(server, `${kind}-kill`, "service://BenchKafkaCounter/add");
    await until("half the records", async () => counterRuns >= RECORDS / 2, Date.now() + 180_000, 5);
    await stopServer(server, "SIGKILL");
    const before = (await Promise.resolve(counterRuns));
    server = await startServer(kind, dir, ports);
    const restarted = Date.now();
    await until("every record after the restart", async () => (await counted(server)) >= 2 * RECORDS, Date.now() + 180_000, 200);
    row.drainAfterKillSeconds = (Date.now() - restarted) / 1000;
    row.handlerRunsBeforeKill = before;
    // A moment for late duplicates to show, then the sum must be exactly two topics' worth.
    await new Promise((r) => setTimeout(r, 3000));
    row.countedOverExpected = (await counted(server)) - 2 * RECORDS;
    results.push(row);
    console.log(JSON.stringify(row));
  } finally {
    await stopServer(server);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await producer.close();
await broker.stop();
console.log(`\n${RECORDS} records per topic, 3 partitions, Kafka 0.9.0.1, ${os.cpus().length} cores`);
console.table(results);
process.exit(0);
