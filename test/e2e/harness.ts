/**
 * End-to-end harness: real `keel-server` processes, real SDK endpoint processes, real HTTP. Every
 * process is started on loopback with free ports, tracked by PID and stopped (SIGTERM, then SIGKILL)
 * when the test ends; `kill9()` simulates a crash.
 */

import { execFile, spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before } from "node:test";

const here = dirname(fileURLToPath(import.meta.url));
export const DIST = join(here, "..", "..");
const SERVER_BIN = join(DIST, "src", "bin", "keel-server.js");
/** The official `restate` CLI, installed with @restatedev/restate. */
export const RESTATE_CLI_BIN = join(
  DIST,
  "..",
  "node_modules",
  "@restatedev",
  "restate-linux-x64",
  "bin",
  "restate",
);

/**
 * Runs the official `restate` CLI against a server (its admin URL, and ingress URL if given), with a
 * home directory of its own and no colours; resolves with its exit code and its output.
 */
export function runRestateCli(
  args: string[],
  target: { admin: string; ingress?: string; home: string; env?: Record<string, string> },
  timeoutMs = 30_000,
): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      RESTATE_CLI_BIN,
      args,
      {
        timeout: timeoutMs,
        env: {
          PATH: process.env["PATH"] ?? "",
          HOME: target.home,
          NO_COLOR: "1",
          RESTATE_ADMIN_URL: target.admin,
          ...(target.ingress === undefined ? {} : { RESTATE_INGRESS_URL: target.ingress }),
          ...target.env,
        },
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
        resolve({ code, out: `${stdout}${stderr}` });
      },
    );
  });
}
const RESTATE_BIN = join(
  DIST,
  "..",
  "node_modules",
  "@restatedev",
  "restate-server-linux-x64",
  "bin",
  "restate-server",
);

/**
 * Which server the semantic tests run against: Keel (default), the reference (`restate`), or a
 * cluster of three Keel nodes (`keel-cluster`: requests alternate between nodes 1's and 2's ingress,
 * the admin API is node 3's).
 */
export const TARGET: "keel" | "restate" | "keel-cluster" =
  process.env["KEEL_TEST_TARGET"] === "restate"
    ? "restate"
    : process.env["KEEL_TEST_TARGET"] === "keel-cluster"
      ? "keel-cluster"
      : "keel";
const SERVICES_BIN = join(DIST, "test", "fixtures", "services.js");

const children = new Set<ChildProcess>();
/** Every directory `tempDir` made: removed when the test file's process exits, whatever happened. */
const tempDirs: string[] = [];
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // a file a killed child still held: the system's tmp cleaner takes it
    }
  }
});

/** A free TCP port on loopback (bound, read, released). */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port!;
}

/**
 * Distinct free TCP ports on loopback: every port stays bound until all are read, so the OS cannot hand the
 * same one out twice (released one by one, two of a server's ports once came back equal).
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  try {
    return await Promise.all(
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
  } finally {
    await Promise.all(
      servers.map(
        (server) =>
          new Promise<void>((resolve) =>
            server.listening ? server.close(() => resolve()) : resolve(),
          ),
      ),
    );
  }
}

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `keel-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}

async function waitFor(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
  gaveUp: () => boolean = () => false,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (gaveUp()) return;
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function track(child: ChildProcess, name: string, output: string[]): void {
  children.add(child);
  // scripts/run-tests.mjs names a file per test file and shows its end when the test file fails.
  const processLog = process.env["KEEL_TEST_PROCESS_LOG"];
  const keep = (chunk: Buffer): void => {
    output.push(chunk.toString());
    if (output.length > 400) output.splice(0, output.length - 400);
    if (process.env["KEEL_TEST_VERBOSE"] === "1")
      process.stderr.write(`[${name}] ${chunk.toString()}`);
    if (processLog !== undefined) {
      const lines = chunk.toString().replace(/\n$/, "").split("\n");
      appendFileSync(processLog, lines.map((line) => `[${name} ${child.pid}] ${line}\n`).join(""));
    }
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  child.on("exit", (code, signal) => {
    children.delete(child);
    if (process.env["KEEL_TEST_VERBOSE"] === "1")
      process.stderr.write(`[${name}] exited (code ${code}, signal ${signal})\n`);
  });
}

async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

export interface KeelServer {
  readonly ingress: string;
  readonly admin: string;
  readonly baseDir: string;
  readonly pid: number;
  readonly output: string[];
  /** SIGKILL, as a crash would. */
  kill9(): Promise<void>;
  /** SIGTERM and wait; returns the exit code. */
  stop(): Promise<number | null>;
  /** Starts again on the same base dir and ports (without waiting for ready if told so). */
  restart(options?: { waitUntilReady?: boolean }): Promise<void>;
  /** Resolves with the exit code (or signal) once the process has exited by itself. */
  exited(): Promise<number | string | null>;
  /** Removes the data directory (after stop). */
  cleanup(): void;
}

