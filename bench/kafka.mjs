// `node bench/kafka.mjs [--records N] [--servers keel,restate] [--runs N] [--phases throughput,kill,lag]
// [--rate R]` (after `npm run build`): Kafka subscriptions, Keel side by side with the reference server,
// consuming the same broker (Apache Kafka 0.9.0.1 from test/support/kafka.ts, 3 partitions); runs
// alternate between the servers, each on a fresh data directory. Phases:
// - throughput: records per second from a topic into a no-op service handler and into an object
//   counter (64 keys), each measured from the subscription's creation over records produced beforehand,
//   the server's CPU seconds (all threads) per 1,000 records, and (no-op) the SDK endpoint's;
// - kill: a SIGKILL of the server halfway through a counter topic: how long the rest takes after the
//   restart, and whether every record was counted exactly once (the counters' sum);
// - lag: records produced at a fixed rate (`--rate`, per second) into an object counter while the
//   consumer group's lag is read from the broker itself every 250 ms (the high watermarks minus the
//   group's committed offsets, summed over the partitions; the group is the one the server reports
//   for the subscription, offsets committed every second); after 15 s the server is SIGKILLed and
//   started again at once; reported: the lag before the kill (its highest in the last 5 s), at the kill
//   and 1, 2, 5, 10, 20 and 30 s after it, its peak, and how long after the kill it was back at the
//   level before; then whether every record was counted exactly once.
// The SDK endpoint runs in this process and counts handler runs in memory. BENCH_KEEL_NODE_ARGS
// (e.g. `--cpu-prof --cpu-prof-dir=DIR`) and BENCH_KEEL_SERVER_ARGS go to keel-server's node and to
// keel-server; BENCH_KAFKA_SERIES=FILE writes every lag sample.
import "./polyfill.mjs";
import { spawn } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { KEEL_SERVER, RESTATE_BIN, freePorts, median } from "./lib/shared.mjs";
import { until } from "./lib/children.mjs";
import { cpuSeconds } from "./lib/proc.mjs";
import { kafkaUnavailable, producerFor, startKafka09 } from "../dist/test/support/kafka.js";

const { values } = parseArgs({
  options: {
    records: { type: "string", default: "10000" },
    servers: { type: "string", default: "keel,restate" },
    runs: { type: "string", default: "1" },
    phases: { type: "string", default: "throughput,kill,lag" },
    rate: { type: "string", default: "150" },
  },
});
const RECORDS = Number(values.records);
const SERVERS = values.servers.split(",");
const RUNS = Number(values.runs);
const PHASES = new Set(values.phases.split(","));
const RATE = Number(values.rate);
/** Node options for keel-server, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile it. */
const KEEL_NODE_ARGS = (process.env.BENCH_KEEL_NODE_ARGS ?? "").split(" ").filter((a) => a !== "");
/** More keel-server options, e.g. `--one-way-starting-limit 1000`. */
const KEEL_SERVER_ARGS = (process.env.BENCH_KEEL_SERVER_ARGS ?? "").split(" ").filter((a) => a !== "");
/** Seconds after the kill at which the lag is reported. */
const LAG_MARKS = [0, 1, 2, 5, 10, 20, 30];
const LAG_SAMPLE_MS = 250;
const KEYS = 64;
const problem = kafkaUnavailable();
if (problem !== undefined) {
  console.error(`cannot run: ${problem}`);
  process.exit(1);
}

// The SDK reads its log level as it loads: its INFO lines (one per invocation) would drown the output.
process.env.RESTATE_LOGGING ??= "WARN";
const restate = await import("@restatedev/restate-sdk");

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
      ? [...KEEL_NODE_ARGS, KEEL_SERVER, "--base-dir", dir, "--node-name", "n1", "--bind-address", "127.0.0.1", "--ingress-port", String(ingress),
         "--admin-port", String(admin), "--node-port", String(node), "--log-level", "warn", "--config", config, ...KEEL_SERVER_ARGS]
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

