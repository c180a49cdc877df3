/**
 * `npm run demo`: order processing across regions that survives the loss of one.
 * Starts the inventory, one server node and one service endpoint per region (latency between the
 * regions' nodes), registers the services, runs the clients, kills every process of one region a
 * third into the run, then checks the invariants against the order objects and the ledger and prints
 * a report. Exits 1 when an invariant breaks, 2 when the run could not be set up.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { Traffic, runClient, type ClientOptions, type Region } from "./clients.js";
import { checkInvariants, type InvariantResult } from "./invariants.js";
import type { Reservation } from "./ledger.js";
import { balancer } from "./network.js";
import {
  REGION_NAMES,
  freePorts,
  killRegion,
  startRegions,
  stopRegions,
  type ServerKind,
} from "./regions.js";
import { FINAL_STATUSES, type OrderView } from "./services.js";

const USAGE = `usage: npm run demo -- [options]
  --duration S          seconds of load (default 120)
  --clients N           concurrent clients (default 8)
  --regions N           3 or 5 (default 3)
  --latency-ms MS       one-way latency between regions' nodes (default 25; a round trip costs twice)
  --kill-region NAME    the region to kill (default the first, us-east-1); 'none' kills nothing
  --kill-at S           when to kill it (default a third of the duration)
  --server KIND         keel (default) or restate (the reference server, for a side-by-side run)
  --partitions N        partitions (default 12)
  --out-of-stock P      share of items the inventory refuses to earmark (default 0.05)
  --booking-failures P  share of bookings that fail (default 0.05)
  --unavailable P       share of inventory requests answered 503 (default 0.02)
  --server-log-level L  the servers' log level (default warn)
  --report FILE         also write the report as JSON
  --keep                keep the run's directory (logs, data) even when every invariant held`;

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "120" },
    clients: { type: "string", default: "8" },
    regions: { type: "string", default: "3" },
    "latency-ms": { type: "string", default: "25" },
    "kill-region": { type: "string" },
    "kill-at": { type: "string" },
    server: { type: "string", default: "keel" },
    partitions: { type: "string", default: "12" },
    "out-of-stock": { type: "string", default: "0.05" },
    "booking-failures": { type: "string", default: "0.05" },
    unavailable: { type: "string", default: "0.02" },
    "server-log-level": { type: "string", default: "warn" },
    report: { type: "string" },
    keep: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});

function fail(message: string): never {
  console.error(`demo: ${message}\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const number = (name: keyof typeof values, min: number, max: number): number => {
  const value = Number(values[name]);
  if (!Number.isFinite(value) || value < min || value > max)
    fail(`--${name}: expected a number from ${min} to ${max}`);
  return value;
};
const durationS = number("duration", 5, 3600);
const clientCount = number("clients", 1, 256);
const regionCount = number("regions", 3, 5);
if (regionCount !== 3 && regionCount !== 5) fail("--regions: expected 3 or 5");
const latencyMs = number("latency-ms", 0, 1000);
const partitions = number("partitions", 1, 256);
if (values.server !== "keel" && values.server !== "restate")
  fail("--server: expected keel or restate");
const server: ServerKind = values.server;
const regionNames = REGION_NAMES.slice(0, regionCount);
const killName = values["kill-region"] ?? regionNames[0]!;
if (killName !== "none" && !regionNames.includes(killName))
  fail(`--kill-region: expected one of ${regionNames.join(", ")} or none`);
const killAtS = values["kill-at"] === undefined ? durationS / 3 : number("kill-at", 0, durationS);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const runDir = mkdtempSync(path.join(os.tmpdir(), `orders-demo-${server}-`));
const stoppers: (() => Promise<void> | void)[] = [];

async function waitFor(
  what: string,
  condition: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const start = Date.now();
  while (!(await condition().catch(() => false))) {
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not after ${timeoutMs} ms`);
    await sleep(250);
  }
}

async function startInventory(): Promise<string> {
  const [port] = await freePorts(1);
  const log = openSync(path.join(runDir, "inventory.log"), "a");
  const child = spawn(
    process.execPath,
    [
      path.join(path.dirname(new URL(import.meta.url).pathname), "inventory.js"),
      "--port",
      String(port),
      "--out-of-stock",
      String(values["out-of-stock"]),
      "--booking-failures",
      String(values["booking-failures"]),
      "--unavailable",
      String(values.unavailable),
    ],
    { stdio: ["ignore", log, log] },
  );
  stoppers.push(() => void child.kill("SIGTERM"));
  const url = `http://127.0.0.1:${port}`;
  await waitFor("the inventory", async () => (await fetch(`${url}/ledger`)).ok, 20_000);
  return url;
}

/** The order's state as any live region answers it. */
async function readOrder(regions: readonly Region[], id: string): Promise<OrderView | undefined> {
  for (const region of regions) {
    try {
      const response = await fetch(`${region.ingress}/Order/${encodeURIComponent(id)}/status`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "null",
        signal: AbortSignal.timeout(10_000),
      });
      if (response.ok) return (await response.json()) as OrderView;
    } catch {
      // the next region
    }
  }
  return undefined;
}