export interface KeelOptions {
  readonly extraArgs?: string[];
  readonly baseDir?: string;
  /** Default n1; nodes of one cluster share a base dir under names of their own. */
  readonly nodeName?: string;
  /** A node port chosen by the caller (the others' metadata servers name it). */
  readonly nodePort?: number;
  /** Ports the ingress and admin API must not take: the node ports reserved for a whole cluster. */
  readonly reservedPorts?: readonly number[];
  /** Options for Node itself, before the script (e.g. `--import` of a fault injector). */
  readonly nodeArgs?: string[];
  readonly env?: Record<string, string>;
  /** Resolve as soon as the process is spawned instead of once it reports ready (default true). */
  readonly waitUntilReady?: boolean;
}

export async function startKeel(options: KeelOptions = {}): Promise<KeelServer> {
  return startServer("keel", options);
}

/** Starts the server the tests target (KEEL_TEST_TARGET=restate runs the reference server). */
export function startTarget(options: KeelOptions = {}): Promise<KeelServer> {
  if (TARGET === "keel-cluster") return startClusterAsServer(options);
  return startServer(TARGET, options);
}

export interface KeelCluster {
  /** The nodes started so far (all of them unless `startFirst` held some back). */
  readonly nodes: readonly KeelServer[];
  /** The node port (host:port) of each node. */
  readonly nodeAddresses: readonly string[];
  /** Starts the nodes `startFirst` held back, one at a time, each until it is ready. */
  startRemaining(): Promise<void>;
  stop(): Promise<void>;
  cleanup(): void;
}

export interface ClusterOptions {
  readonly size?: number;
  readonly replication?: string;
  readonly partitions?: number;
  /** Extra arguments for each node, by index. */
  readonly extraArgs?: (index: number) => string[];
  /** Start only this many nodes now (the cluster forms without the others). */
  readonly startFirst?: number;
}

/**
 * Starts a cluster on loopback: node 1 provisions it and is the metadata server the others name;
 * every node takes every role. Resolves once every node's ingress and admin API answer as ready.
 */
export async function startCluster(options: ClusterOptions = {}): Promise<KeelCluster> {
  const size = options.size ?? 3;
  const baseDir = tempDir("cluster");
  const nodePorts = await freePorts(size);
  const nodeAddresses = nodePorts.map((port) => `127.0.0.1:${port}`);
  const nodes: KeelServer[] = [];
  // One node at a time: a node's start returns once it has joined the metadata servers, and
  // members that join at the same moment are not what these tests are about.
  const startNodes = async (count: number): Promise<void> => {
    for (let i = nodes.length; i < count; i++) {
      // Between drawing a free port and the node binding it, another process may take it (test
      // files run two at a time): start the node again on new ones. A node port is drawn again
      // only when the node could not bind it, so before it joined (the nodes after it name the
      // new one).
      for (let attempt = 1; ; attempt++) {
        const node = await startServer("keel", {
          baseDir,
          nodeName: `n${i + 1}`,
          nodePort: nodePorts[i]!,
          reservedPorts: nodePorts,
          waitUntilReady: false,
          extraArgs: [
            "--metadata-servers",
            nodeAddresses[0]!,
            "--replication",
            options.replication ?? "2",
            "--partitions",
            String(options.partitions ?? 8),
            ...(i === 0 ? ["--auto-provision"] : []),
            ...(options.extraArgs?.(i) ?? []),
          ],
        });
        let exited = false;
        void node.exited().then(() => (exited = true));
        await waitFor(
          () => Promise.resolve(node.output.join("").includes("Keel is ready")),
          `cluster node n${i + 1}`,
          60_000,
          () => exited,
        );
        if (!exited) {
          nodes.push(node);
          break;
        }
        const output = node.output.join("");
        if (!/already in use|EADDRINUSE/i.test(output) || attempt === 3)
          throw new Error(`cluster node n${i + 1} exited during start:\n${output}`);
        if (
          new RegExp(`EADDRINUSE.*:${nodePorts[i]}\\b|node port ${nodePorts[i]}\\b`).test(output)
        ) {
          const [fresh] = (await freePorts(size + 1)).filter((p) => !nodePorts.includes(p));
          nodePorts[i] = fresh!;
          nodeAddresses[i] = `127.0.0.1:${fresh}`;
        }
      }
    }
    for (const node of nodes)
      await waitFor(
        async () =>
          (await fetch(`${node.admin}/health`)).ok &&
          (await fetch(`${node.ingress}/restate/health`)).ok,
        "a ready cluster",
        60_000,
      );
  };
  try {
    await startNodes(options.startFirst ?? size);
  } catch (error) {
    await Promise.all(nodes.map((node) => node.stop()));
    rmSync(baseDir, { recursive: true, force: true });
    throw error;
  }
  return {
    nodes,
    nodeAddresses,
    startRemaining: () => startNodes(size),
    async stop() {
      await Promise.all(nodes.map((node) => node.stop()));
    },
    cleanup() {
      rmSync(baseDir, { recursive: true, force: true });
    },
  };
}

