/**
 * A Keel cluster for users' tests: `RestateTestCluster.start({ services, nodes: 3 })` serves the
 * services with the official SDK in this process, as `RestateTestEnvironment` does, and starts the
 * nodes as `keel-server` processes on free loopback ports over a temporary directory (each node every
 * role, the first one provisions, replication 2), so a test can kill one as a crash would
 * (`killNode`, SIGKILL) and start it again on its data (`restartNode`) while calls go on through the
 * others. The nodes are processes because a crash must lose what a crash loses; their clock is the
 * wall clock, so a cluster has no `clock` to move (an environment's is its node's, in this process).
 *
 * Nothing here exits the user's process; the nodes are killed if it exits first.
 */

import "./polyfill.js";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type {
  TypedState,
  UntypedState,
  VirtualObjectDefinition,
  WorkflowDefinition,
} from "@restatedev/restate-sdk";
import {
  ServicesEndpoint,
  endpointOptions,
  register,
  type TestEnvironmentOptions,
} from "./environment.js";
import { StateProxy } from "./state.js";
import type { ClusterStatusJson } from "../admin/index.js";

/**
 * The environment's options; `storage: "memory"` (the default) writes the nodes' logs without fsync,
 * which a killed process does not notice (a machine crash would).
 */
export interface TestClusterOptions extends TestEnvironmentOptions {
  /** Nodes of the cluster (default 3, at least 2). */
  nodes?: number;
}

const NODES_DEFAULT = 3;
const PARTITIONS_DEFAULT = 4;
const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;
/** Lines of each node's output kept for the error of a node that did not start. */
const OUTPUT_LINES_KEPT = 200;
const KEEL_SERVER = fileURLToPath(new URL("../bin/keel-server.js", import.meta.url));

