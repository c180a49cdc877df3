/**
 * An in-process cluster for the replicated loglet's contract tests: three log servers with two
 * copies per record and the sequencer on node 1, over a pluggable backend (transport and store).
 * "Reopen" restarts log servers 2 and 3 from what their stores kept (node 1 keeps the sequencer, so
 * the loglet can still take appends afterwards, as the contract expects).
 */

import { after } from "node:test";
import { systemClock } from "../../src/platform/io/system.js";
import { generationalNodeId, NodeId } from "../../src/core/node_id.js";
import { seededPrng } from "../../src/core/prng.js";
import type { Loglet } from "../../src/bifrost/loglet.js";
import { DEFAULT_LOGLET_LIMITS } from "../../src/bifrost/replicated/limits.js";
import type { RecoveredLoglet } from "../../src/bifrost/loglet_store.js";
import { parseReplication } from "../../src/bifrost/replicated/replication.js";
import {
  formatLogletParams,
  logletIdOf,
  type LogletId,
} from "../../src/bifrost/replicated/types.js";
import { LogletNode } from "../../src/bifrost/replicated/loglet_node.js";
import { LogServerNode } from "../../src/log-server/server_node.js";
import type { LogServerStore } from "../../src/log-server/store.js";
import type { NodeTransport } from "../../src/net/transport.js";
import { ReplicatedLogletProvider } from "../../src/bifrost/replicated/provider.js";
import { describeLogletContract } from "./loglet_contract.js";

const NODES = [1, 2, 3];
const LIMITS = { ...DEFAULT_LOGLET_LIMITS, storeTimeoutTicks: 50, requestTimeoutTicks: 50 };

export interface Backend {
  transport(node: number, generation: number): NodeTransport | Promise<NodeTransport>;
  store(
    node: number,
  ): Promise<{ store: LogServerStore; recovered: Map<LogletId, RecoveredLoglet> }>;
  stop(node: number): Promise<void>;
}

class Cluster {
  private readonly nodes = new Map<number, { loglet: LogletNode; logServer: LogServerNode }>();
  private readonly generations = new Map<number, number>();
  private segment = 0;
  provider!: ReplicatedLogletProvider;

  constructor(private readonly backend: Backend) {}

  async start(node: number): Promise<void> {
    const generation = (this.generations.get(node) ?? 0) + 1;
    this.generations.set(node, generation);
    const { store, recovered } = await this.backend.store(node);
    const self = generationalNodeId(node, generation);
    const transport = await this.backend.transport(node, generation);
    const logServer = new LogServerNode({ self, transport, store, recovered });
    const loglet = new LogletNode({
      self,
      transport,
      clock: systemClock,
      prng: seededPrng(node * 1000 + generation),
      topology: new Map(),
      limits: LIMITS,
    });
    this.nodes.set(node, { loglet, logServer });
    if (node === 1) this.provider = new ReplicatedLogletProvider(loglet);
  }

  private shutdown(node: number): void {
    const running = this.nodes.get(node);
    running?.loglet.shutdown();
    running?.logServer.shutdown();
  }

  async restart(node: number): Promise<void> {
    this.shutdown(node);
    await this.backend.stop(node);
    await this.start(node);
  }

  async stopAll(): Promise<void> {
    for (const node of NODES) {
      this.shutdown(node);
      await this.backend.stop(node);
    }
  }

  private readonly segments = new WeakMap<Loglet, { index: number; params: string }>();

  /** A new segment of log 1, sequenced by node 1. */
  create(): Promise<Loglet> {
    const index = this.segment++;
    const params = formatLogletParams({
      logletId: logletIdOf(1, index),
      sequencer: generationalNodeId(1, this.generations.get(1)!),
      nodeset: NODES.map(NodeId),
      replication: parseReplication({ node: 2 }),
    });
    return this.open(index, params);
  }

  /** Closes the handle, restarts log servers 2 and 3, and opens the same segment again. */
  async reopen(loglet: Loglet): Promise<Loglet> {
    const segment = this.segments.get(loglet)!;
    await loglet.close();
    await this.restart(2);
    await this.restart(3);
    return this.open(segment.index, segment.params);
  }

  private async open(index: number, params: string): Promise<Loglet> {
    const loglet = await this.provider.open(1, index, { provider: "replicated", params });
    this.segments.set(loglet, { index, params });
    return loglet;
  }
}

/** Runs the loglet contract on a cluster over `backend` (create it at module level, not in a test). */
export function describeOn(name: string, backend: Backend): void {
  let cluster: Cluster | undefined;
  const ready = async (): Promise<Cluster> => {
    if (cluster === undefined) {
      cluster = new Cluster(backend);
      for (const node of NODES) await cluster.start(node);
    }
    return cluster;
  };
  after(() => cluster?.stopAll());
  describeLogletContract(`replicated (${name})`, {
    create: async () => (await ready()).create(),
    reopen: async (loglet) => (await ready()).reopen(loglet),
  });
}