function longestGap(
  times: readonly number[],
  from: number,
  to: number,
): { seconds: number; at: number } {
  const sorted = times.filter((t) => t >= from && t <= to).sort((a, b) => a - b);
  let gap = { seconds: 0, at: 0 };
  let previous = from;
  for (const t of [...sorted, to]) {
    if ((t - previous) / 1000 > gap.seconds)
      gap = { seconds: (t - previous) / 1000, at: (previous - from) / 1000 };
    previous = t;
  }
  return gap;
}

function slowest(
  traffic: Traffic,
  startedAt: number,
): { slowestRequestS: number; slowestRequestSentAtS: number; p99RequestS: number } {
  const sorted = [...traffic.requests].sort((a, b) => a.seconds - b.seconds);
  const worst = sorted.at(-1) ?? { sentAt: startedAt, seconds: 0 };
  return {
    slowestRequestS: worst.seconds,
    slowestRequestSentAtS: (worst.sentAt - startedAt) / 1000,
    p99RequestS: sorted[Math.floor(sorted.length * 0.99)]?.seconds ?? 0,
  };
}

const rate = (times: readonly number[], from: number, to: number): number =>
  to > from ? times.filter((t) => t >= from && t < to).length / ((to - from) / 1000) : 0;

function countBy<T>(values: Iterable<T>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[String(value)] = (counts[String(value)] ?? 0) + 1;
  return counts;
}

function progressLine(traffic: Traffic, regions: readonly Region[], startedAt: number): string {
  const states = countBy(traffic.statuses.values());
  const perRegion = regions
    .map((r) => `${r.name} ${traffic.answersByRegion.get(r.name) ?? 0}`)
    .join(" ");
  const failures = [...traffic.failuresByRegion.values()].reduce((a, b) => a + b, 0);
  return (
    `t=${Math.round((Date.now() - startedAt) / 1000)}s orders ${
      Object.entries(states)
        .map(([k, v]) => `${k} ${v}`)
        .join(" ") || "none"
    }` +
    ` | answered ${perRegion} | failed attempts ${failures}, retries ${traffic.retries}, gave up ${traffic.gaveUp}`
  );
}

