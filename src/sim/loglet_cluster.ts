/**
 * A simulated cluster of log-server nodes running the real replicated-loglet driver (LogletNode) over
 * the simulator's twin ports. Used by the `loglet` simulation component and by the scenario tests,
 * which tell the protocol's stories step by step ("crash node 3, append, seal through node 2…").
 *
 * Every node is a log server with its own `SimDisk`. A crash kills the node's twins (timers, transport,
 * store), loses its unsynced writes and forgets its in-memory state; a restart recovers the store
 * from the disk and comes back with generation + 1, so it is a new incarnation: any loglet that the
 * old incarnation sequenced has no sequencer any more and must be sealed.
 */

import {
  assert,
  type LogletOffset,
  generationalNodeId,
  NodeId,
  seededPrng,
} from "../core/index.js";
import {
  type LogletEntry,
  type LogletTail,
  DEFAULT_LOGLET_LIMITS,
  type ReplicatedLogletLimits,
  parseLocation,
  type NodeLocation,
  type Topology,
  type SequencerOptions,
  type LogletId,
  type LogletParams,
  LogletNode,
  type LogletObserver,
  type Result,
} from "../bifrost/index.js";
import { LogServerNode } from "../log-server/index.js";
import { SimDisk } from "./disk.js";
import { SimNetwork, type NetworkFaults } from "./network.js";
import {
  SimClock,
  SimLogStore,
  SimTransport,
  type SimDiskLatency,
  type SimPacket,
} from "./ports.js";
import { SimScheduler } from "./scheduler.js";

export interface LogletClusterOptions {
  readonly nodes: number;
  /** Optional `region.zone` per node (index 0 is node 1). */
  readonly locations?: readonly string[];
  readonly faults: NetworkFaults;
  readonly disk: SimDiskLatency;
  readonly limits?: ReplicatedLogletLimits;
  readonly sequencerOptions?: SequencerOptions;
  readonly observer?: (node: NodeId) => LogletObserver & {
    /** The node's log store failed; its log server has stopped. */
    onStoreFailure?(error: Error): void;
  };
}

export interface SimNode {
  readonly id: NodeId;
  generation: number;
  readonly disk: SimDisk;
  alive: boolean;
  loglet: LogletNode;
  logServer: LogServerNode;
  store: SimLogStore;
  transport: SimTransport;
  clock: SimClock;
}

/** A result that arrives later; scenario tests run the scheduler until `settled`. */
export class Pending<T> {
  result: Result<T> | undefined;

  get settled(): boolean {
    return this.result !== undefined;
  }

  /** The value, asserting the operation succeeded. */
  value(): T {
    assert(this.result !== undefined, "the operation has not completed");
    if (!this.result.ok) throw this.result.error;
    return this.result.value;
  }

  /** The error code, asserting the operation failed. */
  errorCode(): string {
    assert(this.result !== undefined, "the operation has not completed");
    assert(!this.result.ok, "the operation succeeded");
    return this.result.error.code;
  }
}

export class LogletCluster {
  readonly scheduler: SimScheduler;
  readonly network: SimNetwork<SimPacket>;
  readonly topology: Topology;
  readonly limits: ReplicatedLogletLimits;
  readonly nodes = new Map<NodeId, SimNode>();
  /** Params of every loglet opened so far: restarted nodes open them again. */
  private readonly opened = new Map<LogletId, LogletParams>();

  constructor(
    seed: number,
    private readonly options: LogletClusterOptions,
  ) {
    this.scheduler = new SimScheduler(seed);
    this.network = new SimNetwork<SimPacket>(this.scheduler, { ...options.faults });
    this.limits = options.limits ?? DEFAULT_LOGLET_LIMITS;
    const topology = new Map<NodeId, NodeLocation>();
    for (let i = 1; i <= options.nodes; i++) {
      const location = options.locations?.[i - 1];
      if (location !== undefined) topology.set(NodeId(i), parseLocation(location));
    }
    this.topology = topology;
    for (let i = 1; i <= options.nodes; i++) {
      const id = NodeId(i);
      const disk = new SimDisk(seededPrng(this.scheduler.prng.nextU32()));
      const node = { id, generation: 0, disk, alive: false } as SimNode;
      this.nodes.set(id, node);
      this.boot(node);
    }
  }