/**
 * Waits until the controller has placed and balanced the leaders of a cluster of three workers and
 * every leader has taken its partition, unchanged for a second. The semantic stories count how often
 * a step runs: a leadership that moves under a running invocation makes its step run again (a
 * `ctx.run` whose result was not yet journaled is at least once), as a leader change would in
 * Restate; the stories are about steady state.
 */
async function whenLeadershipSettled(admin: string): Promise<void> {
  let since: number | undefined;
  let previous = "";
  let last = "";
  await waitFor(
    async () => {
      const res = await fetch(`${admin}/keel/status`);
      const body = (await res.json()) as {
        cluster?: {
          partitions: {
            leader: string | null;
            replicas: { node: string; role: string | null }[];
          }[];
        };
      };
      const partitions = body.cluster?.partitions ?? [];
      const leaders = partitions.map((p) => p.leader);
      const perNode = [...new Set(leaders)].map((l) => leaders.filter((x) => x === l).length);
      const settled =
        partitions.length > 0 &&
        partitions.every(
          (p) =>
            p.leader !== null &&
            p.replicas[0]?.node === p.leader &&
            p.replicas[0]?.role === "leader" &&
            p.replicas.slice(1).every((r) => r.role === "follower"),
        ) &&
        perNode.length === 3 &&
        Math.max(...perNode) - Math.min(...perNode) <= 1;
      last = JSON.stringify(partitions);
      if (!settled || last !== previous) since = settled ? Date.now() : undefined;
      previous = last;
      return since !== undefined && Date.now() - since >= 1_000;
    },
    "the cluster's leaders to be placed, balanced and stable",
    60_000,
  ).catch((error: unknown) => {
    throw new Error(`${String(error)}; the partitions last seen: ${last}`);
  });
}

/** A cluster behind the one-server interface of the semantic tests (see TARGET). */
async function startClusterAsServer(options: KeelOptions): Promise<KeelServer> {
  const cluster = await startCluster(
    options.extraArgs === undefined ? {} : { extraArgs: () => options.extraArgs ?? [] },
  );
  const [first, second, third] = cluster.nodes as [KeelServer, KeelServer, KeelServer];
  await whenLeadershipSettled(third.admin);
  let turn = 0;
  const all = async <T>(run: (node: KeelServer) => Promise<T>): Promise<T[]> =>
    Promise.all(cluster.nodes.map(run));
  return {
    get ingress() {
      turn++;
      return turn % 2 === 0 ? first.ingress : second.ingress;
    },
    admin: third.admin,
    baseDir: first.baseDir,
    pid: first.pid,
    output: first.output,
    async kill9() {
      await all((node) => node.kill9());
    },
    async stop() {
      const codes = await all((node) => node.stop());
      return codes.find((code) => code !== 0) ?? 0;
    },
    async restart(restartOptions) {
      await all((node) => node.restart(restartOptions));
      if (restartOptions?.waitUntilReady !== false) await whenLeadershipSettled(third.admin);
    },
    exited: () => first.exited(),
    cleanup: () => cluster.cleanup(),
  };
}