async function main(): Promise<number> {
  console.log(
    `demo: ${server}, ${regionCount} regions, ${latencyMs} ms between them, ${clientCount} clients, ${durationS} s; kill ${killName} at ${killAtS} s; logs in ${runDir}`,
  );
  const inventoryUrl = await startInventory();
  const regions = await startRegions({
    kind: server,
    count: regionCount,
    latencyMs,
    partitions,
    runDir,
    inventoryUrl,
    logLevel: values["server-log-level"],
  });
  stoppers.push(() => stopRegions(regions));
  const endpoints = await balancer(
    regions.map((r) => r.endpointPort),
    (i) => regions[i]!.alive,
  );
  stoppers.push(() => endpoints.close());
  const deploymentUri = `http://127.0.0.1:${endpoints.port}`;
  await waitFor(
    "registering the services",
    async () =>
      (
        await fetch(`${regions[0]!.admin}/deployments`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ uri: deploymentUri }),
        })
      ).ok,
    30_000,
  );
  for (const region of regions)
    await waitFor(
      `the services known in ${region.name}`,
      async () => (await fetch(`${region.admin}/services/Order`)).ok,
      30_000,
    );
  // A cluster answers health checks before every partition has a leader: load starts once reads of
  // keys spread over every partition answer through every region.
  const probes = Array.from({ length: partitions * 4 }, (_, i) => `warm-up-${i}`);
  await waitFor(
    "every partition answering through every region",
    async () => {
      const answers = await Promise.all(
        regions.flatMap((region) =>
          probes.map(async (key) => (await readOrder([region], key)) !== undefined),
        ),
      );
      return answers.every(Boolean);
    },
    120_000,
  );
  console.log(
    `demo: ${regions.length} regions up, services registered at ${deploymentUri}, every partition answers`,
  );

  const traffic = new Traffic();
  const startedAt = Date.now();
  const until = startedAt + durationS * 1000;
  const clientOptions: ClientOptions = {
    regions,
    traffic,
    until,
    requestDeadlineMs: 60_000,
    requestTimeoutMs: 15_000,
  };
  const interactive = process.stdout.isTTY === true;
  const progress = setInterval(
    () => {
      const line = progressLine(traffic, regions, startedAt);
      if (interactive) process.stdout.write(`\r${line.padEnd(150)}`);
      else console.log(line);
    },
    interactive ? 1000 : 5000,
  );
  const victim = regions.find((r) => r.name === killName);
  let killedAt: number | undefined;
  const killer =
    victim === undefined
      ? undefined
      : setTimeout(() => {
          killedAt = Date.now();
          killRegion(victim);
          const line = `KILLED region ${victim.name} (node pid ${victim.server.pid}, endpoint pid ${victim.endpoint.pid}) at t=${Math.round((killedAt - startedAt) / 1000)}s`;
          console.log(interactive ? `\n${line}` : line);
        }, killAtS * 1000);
  await Promise.all(
    Array.from({ length: clientCount }, (_, i) => runClient(clientOptions, `c${i + 1}`)),
  );
  clearInterval(progress);
  if (killer !== undefined) clearTimeout(killer);
  if (interactive) process.stdout.write("\n");
  console.log(progressLine(traffic, regions, startedAt));

  // Settle: requests given up on may still run in the engine; wait until every order is final.
  const live = regions.filter((r) => r.alive);
  const finals = new Map<string, OrderView>();
  const settleStart = Date.now();
  const isFinal = (id: string) => FINAL_STATUSES.includes(finals.get(id)?.status as never);
  for (;;) {
    // Each read is an invocation that crosses regions: many at a time.
    const unsettled = traffic.orders.filter((o) => !isFinal(o.id));
    const readers = Array.from({ length: 16 }, async () => {
      for (let order = unsettled.pop(); order !== undefined; order = unsettled.pop()) {
        const view = await readOrder(live, order.id);
        if (view !== undefined) finals.set(order.id, view);
      }
    });
    await Promise.all(readers);
    const open = traffic.orders.filter(
      (o) => !FINAL_STATUSES.includes(finals.get(o.id)?.status as never),
    ).length;
    if (open === 0 || Date.now() - settleStart > 60_000) break;
    await sleep(1000);
  }
  const ledger = (await (await fetch(`${inventoryUrl}/ledger`)).json()) as {
    reservations: Reservation[];
    anomalies: string[];
    requests: number;
    unavailableAnswers: number;
  };
  const invariants: InvariantResult[] = checkInvariants(
    traffic.orders,
    finals,
    ledger.reservations,
    ledger.anomalies,
  );
  const gap = longestGap(traffic.answeredAt, startedAt, until);
  const report: DemoReport = {
    server,
    regions: regionNames,
    latencyMs,
    clients: clientCount,
    durationS,
    killedRegion: victim?.name ?? null,
    killedAtS: killedAt === undefined ? null : (killedAt - startedAt) / 1000,
    orders: traffic.orders.length,
    finalStates: countBy([...finals.values()].map((v) => v.status)),
    scenarios: countBy(traffic.orders.map((o) => o.scenario)),
    answered: traffic.answeredAt.length,
    answeredByRegion: Object.fromEntries(traffic.answersByRegion),
    failedAttemptsByRegion: Object.fromEntries(traffic.failuresByRegion),
    retries: traffic.retries,
    gaveUp: traffic.gaveUp,
    longestGapWithoutAnswerS: gap.seconds,
    longestGapStartedAtS: gap.at,
    ...slowest(traffic, startedAt),
    answersPerSecondBeforeKill:
      killedAt === undefined ? null : rate(traffic.answeredAt, startedAt, killedAt),
    answersPerSecondAfterKill:
      killedAt === undefined ? null : rate(traffic.answeredAt, killedAt, until),
    answersPerSecond: rate(traffic.answeredAt, startedAt, until),
    inventory: {
      reservations: ledger.reservations.length,
      states: countBy(ledger.reservations.map((r) => r.state)),
      requests: ledger.requests,
      unavailableAnswers: ledger.unavailableAnswers,
      duplicatesSeen: ledger.reservations.reduce((sum, r) => sum + r.duplicates, 0),
    },
    invariants,
    passed: invariants.every((i) => i.held) && traffic.orders.length > 0,
    runDir,
  };
  printReport(report);
  if (values.report !== undefined)
    writeFileSync(values.report, `${JSON.stringify(report, null, 2)}\n`);
  return report.passed ? 0 : 1;
}