  get ids(): NodeId[] {
    return [...this.nodes.keys()];
  }

  node(id: number): SimNode {
    const node = this.nodes.get(NodeId(id));
    assert(node !== undefined, `no node ${id}`);
    return node;
  }

  alive(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.alive);
  }

  private boot(node: SimNode): void {
    node.generation++;
    const { store, recovered } = SimLogStore.open(node.disk, this.scheduler, this.options.disk);
    const clock = new SimClock(this.scheduler);
    const transport = new SimTransport(this.network, this.scheduler, node.id, node.generation);
    const self = generationalNodeId(node.id, node.generation);
    const observer = this.options.observer?.(node.id);
    const logServer = new LogServerNode({
      self,
      transport,
      store,
      recovered,
      onStoreFailure: (error) => observer?.onStoreFailure?.(error),
    });
    const loglet = new LogletNode({
      self,
      transport,
      clock,
      prng: seededPrng(this.scheduler.prng.nextU32()),
      topology: this.topology,
      limits: this.limits,
      ...(observer === undefined ? {} : { observer }),
      ...(this.options.sequencerOptions === undefined
        ? {}
        : { sequencerOptions: this.options.sequencerOptions }),
    });
    Object.assign(node, { store, clock, transport, loglet, logServer, alive: true });
    for (const params of this.opened.values()) loglet.open(params);
  }

  /** Kills a node: its unsynced writes are lost and its in-memory state is gone. */
  crash(id: number): void {
    const node = this.node(id);
    if (!node.alive) return;
    node.alive = false;
    node.loglet.shutdown();
    node.logServer.shutdown();
    node.transport.kill();
    node.clock.kill();
    node.store.kill();
    node.disk.crash();
  }

  /** Brings a crashed node back as a new incarnation (generation + 1). */
  restart(id: number): void {
    const node = this.node(id);
    if (node.alive) return;
    this.boot(node);
  }

  /** Opens a loglet on every live node (and on nodes that restart later). */
  open(params: LogletParams): void {
    this.opened.set(params.logletId, params);
    for (const node of this.alive()) node.loglet.open(params);
  }

  incarnation(id: number): { node: NodeId; generation: number } {
    const node = this.node(id);
    return { node: node.id, generation: node.generation };
  }

  // ---- operations through one node, as pending results ----

  append(via: number, id: LogletId, payloads: readonly Uint8Array[]): Pending<LogletOffset> {
    const pending = new Pending<LogletOffset>();
    this.node(via).loglet.append(id, payloads, (r) => (pending.result = r));
    return pending;
  }

  read(via: number, id: LogletId, from: number, max: number): Pending<LogletEntry[]> {
    const pending = new Pending<LogletEntry[]>();
    this.node(via).loglet.read(id, from as LogletOffset, max, (r) => (pending.result = r));
    return pending;
  }

  seal(via: number, id: LogletId): Pending<LogletTail> {
    const pending = new Pending<LogletTail>();
    this.node(via).loglet.seal(id, (r) => (pending.result = r));
    return pending;
  }

  findTail(via: number, id: LogletId): Pending<LogletTail> {
    const pending = new Pending<LogletTail>();
    this.node(via).loglet.findTail(id, (r) => (pending.result = r));
    return pending;
  }

  trim(via: number, id: LogletId, through: number): Pending<void> {
    const pending = new Pending<void>();
    this.node(via).loglet.trim(id, through, (r) => (pending.result = r));
    return pending;
  }

  /** Runs the simulation until every given operation completed (or `limitMs` of virtual time passed). */
  settle(operations: readonly Pending<unknown>[], limitMs = 30_000): boolean {
    return this.scheduler.runUntil(() => operations.every((o) => o.settled), {
      untilMs: this.scheduler.now + limitMs,
    });
  }

  runFor(ms: number): void {
    this.scheduler.runFor(ms);
  }
}