async function startServer(kind: "keel" | "restate", options: KeelOptions): Promise<KeelServer> {
  const baseDir = options.baseDir ?? tempDir("server");
  /** Free ports, the ingress's and the admin API's never a node port a cluster reserved. */
  const drawPorts = async (): Promise<[number, number, number]> => {
    const reserved = [...(options.reservedPorts ?? []), options.nodePort ?? 0];
    const [a, b, c] = (await freePorts(3 + reserved.length)).filter((p) => !reserved.includes(p));
    return [a!, b!, options.nodePort ?? c!];
  };
  let [ingressPort, adminPort, nodePort] = await drawPorts();
  const output: string[] = [];
  let child: ChildProcess;
  const launch = async (waitUntilReady = options.waitUntilReady ?? true): Promise<void> => {
    if (kind === "keel") {
      child = spawn(
        process.execPath,
        [
          ...(options.nodeArgs ?? []),
          SERVER_BIN,
          "--base-dir",
          baseDir,
          "--node-name",
          options.nodeName ?? "n1",
          "--bind-address",
          "127.0.0.1",
          "--ingress-port",
          String(ingressPort),
          "--admin-port",
          String(adminPort),
          "--node-port",
          String(nodePort),
          "--log-level",
          process.env["KEEL_TEST_LOG_LEVEL"] ?? "warn",
          ...(options.extraArgs ?? []),
        ],
        { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...options.env } },
      );
    } else {
      child = spawn(RESTATE_BIN, ["--no-logo", "--node-name", "n1", "--base-dir", baseDir], {
        stdio: ["ignore", "pipe", "pipe"],
        cwd: baseDir,
        env: {
          ...process.env,
          RESTATE_BIND_ADDRESS: `127.0.0.1:${nodePort}`,
          RESTATE_INGRESS__BIND_ADDRESS: `127.0.0.1:${ingressPort}`,
          RESTATE_ADMIN__BIND_ADDRESS: `127.0.0.1:${adminPort}`,
          RESTATE_LOG_FILTER: "warn",
          ...options.env,
          // The reference's invoker spills to a temporary directory; keep it with the test's data.
          TMPDIR: baseDir,
        },
      });
    }
    track(child, kind, output);
    if (!waitUntilReady) return;
    let failed = false;
    const exited = new Promise<never>((_, reject) =>
      child.once("exit", (code) => {
        failed = true;
        reject(new Error(`${kind} server exited with ${code} during start:\n${output.join("")}`));
      }),
    );
    exited.catch(() => undefined);
    await Promise.race([
      waitFor(
        async () =>
          (kind === "restate" || output.join("").includes("Keel is ready")) &&
          (await fetch(`http://127.0.0.1:${adminPort}/health`)).ok &&
          (await fetch(`http://127.0.0.1:${ingressPort}/restate/health`)).ok,
        `${kind} server`,
        30_000,
        () => failed,
      ),
      exited,
    ]);
  };
  // Between reading a free port and the server binding it, another process may take it: start again on new ones.
  for (let attempt = 1; ; attempt++) {
    try {
      await launch();
      break;
    } catch (error) {
      const portTaken = /already in use|EADDRINUSE|address in use/i.test(String(error));
      if (!portTaken || attempt === 3) throw error;
      [ingressPort, adminPort, nodePort] = await drawPorts();
    }
  }
  const server: KeelServer = {
    ingress: `http://127.0.0.1:${ingressPort}`,
    admin: `http://127.0.0.1:${adminPort}`,
    baseDir,
    get pid() {
      return child.pid ?? -1;
    },
    output,
    async kill9() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    },
    stop: () => stopChild(child),
    exited: () =>
      child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve(child.exitCode ?? child.signalCode)
        : new Promise((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal))),
    async restart(restartOptions = {}) {
      output.length = 0;
      await launch(restartOptions.waitUntilReady ?? true);
    },
    cleanup() {
      rmSync(baseDir, { recursive: true, force: true });
    },
  };
  return server;
}

export interface ServiceEndpoint {
  readonly url: string;
  readonly markerFile: string;
  /** SIGKILL, as a crashed endpoint would. */
  kill9(): Promise<void>;
  /** Starts the endpoint again on the same port and marker file. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface ServicesOptions {
  readonly http1?: boolean;
  /** Another endpoint script under dist/test/fixtures (default `services.js`) and its extra arguments. */
  readonly fixture?: { readonly script: string; readonly args?: readonly string[] };
  /** Share the marker file of another endpoint. */
  readonly markerFile?: string;
}