export interface DemoReport {
  readonly server: ServerKind;
  readonly regions: readonly string[];
  readonly latencyMs: number;
  readonly clients: number;
  readonly durationS: number;
  readonly killedRegion: string | null;
  readonly killedAtS: number | null;
  readonly orders: number;
  readonly finalStates: Record<string, number>;
  readonly scenarios: Record<string, number>;
  readonly answered: number;
  readonly answeredByRegion: Record<string, number>;
  readonly failedAttemptsByRegion: Record<string, number>;
  readonly retries: number;
  readonly gaveUp: number;
  readonly longestGapWithoutAnswerS: number;
  readonly longestGapStartedAtS: number;
  /** The answered request that took longest (retries through other regions included). */
  readonly slowestRequestS: number;
  readonly slowestRequestSentAtS: number;
  readonly p99RequestS: number;
  readonly answersPerSecondBeforeKill: number | null;
  readonly answersPerSecondAfterKill: number | null;
  readonly answersPerSecond: number;
  readonly inventory: Record<string, unknown>;
  readonly invariants: readonly InvariantResult[];
  readonly passed: boolean;
  readonly runDir: string;
}

function printReport(report: DemoReport): void {
  const f = (n: number | null) => (n === null ? "-" : n.toFixed(1));
  const json = (value: unknown) => JSON.stringify(value);
  console.log(`\n== report (${report.server}) ==`);
  console.log(`orders ${report.orders}: ${json(report.finalStates)}`);
  console.log(`scenarios: ${json(report.scenarios)}`);
  console.log(
    `answers ${report.answered} by region ${json(report.answeredByRegion)}; failed attempts ${json(report.failedAttemptsByRegion)}; retries ${report.retries}; gave up ${report.gaveUp}`,
  );
  console.log(
    `killed ${report.killedRegion ?? "nothing"} at ${f(report.killedAtS)} s; longest gap without an answer ${f(report.longestGapWithoutAnswerS)} s (from t=${f(report.longestGapStartedAtS)} s)`,
  );
  console.log(
    `slowest answered request ${f(report.slowestRequestS)} s (sent at t=${f(report.slowestRequestSentAtS)} s); p99 ${report.p99RequestS.toFixed(2)} s`,
  );
  console.log(
    `answers/s before the kill ${f(report.answersPerSecondBeforeKill)}, after ${f(report.answersPerSecondAfterKill)}`,
  );
  console.log(`inventory: ${json(report.inventory)}`);
  for (const invariant of report.invariants) {
    console.log(
      `${invariant.held ? "HELD  " : "BROKEN"} ${invariant.name} (${invariant.checked} checks${invariant.held ? "" : `, ${invariant.broken} broken`})`,
    );
    for (const violation of invariant.violations) console.log(`         ${violation}`);
  }
  console.log(report.passed ? "every invariant held" : "AN INVARIANT BROKE");
}

let code = 2;
try {
  code = await main();
} catch (error) {
  console.error(`demo: ${(error as Error).message}`);
} finally {
  for (const stop of stoppers.reverse()) await stop();
  if (code === 0 && !values.keep) rmSync(runDir, { recursive: true, force: true });
  else console.log(`demo: logs and data kept in ${runDir}`);
}
process.exit(code);