/** The sum of the counters of keys `<prefix>0` to `<prefix>63`. */
async function counted(server, prefix = "k") {
  const counts = await Promise.all(
    Array.from({ length: KEYS }, async (_, k) => {
      const res = await fetch(`${server.ingressUrl}/BenchKafkaCounter/${prefix}${k}/count`, { method: "POST" });
      return res.ok ? Number(await res.text()) : 0;
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

const subscribe = (server, topic, sink, options = {}) =>
  post(`${server.adminUrl}/subscriptions`, {
    source: `kafka://bench/${topic}`,
    sink,
    // A killed consumer's partitions move on after its session times out (librdkafka's default: 45 s).
    options: { "auto.offset.reset": "earliest", "session.timeout.ms": "6000", ...options },
  });

/** Produces `rate` records a second to `topic` (keys `<prefix>0..63`) until stopped. */
function startPacer(topic, rate, prefix) {
  const start = Date.now();
  const sent = [];
  let produced = 0;
  const timer = setInterval(() => {
    const due = Math.floor((rate * (Date.now() - start)) / 1000) - produced;
    if (due <= 0) return;
    const records = [];
    for (let i = 0; i < due; i++, produced++)
      records.push({ topic, key: `${prefix}${produced % KEYS}`, value: JSON.stringify(produced) });
    sent.push(producer.send(records));
  }, 20);
  return {
    get produced() {
      return produced;
    },
    firstSent: () => until("the first record", async () => sent.length > 0 && (await sent[0], true), Date.now() + 30_000),
    async stop() {
      clearInterval(timer);
      await Promise.all(sent);
    },
  };
}

/**
 * Reads a consumer group's lag on a topic from the broker: the partitions' high watermarks minus the
 * group's committed offsets (the low watermark where the group committed none), summed.
 */
async function lagReader(group, topic, partitions) {
  const rdkafka = createRequire(import.meta.url)("@confluentinc/kafka-javascript");
  // Never subscribed: it reads the group's offsets without joining the group.
  const consumer = new rdkafka.KafkaConsumer(
    { ...broker.clientOptions, "bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": false },
    {},
  );
  await new Promise((resolve, reject) => consumer.connect({ timeout: 30_000 }, (e) => (e ? reject(e) : resolve())));
  const toppars = Array.from({ length: partitions }, (_, partition) => ({ topic, partition }));
  return {
    async read() {
      const committed = await new Promise((resolve, reject) =>
        consumer.committed(toppars, 5_000, (e, r) => (e ? reject(e) : resolve(r))),
      );
      const marks = await Promise.all(
        toppars.map(
          ({ partition }) =>
            new Promise((resolve, reject) =>
              consumer.queryWatermarkOffsets(topic, partition, 5_000, (e, w) => (e ? reject(e) : resolve(w))),
            ),
        ),
      );
      let lag = 0;
      for (const [i, { highOffset, lowOffset }] of marks.entries()) {
        const offset = committed.find((c) => c.partition === i)?.offset ?? -1;
        lag += highOffset - Math.max(offset, lowOffset);
      }
      return lag;
    },
    close: () => new Promise((resolve) => consumer.disconnect(() => resolve())),
  };
}

/** Samples `read` every LAG_SAMPLE_MS into `samples` ({ at, lag }) until stopped. */
function sampleLag(reader, samples) {
  let sampling = true;
  const done = (async () => {
    while (sampling) {
      const at = Date.now();
      try {
        samples.push({ at, lag: await reader.read() });
      } catch {
        // A read that timed out is a gap in the series.
      }
      await new Promise((r) => setTimeout(r, Math.max(0, at + LAG_SAMPLE_MS - Date.now())));
    }
  })();
  return async () => {
    sampling = false;
    await done;
  };
}

const results = [];
for (let run = 1; run <= RUNS; run++) {
  for (const kind of SERVERS) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `keel-bench-kafka-${kind}-`));
    const ports = await freePorts(3);
    let server = await startServer(kind, dir, ports);
    try {
      await post(`${server.adminUrl}/deployments`, { uri: `http://127.0.0.1:${endpointPort}` });
      const row = { server: kind, run };
      const t = `${kind}-${run}`;

      if (PHASES.has("throughput")) {
        // Server CPU seconds (all threads) per 1,000 records: what a record costs, whatever else runs.
        const cpuPer1k = (since) => Math.round(((cpuSeconds(server.child.pid) - since) * 1000 * 100) / RECORDS) / 100;
        await produce(`${t}-noop`);
        noopRuns = 0;
        let start = Date.now();
        let cpu = cpuSeconds(server.child.pid);
        const endpointCpu = process.cpuUsage();
        await subscribe(server, `${t}-noop`, "service://BenchKafkaNoop/handle");
        await until("the no-op records", async () => noopRuns >= RECORDS, Date.now() + 180_000, 20);
        row.noopPerSecond = Math.round(RECORDS / ((Date.now() - start) / 1000));
        row.noopCpuSecondsPer1k = cpuPer1k(cpu);
        // The SDK endpoint's (this process's) CPU for the same records.
        const used = process.cpuUsage(endpointCpu);
        row.noopEndpointCpuSecondsPer1k = Math.round(((used.user + used.system) / 1e6) * 1000 * 100 / RECORDS) / 100;

        await produce(`${t}-counter`);
        start = Date.now();
        cpu = cpuSeconds(server.child.pid);
        await subscribe(server, `${t}-counter`, "service://BenchKafkaCounter/add");
        await until("the counted records", async () => (await counted(server)) >= RECORDS, Date.now() + 180_000, 200);
        row.counterPerSecond = Math.round(RECORDS / ((Date.now() - start) / 1000));
        row.counterCpuSecondsPer1k = cpuPer1k(cpu);
      }

      if (PHASES.has("kill")) {
        const before = PHASES.has("throughput") ? RECORDS : 0;
        await produce(`${t}-kill`);
        counterRuns = 0;
        await subscribe(server, `${t}-kill`, "service://BenchKafkaCounter/add");
        await until("half the records", async () => counterRuns >= RECORDS / 2, Date.now() + 180_000, 5);
        await stopServer(server, "SIGKILL");
        row.handlerRunsBeforeKill = counterRuns;
        server = await startServer(kind, dir, ports);
        const restarted = Date.now();
        await until("every record after the restart", async () => (await counted(server)) >= before + RECORDS, Date.now() + 180_000, 200);
        row.drainAfterKillSeconds = (Date.now() - restarted) / 1000;
        // A moment for late duplicates to show, then the sum must be exactly the topics' records.
        await new Promise((r) => setTimeout(r, 3000));
        row.countedOverExpected = (await counted(server)) - before - RECORDS;
      }

      if (PHASES.has("lag")) Object.assign(row, await lagAfterKill(kind, dir, ports, server, t, (s) => (server = s)));

      results.push(row);
      console.log(JSON.stringify(row));
    } finally {
      await stopServer(server);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

/**
 * The lag phase: a fixed rate into an object counter, the group's lag sampled from the broker, a
 * SIGKILL after 15 s and a restart at once. Reports seconds relative to the kill.
 */
async function lagAfterKill(kind, dir, ports, server, t, replaced) {
  const topic = `${t}-lag`;
  const prefix = `lag${t}-`;
  const pacer = startPacer(topic, RATE, prefix);
  await pacer.firstSent(); // the topic exists (created by the broker on first use)
  const subscription = await subscribe(server, topic, "service://BenchKafkaCounter/add", {
    "auto.commit.interval.ms": "1000",
  });
  const reader = await lagReader(subscription.options["group.id"], topic, 3);
  const samples = [];
  const stopSampling = sampleLag(reader, samples);
  const row = {};
  try {
    await new Promise((r) => setTimeout(r, 15_000));
    const killedAt = Date.now();
    await stopServer(server, "SIGKILL");
    server = await startServer(kind, dir, ports);
    replaced(server);
    row.restartSeconds = (Date.now() - killedAt) / 1000;
    // Back at the level before the kill after its peak, then 5 s more of the series (at least 35 s).
    const baseline = Math.max(0, ...samples.filter((s) => s.at >= killedAt - 5_000 && s.at < killedAt).map((s) => s.lag));
    const recovery = () => {
      const after = samples.filter((s) => s.at >= killedAt);
      let peak = after[0];
      for (const s of after) if (s.lag > peak.lag) peak = s;
      const back = after.find((s) => s.at > peak.at && s.lag <= baseline);
      return { peak, back };
    };
    await until(
      "the lag to come back",
      async () => {
        const { back } = recovery();
        return back !== undefined && Date.now() >= Math.max(back.at + 5_000, killedAt + 35_000);
      },
      Date.now() + 240_000,
      250,
    );
    const { peak, back } = recovery();
    const at = (seconds) => {
      const target = killedAt + seconds * 1000;
      let best;
      for (const s of samples) if (best === undefined || Math.abs(s.at - target) < Math.abs(best.at - target)) best = s;
      return best.lag;
    };
    row.lagBefore = baseline;
    for (const mark of LAG_MARKS) row[`lagAt${mark}s`] = at(mark);
    row.peakLag = peak.lag;
    row.peakAtSeconds = (peak.at - killedAt) / 1000;
    row.lagBackSeconds = (back.at - killedAt) / 1000;
    await pacer.stop();
    const produced = pacer.produced;
    await until("every lag record", async () => (await counted(server, prefix)) >= produced, Date.now() + 180_000, 250);
    await new Promise((r) => setTimeout(r, 3000));
    row.lagCountedOverProduced = (await counted(server, prefix)) - produced;
    row.lagSeries = samples.map((s) => [Math.round((s.at - killedAt) / 100) / 10, s.lag]);
  } finally {
    await pacer.stop();
    await stopSampling();
    await reader.close();
  }
  return row;
}

await producer.close();
await broker.stop();
const series = results.map(({ lagSeries, ...row }) => ({ server: row.server, run: row.run, lagSeries }));
if (process.env.BENCH_KAFKA_SERIES) fs.writeFileSync(process.env.BENCH_KAFKA_SERIES, JSON.stringify(series));
const rows = results.map(({ lagSeries, ...row }) => row);
console.log(`\n${RECORDS} records per topic, 3 partitions, Kafka 0.9.0.1, ${os.cpus().length} cores, lag at ${RATE} records/s`);
console.table(rows);
// Per server: the median and the range of each measure over the runs.
const measures = [...new Set(rows.flatMap((r) => Object.keys(r)))].filter((k) => k !== "server" && k !== "run");
const summary = {};
for (const measure of measures) {
  summary[measure] = {};
  for (const kind of SERVERS) {
    const xs = rows.filter((r) => r.server === kind).map((r) => r[measure]).filter((x) => typeof x === "number");
    if (xs.length === 0) continue;
    const r = (x) => Math.round(x * 100) / 100;
    summary[measure][kind] = xs.length === 1 ? `${r(xs[0])}` : `${r(median(xs))} (${r(Math.min(...xs))}-${r(Math.max(...xs))})`;
  }
}
console.log("median (min-max) over the runs");
console.table(summary);
process.exit(0);