/** Starts the SDK fixture endpoint (test/fixtures/services.ts) in its own process. */
export async function startServices(options: ServicesOptions = {}): Promise<ServiceEndpoint> {
  const port = await freePort();
  const markerFile = options.markerFile ?? join(tempDir("markers"), "markers.txt");
  const output: string[] = [];
  let child: ChildProcess;
  const listening = (): Promise<boolean> =>
    new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once("error", () => resolve(true));
      probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(false)));
    });
  const launch = async (): Promise<void> => {
    const script =
      options.fixture === undefined
        ? SERVICES_BIN
        : join(DIST, "test", "fixtures", options.fixture.script);
    const extra = options.fixture?.args ?? (options.http1 === true ? ["http1"] : []);
    child = spawn(process.execPath, [script, String(port), markerFile, ...extra], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, RESTATE_LOGGING: "WARN" },
    });
    track(child, "services", output);
    await waitFor(listening, "the SDK endpoint");
  };
  await launch();
  return {
    url: `http://127.0.0.1:${port}`,
    markerFile,
    async kill9() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    },
    restart: launch,
    async stop() {
      await stopChild(child, 3000);
    },
  };
}

export async function register(
  admin: string,
  endpoint: string,
  extra: Record<string, unknown> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${admin}/deployments`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ uri: endpoint, ...extra }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

export interface CallResult {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  json<T = unknown>(): T;
}

export async function call(url: string, init: RequestInit = {}): Promise<CallResult> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: <T>() => JSON.parse(text) as T };
}

export function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<CallResult> {
  return call(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

export function readMarkers(services: ServiceEndpoint): string[] {
  try {
    return readFileSync(services.markerFile, "utf8")
      .split("\n")
      .filter((l) => l !== "");
  } catch {
    return [];
  }
}

/** Polls `probe` until it returns a value (not undefined), or fails after `timeoutMs`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export type SqlRow = Record<string, unknown>;

/** Rows of a SQL query through the admin API's `/query`, as JSON. */
export async function sqlRows(admin: string, query: string): Promise<SqlRow[]> {
  const res = await call(`${admin}/query`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ query }),
  });
  if (res.status !== 200) throw new Error(`query failed with ${res.status}: ${res.text}`);
  return res.json<{ rows: SqlRow[] }>().rows;
}

/** Waits until an invocation of `target` (with `status`, if given) exists; returns its id. */
export function invocationOf(admin: string, target: string, status?: string): Promise<string> {
  const where = status === undefined ? "" : ` AND status = '${status}'`;
  return eventually(
    async () => {
      const [row] = await sqlRows(
        admin,
        `SELECT id FROM sys_invocation WHERE target = '${target}'${where} ORDER BY created_at DESC`,
      );
      return row?.["id"] as string | undefined;
    },
    `an invocation of ${target} ${status ?? ""}`,
  );
}

export interface Stack {
  readonly server: KeelServer;
  readonly services: ServiceEndpoint;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** Keel always, or the server the tests target (Keel unless KEEL_TEST_TARGET says otherwise). */
  readonly server?: "keel" | "target";
  /** Serve the SDK endpoint in request/response mode (HTTP/1.1). */
  readonly http1?: boolean;
  /** Register the endpoint (default), with these extra registration fields. */
  readonly register?: boolean;
  readonly registration?: Record<string, unknown>;
}

/** A server and an SDK endpoint, registered unless `register` is false. */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const server = options.server === "keel" ? await startKeel() : await startTarget();
  const services = await startServices(options.http1 === true ? { http1: true } : {});
  if (options.register !== false) {
    const registered = await register(server.admin, services.url, options.registration);
    if (registered.status !== 201)
      throw new Error(
        `registration failed with ${registered.status}: ${JSON.stringify(registered.body)}`,
      );
  }
  return {
    server,
    services,
    async stop() {
      await services.stop();
      await server.stop();
      server.cleanup();
    },
  };
}

/** A stack started before the enclosing suite and stopped after it. Use inside `describe`. */
export function useServerWithServices(options: StackOptions = {}): Omit<Stack, "stop"> {
  let stack: Stack | undefined;
  before(async () => {
    stack = await startStack(options);
  });
  after(async () => {
    await stack?.stop();
  });
  return {
    get server() {
      if (stack === undefined) throw new Error("the server is started before the suite runs");
      return stack.server;
    },
    get services() {
      if (stack === undefined) throw new Error("the SDK endpoint is started before the suite runs");
      return stack.services;
    },
  };
}