/** The children of every cluster of this process, killed if the process exits while they run. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

interface NodeProcess {
  readonly name: string;
  readonly args: readonly string[];
  readonly ingressUrl: string;
  readonly adminUrl: string;
  child: ChildProcess | undefined;
  readonly output: string[];
}

export class RestateTestCluster {
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly endpoint: ServicesEndpoint,
    private readonly nodes: readonly NodeProcess[],
    private readonly baseDir: string,
  ) {}

  /** Starts the nodes and the services; the first call can be made when it resolves. */
  static async start(options: TestClusterOptions): Promise<RestateTestCluster> {
    const count = options.nodes ?? NODES_DEFAULT;
    if (!Number.isInteger(count) || count < 2)
      throw new RangeError(`nodes: a cluster has at least 2 nodes, found ${count}`);
    const endpoint = await ServicesEndpoint.start(endpointOptions(options));
    let baseDir: string | undefined;
    let cluster: RestateTestCluster | undefined;
    try {
      baseDir = await mkdtemp(join(tmpdir(), "keel-testcluster-"));
      const ports = await freePorts(3 * count);
      const nodePort = (i: number): number => ports[3 * i + 2]!;
      const metadataServer = `127.0.0.1:${nodePort(0)}`;
      const nodes = Array.from({ length: count }, (_, i): NodeProcess => {
        const [ingress, admin] = [ports[3 * i]!, ports[3 * i + 1]!];
        return {
          name: `n${i + 1}`,
          ingressUrl: `http://127.0.0.1:${ingress}`,
          adminUrl: `http://127.0.0.1:${admin}`,
          child: undefined,
          output: [],
          args: [
            ...["--base-dir", baseDir!, "--node-name", `n${i + 1}`, "--bind-address", "127.0.0.1"],
            ...["--ingress-port", String(ingress), "--admin-port", String(admin)],
            ...["--node-port", String(nodePort(i)), "--metadata-servers", metadataServer],
            ...[
              "--replication",
              "2",
              "--partitions",
              String(options.partitions ?? PARTITIONS_DEFAULT),
            ],
            ...["--log-level", options.logLevel ?? "warn", "--disable-metrics"],
            ...((options.storage ?? "memory") === "memory" ? ["--unsafe-no-fsync"] : []),
            ...(options.alwaysReplay === true ? ["--inactivity-timeout", "0"] : []),
            ...(i === 0 ? ["--auto-provision"] : []),
          ],
        };
      });
      cluster = new RestateTestCluster(endpoint, nodes, baseDir);
      // One at a time: each node joins the metadata store the first one created.
      for (let i = 0; i < count; i++) await cluster.startNode(i);
      await cluster.whenServing();
      await cluster.whenFaultTolerant();
      await register(nodes[0]!.adminUrl, endpoint.url);
      return cluster;
    } catch (error) {
      if (cluster !== undefined) await cluster.stopNodes();
      await endpoint.close();
      if (baseDir !== undefined) await rm(baseDir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Node `node`'s ingress (1-based; default the first), e.g. for `clients.connect({ url })`. */
  baseUrl(node = 1): string {
    return this.nodeAt(node).ingressUrl;
  }

  /** Node `node`'s admin API (1-based; default the first). */
  adminAPIBaseUrl(node = 1): string {
    return this.nodeAt(node).adminUrl;
  }

  /** Reads and writes the state of a virtual object's or workflow's key, through a running node. */
  stateOf<TState extends TypedState = UntypedState>(
    service: VirtualObjectDefinition<string, unknown> | WorkflowDefinition<string, unknown>,
    key: string,
  ): StateProxy<TState> {
    const alive = this.nodes.find((node) => node.child !== undefined) ?? this.nodes[0]!;
    return new StateProxy(alive.adminUrl, service.name, key);
  }

  /** Kills node `node` (1-based) as a crash would (SIGKILL); its partitions fail over. */
  async killNode(node: number): Promise<void> {
    const target = this.nodeAt(node);
    const child = target.child;
    if (child === undefined) throw new Error(`node ${node} is not running`);
    target.child = undefined;
    await killed(child, "SIGKILL");
  }

  /** Starts node `node` (1-based) again on its data directory; resolves once it serves. */
  async restartNode(node: number): Promise<void> {
    if (this.nodeAt(node).child !== undefined) throw new Error(`node ${node} is running`);
    await this.startNode(node - 1);
    await this.whenServing();
    await this.whenFaultTolerant();
  }

  /** Stops every node and the services' endpoint and removes the data directory. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.stopNodes();
      await this.endpoint.close();
      await rm(this.baseDir, { recursive: true, force: true });
    })();
    return this.stopping;
  }

  private nodeAt(node: number): NodeProcess {
    const found = Number.isInteger(node) ? this.nodes[node - 1] : undefined;
    if (found === undefined)
      throw new RangeError(`node: 1 to ${this.nodes.length}, found ${String(node)}`);
    return found;
  }

  private async stopNodes(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (node) => {
        const child = node.child;
        node.child = undefined;
        if (child !== undefined) await killed(child, "SIGTERM");
      }),
    );
  }

  private async startNode(index: number): Promise<void> {
    const node = this.nodes[index]!;
    node.output.length = 0;
    const child = spawn(process.execPath, [KEEL_SERVER, ...node.args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    node.child = child;
    running.add(child);
    installExitHook();
    const keep = (chunk: Buffer): void => {
      node.output.push(
        ...chunk
          .toString()
          .split("\n")
          .filter((line) => line !== ""),
      );
      if (node.output.length > OUTPUT_LINES_KEPT)
        node.output.splice(0, node.output.length - OUTPUT_LINES_KEPT);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.once("exit", () => running.delete(child));
    // A node reports ready once it joined; the cluster serves once enough nodes have (`whenServing`).
    await this.waitFor(node, () => node.output.some((line) => line.startsWith("Keel is ready")));
  }

  /** Resolves once every running node's ingress and admin API answer their health checks. */
  private async whenServing(): Promise<void> {
    for (const node of this.nodes)
      if (node.child !== undefined)
        await this.waitFor(
          node,
          async () =>
            (await answers(`${node.adminUrl}/health`)) &&
            (await answers(`${node.ingressUrl}/restate/health`)),
        );
  }

  /**
   * Resolves once the cluster can lose any one node: every partition has a leader and a follower,
   * every log's open segment a nodeset wide enough to be sealed without one server (a cluster that
   * is forming first writes its logs on the servers it has, and widens them a moment later), and
   * every node votes in the metadata store; unchanged for a second.
   */
  private async whenFaultTolerant(): Promise<void> {
    const nodes = this.nodes.length;
    let since: number | undefined;
    let previous = "";
    await this.waitFor(
      this.nodes.find((node) => node.child !== undefined)!,
      async () => {
        const running = this.nodes.find((node) => node.child !== undefined)!;
        let cluster: ClusterStatusJson | undefined;
        try {
          const res = await fetch(`${running.adminUrl}/keel/status`, {
            signal: AbortSignal.timeout(2_000),
          });
          cluster = ((await res.json()) as { cluster?: ClusterStatusJson }).cluster;
        } catch {
          return false;
        }
        if (cluster === undefined) return false;
        const tolerant =
          cluster.partitions.length > 0 &&
          cluster.partitions.every(
            (p) =>
              p.leader !== null &&
              p.replicas.length >= 2 &&
              p.replicas[0]!.role === "leader" &&
              p.replicas.slice(1).every((r) => r.role === "follower"),
          ) &&
          cluster.logs.every((log) => {
            const open = log.segments.at(-1);
            return (
              open !== undefined &&
              !open.sealed &&
              (open.nodeset?.length ?? 0) >= Math.min(nodes, 3)
            );
          }) &&
          cluster.metadata_members.some((m) => (m.voters?.length ?? 0) === nodes);
        const seen = JSON.stringify([
          cluster.partitions.map((p) => [p.leader, p.replicas.map((r) => `${r.node}:${r.role}`)]),
          cluster.logs.map((log) => log.segments.at(-1)),
          cluster.metadata_members.map((m) => m.voters),
        ]);
        if (!tolerant || seen !== previous) since = tolerant ? Date.now() : undefined;
        previous = seen;
        return since !== undefined && Date.now() - since >= 1_000;
      },
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\nthe cluster last seen: ${previous}`);
    });
  }

  private async waitFor(node: NodeProcess, ready: () => boolean | Promise<boolean>): Promise<void> {
    const child = node.child!;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(
          `test cluster node ${node.name} exited while starting:\n${node.output.join("\n")}`,
        );
      if (await ready()) return;
      if (Date.now() > deadline) {
        node.child = undefined;
        await killed(child, "SIGKILL");
        throw new Error(
          `test cluster node ${node.name} was not ready within ${READY_TIMEOUT_MS} ms:\n${node.output.join("\n")}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/** Sends `signal` and resolves once the process is gone (SIGKILL after a grace period). */
async function killed(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(signal);
  const grace = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
  await exited;
  clearTimeout(grace);
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const child of running) child.kill("SIGKILL");
  });
}

/** Ports free on loopback now (the nodes bind them a moment later). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createNetServer>>((resolve, reject) => {
          const server = createNetServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}
