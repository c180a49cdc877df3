/**
 * Starts the demo's regions: per region one server node (Keel, or the reference Restate server for a
 * side-by-side run) with every role, located in its region, behind a latency proxy for the traffic
 * between nodes, and one service endpoint. Every process binds loopback, is tracked by PID and is
 * stopped by PID.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { latencyProxy, type Listening } from "./network.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The project root, from dist/examples/orders/src. */
export const ROOT = path.resolve(HERE, "..", "..", "..", "..");
const KEEL_SERVER = path.join(ROOT, "dist", "src", "bin", "keel-server.js");
const RESTATE_SERVER =
  process.env["BENCH_RESTATE_BIN"] ??
  path.join(ROOT, "node_modules/@restatedev/restate-server-linux-x64/bin/restate-server");

export const REGION_NAMES = ["us-east-1", "eu-west-1", "ap-south-1", "sa-east-1", "af-south-1"];

export type ServerKind = "keel" | "restate";

export interface RegionNode {
  readonly name: string;
  readonly ingress: string;
  readonly admin: string;
  readonly endpointPort: number;
  server: ChildProcess;
  endpoint: ChildProcess;
  proxy: Listening;
  alive: boolean;
}

export interface RegionsOptions {
  readonly kind: ServerKind;
  readonly count: number;
  readonly latencyMs: number;
  readonly partitions: number;
  readonly runDir: string;
  readonly inventoryUrl: string;
  /** The servers' log level (error, warn, info, debug). */
  readonly logLevel: string;
}

export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  const ports = await Promise.all(
    servers.map(
      (server) =>
        new Promise<number>((resolve, reject) => {
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => {
            const address = server.address();
            resolve(typeof address === "object" && address !== null ? address.port : 0);
          });
        }),
    ),
  );
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

function spawnLogged(
  runDir: string,
  name: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): ChildProcess {
  const log = openSync(path.join(runDir, `${name}.log`), "a");
  return spawn(command, args, { stdio: ["ignore", log, log], env });
}

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(1_000) })).ok;
  } catch {
    return false;
  }
}

async function waitUntil(
  what: string,
  condition: () => Promise<boolean>,
  timeoutMs: number,
  died: () => boolean,
): Promise<void> {
  const start = Date.now();
  while (!(await condition())) {
    if (died()) throw new Error(`${what}: the process exited`);
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not ready after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const exited = (child: ChildProcess): boolean =>
  child.exitCode !== null || child.signalCode !== null;

function restateConfig(
  name: string,
  first: boolean,
  ports: { node: number; proxy: number; ingress: number; admin: number },
  metadata: string[],
  partitions: number,
): string {
  return `node-name = "${name}"
cluster-name = "orders-demo"
roles = ["http-ingress", "admin", "worker", "log-server", "metadata-server"]
auto-provision = ${first}
default-num-partitions = ${partitions}
default-replication = "{region: 2}"
location = "${name}.a"
bind-address = "127.0.0.1:${ports.node}"
advertised-address = "http://127.0.0.1:${ports.proxy}/"
listen-mode = "tcp"

[metadata-client]
type = "replicated"
addresses = [${metadata.map((a) => `"http://${a}/"`).join(", ")}]

[bifrost]
default-provider = "replicated"

[ingress]
bind-address = "127.0.0.1:${ports.ingress}"

[admin]
bind-address = "127.0.0.1:${ports.admin}"
`;
}

/** Starts every region; resolves once each node's ingress and admin API answer. */
export async function startRegions(options: RegionsOptions): Promise<RegionNode[]> {
  const names = REGION_NAMES.slice(0, options.count);
  const ports = await freePorts(names.length * 5);
  const layout = names.map((name, i) => ({
    name,
    node: ports[i * 5]!,
    proxy: ports[i * 5 + 1]!,
    ingress: ports[i * 5 + 2]!,
    admin: ports[i * 5 + 3]!,
    endpoint: ports[i * 5 + 4]!,
  }));
  // Every node reaches every other (and itself) through the proxies: that is where latency sits.
  const metadata = layout.map((r) => `127.0.0.1:${r.proxy}`);
  const regions: RegionNode[] = [];
  for (const [i, r] of layout.entries()) {
    const proxy = await latencyProxy(r.proxy, r.node, options.latencyMs);
    const dataDir = path.join(options.runDir, "data", r.name);
    mkdirSync(dataDir, { recursive: true });
    let server: ChildProcess;
    if (options.kind === "keel") {
      server = spawnLogged(options.runDir, r.name, process.execPath, [
        KEEL_SERVER,
        "--base-dir",
        dataDir,
        "--node-name",
        r.name,
        "--bind-address",
        "127.0.0.1",
        "--ingress-port",
        String(r.ingress),
        "--admin-port",
        String(r.admin),
        "--node-port",
        String(r.node),
        "--advertised-address",
        `127.0.0.1:${r.proxy}`,
        "--metadata-servers",
        metadata.join(","),
        "--location",
        `${r.name}.a`,
        "--replication",
        "{region: 2}",
        "--partitions",
        String(options.partitions),
        "--log-level",
        options.logLevel,
        ...(i === 0 ? ["--auto-provision"] : []),
      ]);
    } else {
      const config = path.join(options.runDir, `${r.name}.toml`);
      writeFileSync(config, restateConfig(r.name, i === 0, r, metadata, options.partitions));
      server = spawnLogged(
        options.runDir,
        r.name,
        RESTATE_SERVER,
        ["--no-logo", "--config-file", config, "--base-dir", dataDir],
        { ...process.env, RESTATE_LOG_FILTER: options.logLevel },
      );
    }
    const endpoint = spawnLogged(options.runDir, `${r.name}-endpoint`, process.execPath, [
      path.join(HERE, "endpoint.js"),
      "--port",
      String(r.endpoint),
      "--inventory",
      options.inventoryUrl,
    ]);
    regions.push({
      name: r.name,
      ingress: `http://127.0.0.1:${r.ingress}`,
      admin: `http://127.0.0.1:${r.admin}`,
      endpointPort: r.endpoint,
      server,
      endpoint,
      proxy,
      alive: true,
    });
    // Keel: one node at a time, so the first provisions the cluster before the others join it.
    if (options.kind === "keel") {
      const log = path.join(options.runDir, `${r.name}.log`);
      await waitUntil(
        `region ${r.name}`,
        async () => readFileSync(log, "utf8").includes("Keel is ready"),
        60_000,
        () => exited(server),
      );
    }
  }
  for (const region of regions) await waitForRegion(region);
  return regions;
}

async function waitForRegion(region: RegionNode): Promise<void> {
  await waitUntil(
    `region ${region.name}`,
    async () =>
      (await answers(`${region.admin}/health`)) &&
      (await answers(`${region.ingress}/restate/health`)),
    120_000,
    () => exited(region.server),
  );
}

/** SIGKILL every process of the region and take its node's address off the network. */
export function killRegion(region: RegionNode): void {
  region.alive = false;
  region.server.kill("SIGKILL");
  region.endpoint.kill("SIGKILL");
  region.proxy.close();
}

export async function stopRegions(regions: readonly RegionNode[]): Promise<void> {
  const live = regions.flatMap((r) => [r.server, r.endpoint]).filter((child) => !exited(child));
  const gone = live.map((child) => new Promise((resolve) => child.once("exit", resolve)));
  for (const child of live) child.kill("SIGTERM");
  const timer = setTimeout(
    () => live.forEach((child) => exited(child) || child.kill("SIGKILL")),
    15_000,
  );
  await Promise.all(gone);
  clearTimeout(timer);
  for (const region of regions) region.proxy.close();
}
