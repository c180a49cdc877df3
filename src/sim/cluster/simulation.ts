/**
 * The `cluster` simulation component: 3 to 5 Keel nodes in one process under the deterministic
 * simulator, each composed as `keel-server --metadata-servers …` composes it (src/node/io/cluster.ts)
 * but on simulated ports: a metadata member (the real Raft member) on nodes 1-3, the replicated
 * metadata client, a log server and the replicated loglet driver on the node transport, and a
 * `KeelNode` in cluster mode with its controller, partition processors (the real state machine) and
 * invoker, calling one simulated service deployment (the node simulation's SDK and services).
 * `npm run sim -- --component cluster --seeds N [--seed S]`.
 *
 * One run:
 * 1. Pick a shape from the seed (./parameters.ts). Node 1 provisions the cluster (with the schema);
 *    the others register one after another, and the metadata servers among them join the Raft group.
 * 2. Once every node has started, clients submit `Counter/add` invocations to a random live node (as
 *    the ingress of any node does), each with an idempotency key, and retry on another node when a
 *    request fails. The nemesis crashes a node (everything in memory is lost, its disks keep what
 *    they synced; pending requests to it fail as a reset connection) or cuts it off both networks,
 *    one node at a time, and brings it back later; the networks delay, drop and duplicate messages.
 * 3. Calm: the network heals, every node is up, every client retries until it has its result.
 * 4. Check (below) once every replica has applied its partition's whole log.
 *
 * Checked after every event: at most one processor leads a partition in one epoch, and no processor
 * leads after applying a newer leader's announcement. Checked at the end: every acknowledged
 * invocation completed once with the output its client received and the one run result its handler
 * saw; every counter equals its completed adds; every partition's log reads the same through every
 * node (no fork) and replays, from LSN 1, into exactly each replica's store; replicas' stores are
 * equal at equal applied LSN; no error logged, no fatal error.
 *
 * Why one file of this length: the cluster's lives, the nemesis, the clients and the checkers share
 * one run's state (the scheduler, the networks, the ledger, the digest) and read as one story in the
 * order above; the parameters, the simulated SDK, services, streams, stores and the workload are
 * elsewhere.
 */

import {
  assert,
  describeError,
  generationalNodeId,
  KeelError,
  Lsn,
  NodeId,
  PartitionId,
  PartitionTable,
  seededPrng,
  Sha256,
  toHex,
  utf8,
  type PartitionKey,
  type Prng,
} from "../../core/index.js";
import {
  DEFAULT_LOGLET_LIMITS,
  LogletNode,
  parseLocation,
  ReplicatedLogletProvider,
  type NodeLocation,
  type VirtualLog,
} from "../../bifrost/index.js";
import { LogServerNode } from "../../log-server/index.js";
import {
  DEFAULT_CLIENT_LIMITS,
  DEFAULT_RAFT_LIMITS,
  decodeNodesConfiguration,
  isMember,
  MetadataClientCore,
  NODES_CONFIG_KEY,
  provisionedState,
  registerNode,
  ReplicatedMetadataStore,
  type NodeIdentity,
  type NodeRecord,
} from "../../metadata-server/index.js";
import { KeelNode, nodesetTargetSize, replicatedSegment, type NodeRole } from "../../node/index.js";
import {
  MemoryStore,
  TableReader,
  compareKeys,
  type ObjectRef,
} from "../../partition-store/index.js";
import type { Logger } from "../../platform/index.js";
import { SCHEMA_KEY, type Schema } from "../../schema/index.js";
import {
  replayPartition,
  type PartitionProcessor,
  type ProcessorTestOnlyFaults,
} from "../../worker/index.js";
import type { SimRunResult } from "../components.js";
import { SimDisk } from "../disk.js";
import {
  CLIENT_NODE_BASE,
  SimMetadataCluster,
  memberAddress,
  type SimMember,
} from "../metadata/cluster.js";
import { SimNetwork } from "../network.js";
import { SimClock, SimLogStore, SimTransport, type SimPacket } from "../ports.js";
import { SimScheduler } from "../scheduler.js";
import { SimEndpointTransport, type StreamCounters, type StreamNetwork } from "../node/endpoint.js";
import { SimSdk } from "../node/sdk.js";
import { Ledger, simulatedHandlers, simulatedSchema } from "../node/services.js";
import { SimPartitionStore, SimStoreDisk } from "../node/storage.js";
import { Driver, RunRecord } from "../node/run_record.js";
import {
  ClientTimeout,
  ConnectionReset,
  ProcessRequests,
  clientAttempt,
  isExpectedClientError,
} from "../node/client_requests.js";
import {
  checkInvocations,
  checkObjects,
  clientInvocations,
  firstStoreDifference,
  safeJson,
  type ClientInvocation,
  type StoredView,
} from "../node/workload.js";
import { pickClusterParameters, type ClusterParameters } from "./parameters.js";

export interface ClusterSimOptions {
  /** The runner's port: resolves once every pending microtask has run (components.ts). */
  readonly settle: () => Promise<void>;
  readonly verbose?: boolean;
  /** TEST ONLY: deliberately broken leadership that the checkers must catch. */
  readonly processorTestOnlyFaults?: ProcessorTestOnlyFaults;
}

export interface ClusterSimResult extends SimRunResult {
  /** SHA-256 (hex, shortened) over the run's events: equal for two runs of one seed. */
  readonly digest: string;
}

const CLUSTER_NAME = "sim";
/** 2027-01-15: the nodes' clocks read wall-clock time. */
const EPOCH_MS = 1_800_000_000_000;
const ROLES: readonly NodeRole[] = ["http-ingress", "admin", "worker", "log-server"];
/** As keel-server's metadata client ticks (metadata-server/io/metadata_node.ts). */
const METADATA_CLIENT_TICK_MS = 10;
const METADATA_MEMBER_TICK_MS = 10;
const METADATA_RETRY_MS = 100;
const STARTUP_LIMIT_MS = 60_000;
const CALM_LIMIT_MS = 120_000;
const CATCH_UP_LIMIT_MS = 30_000;
const STEPS_MAX = 10_000_000;
const CLIENT_RETRY_MIN_MS = 20;
const CLIENT_RETRY_MAX_MS = 300;
/**
 * As an HTTP client's timeout: a request whose answer was lost (a dropped message, a node cut off)
 * is abandoned and sent again, with the same idempotency key, maybe to another node.
 */
const CLIENT_TIMEOUT_MS = 10_000;
const DIRECTION_MARK = [utf8(">"), utf8("<")];

/** One process of a node: everything that dies with it. */
class Incarnation {
  alive = true;
  started = false;
  node: KeelNode | undefined;
  /** Its metadata client's index (the client's address on the metadata network). */
  metadataClient: number | undefined;
  readonly stores: SimPartitionStore[] = [];
  readonly kills: (() => void)[] = [];
  readonly requests = new ProcessRequests();

  constructor(
    readonly slot: NodeSlot,
    readonly serial: number,
    readonly clock: SimClock,
  ) {}

  /** The node, while the process is alive and started (clients' requests go to it). */
  get serving(): KeelNode | undefined {
    return this.alive && this.started ? this.node : undefined;
  }

  crash(): void {
    this.alive = false;
    this.clock.kill();
    this.stores.forEach((store) => store.crash());
    for (const kill of this.kills) kill();
    this.requests.resetAll();
  }
}

/** A node's machine: its disks outlive its processes. */
interface NodeSlot {
  readonly id: NodeId;
  readonly name: string;
  readonly isMetadataServer: boolean;
  readonly logDisk: SimDisk;
  readonly storeDisk: SimStoreDisk;
  member: SimMember | undefined;
  /** Registered at least once: its plain id is its own. */
  registered: boolean;
  incarnation: Incarnation | undefined;
  /** Cut off both networks until the nemesis lets it back. */
  isolated: boolean;
}

class ClusterSimulation {
  private readonly scheduler: SimScheduler;
  private readonly record: RunRecord;
  private readonly driver: Driver;
  private readonly params: ClusterParameters;
  private readonly faultPrng: Prng;
  private readonly workloadPrng: Prng;
  private readonly portsPrng: Prng;
  private readonly network: SimNetwork<SimPacket>;
  private readonly metadataNetwork: SimNetwork<Uint8Array>;
  private readonly metadataCluster: SimMetadataCluster;
  private readonly streams: StreamNetwork;
  private readonly streamCounters: StreamCounters = { opened: 0, cut: 0 };
  private readonly ledger: Ledger;
  private readonly schema: Schema;
  private readonly slots: NodeSlot[] = [];
  private readonly topology = new Map<NodeId, NodeLocation>();
  private clients: ClientInvocation[] = [];
  private incarnations = 0;
  private metadataClients = 0;
  private calm = false;
  private crashes = 0;
  private isolations = 0;

  constructor(
    private readonly seed: number,
    private readonly options: ClusterSimOptions,
  ) {
    this.scheduler = new SimScheduler(seed);
    this.record = new RunRecord(this.scheduler, options.verbose === true);
    this.driver = new Driver(this.scheduler, this.record, {
      settle: options.settle,
      stepsMax: STEPS_MAX,
      afterStep: () => this.checkLeaders(),
      stopOnViolation: true,
    });
    const root = this.scheduler.prng;
    this.params = pickClusterParameters(root);
    this.faultPrng = seededPrng(root.nextU32());
    this.workloadPrng = seededPrng(root.nextU32());
    this.portsPrng = seededPrng(root.nextU32());
    const servicePrng = seededPrng(root.nextU32());
    this.network = new SimNetwork<SimPacket>(this.scheduler, { ...this.params.network });
    this.metadataNetwork = new SimNetwork<Uint8Array>(this.scheduler, {
      ...this.params.metadataNetwork,
    });
    this.metadataCluster = new SimMetadataCluster(this.scheduler, this.metadataNetwork, {
      raftLimits: DEFAULT_RAFT_LIMITS,
      snapshotIntervalEntries: 200,
      tickMsBase: METADATA_MEMBER_TICK_MS,
      persistLatencyMsMax: this.params.raftPersistLatencyMsMax,
      onFatal: (member, error) =>
        this.violation(`metadata member ${member}: fatal error: ${describeError(error)}`),
    });
    this.ledger = new Ledger((message) => this.violation(message));
    const sdk = new SimSdk(
      simulatedHandlers({
        prng: servicePrng,
        ledger: this.ledger,
        delay: (ms) => new Promise((resolve) => this.scheduler.schedule(ms, resolve)),
        runDurationMaxMs: this.params.runDurationMaxMs,
        failureChance: this.params.handlerFailureChance,
      }),
      {
        nowMs: () => EPOCH_MS + this.scheduler.now,
        violation: (m) => this.violation(m),
        proposedRun: () => undefined,
      },
    );
    this.streams = {
      sdk,
      scheduler: this.scheduler,
      prng: seededPrng(root.nextU32()),
      faults: this.params.streams,
      cutsEnabled: () => !this.calm,
      counters: this.streamCounters,
      delivered: (towardNode, bytes) => {
        this.record.traffic(DIRECTION_MARK[towardNode ? 1 : 0]!, bytes);
      },
    };
    this.schema = simulatedSchema(this.params.schema, EPOCH_MS);
    for (let i = 1; i <= this.params.nodes; i++) {
      this.slots.push({
        id: NodeId(i),
        name: `N${i}`,
        isMetadataServer: i <= this.params.metadataServers,
        logDisk: new SimDisk(seededPrng(root.nextU32())),
        storeDisk: new SimStoreDisk(),
        member: undefined,
        registered: false,
        incarnation: undefined,
        isolated: false,
      });
    }
  }

  async run(): Promise<ClusterSimResult> {
    try {
      if (await this.startCluster()) {
        this.clients = clientInvocations(this.params, this.schema, this.workloadPrng);
        const start = this.scheduler.now;
        for (const client of this.clients)
          this.scheduler.schedule(client.startAtMs, () => void this.runClient(client));
        this.scheduleNemesis();
        const calmAt = start + this.params.faultPhaseMs;
        await this.driveUntil(() => this.scheduler.now >= calmAt, calmAt);
        this.beginCalm();
        const finished = await this.driveUntil(
          () => this.clients.every((c) => c.received !== undefined),
          calmAt + CALM_LIMIT_MS,
        );
        if (finished) await this.finalChecks();
        else this.reportStuck();
      }
    } catch (error) {
      this.violation(
        `the simulation threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
    }
    for (const slot of this.slots) slot.incarnation?.crash();
    const digest = this.record.finish();
    return {
      seed: this.seed,
      violations: this.record.violations,
      summary: this.summary(digest),
      digest,
    };
  }

  // ---- driving ----

  private driveUntil(done: () => boolean, untilMs: number): Promise<boolean> {
    return this.driver.until(done, untilMs);
  }

  /** Drives the simulation until `promise` settles (it needs the simulated network and disks). */
  private async completion<T>(promise: Promise<T>, what: string, limitMs = 30_000): Promise<T> {
    let settled = false;
    promise.then(
      () => (settled = true),
      () => (settled = true),
    );
    if (!(await this.driveUntil(() => settled, this.scheduler.now + limitMs)))
      throw new Error(`${what} did not complete within ${limitMs} ms`);
    return promise;
  }

  private withTimeout<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const cancel = this.scheduler.schedule(CLIENT_TIMEOUT_MS, () =>
        reject(new ClientTimeout(`no answer in ${CLIENT_TIMEOUT_MS} ms`)),
      );
      promise.then(
        (value) => {
          cancel();
          resolve(value);
        },
        (error: unknown) => {
          cancel();
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }

  private sleep(ms: number): Promise<void> {
    return this.driver.sleep(ms);
  }

  /** Retries a metadata operation that found no member to answer, as keel-server's start does. */
  private async withMetadata<T>(incarnation: Incarnation, run: () => Promise<T>): Promise<T> {
    for (;;) {
      if (!incarnation.alive) throw new ConnectionReset("the node crashed");
      try {
        return await run();
      } catch (error) {
        if (!(error instanceof KeelError && error.code === "unavailable")) throw error;
      }
      await this.sleep(METADATA_RETRY_MS);
    }
  }

  // ---- the cluster's lives ----

  /** Starts the nodes one after another (each registers before the next), as an operator would. */
  private async startCluster(): Promise<boolean> {
    for (const slot of this.slots) {
      const booted = this.boot(slot);
      const registered = await this.driveUntil(
        () => slot.registered || this.record.violations.length > 0,
        this.scheduler.now + STARTUP_LIMIT_MS,
      );
      if (!registered) {
        this.violation(`${slot.name} did not register within ${STARTUP_LIMIT_MS} ms`);
        return false;
      }
      void booted;
    }
    const started = await this.driveUntil(
      () => this.slots.every((s) => s.incarnation?.started === true),
      this.scheduler.now + STARTUP_LIMIT_MS,
    );
    if (!started) this.violation(`the cluster did not start within ${STARTUP_LIMIT_MS} ms`);
    return started;
  }

  /** Starts a process of the node; its start goes on in the background. */
  private boot(slot: NodeSlot): Incarnation {
    assert(slot.incarnation === undefined, "one process per node");
    const clock = new SimClock(this.scheduler, EPOCH_MS);
    const incarnation = new Incarnation(slot, ++this.incarnations, clock);
    slot.incarnation = incarnation;
    this.trace(`boot ${slot.name} (process ${incarnation.serial})`);
    this.start(incarnation).then(
      () => {
        if (!incarnation.alive) return;
        incarnation.started = true;
        this.trace(`${slot.name} started`);
      },
      (error: unknown) => {
        if (incarnation.alive)
          this.violation(`${slot.name} failed to start: ${describeError(error)}`);
      },
    );
    return incarnation;
  }

  private async start(incarnation: Incarnation): Promise<void> {
    const slot = incarnation.slot;
    const identity: NodeIdentity = {
      name: slot.name,
      address: slot.isMetadataServer ? memberAddress(slot.id) : `node-${slot.id}`,
      roles: slot.isMetadataServer ? [...ROLES, "metadata-server"] : ROLES,
      location: "",
    };
    const metadata = this.metadataClient(incarnation);
    if (slot.isMetadataServer) {
      if (slot.member === undefined) {
        const provisioned =
          slot.id === 1
            ? provisionedState(
                CLUSTER_NAME,
                identity,
                new Map([[SCHEMA_KEY, utf8(JSON.stringify(this.schema))]]),
              )
            : undefined;
        if (slot.id !== 1) {
          // A new node learns its plain id from its first registration, then joins the group.
          const first = await this.withMetadata(incarnation, () =>
            registerNode(metadata, CLUSTER_NAME, identity),
          );
          assert(first.plainId === slot.id, `${slot.name} registers as node ${slot.id}`);
          slot.registered = true;
        }
        slot.member = this.metadataCluster.addMember(slot.id, provisioned);
      } else this.metadataCluster.start(slot.member);
      const member = slot.member;
      incarnation.kills.push(() => this.metadataCluster.crash(member));
      const core = member.driver?.member;
      if (core !== undefined && !isMember(core.status().membership, member.id))
        await this.withMetadata(incarnation, () => metadata.join(member.id, member.address));
    }
    const registration = await this.withMetadata(incarnation, () =>
      registerNode(metadata, CLUSTER_NAME, identity),
    );
    assert(registration.plainId === slot.id, `${slot.name} registers as node ${slot.id}`);
    slot.registered = true;
    if (!incarnation.alive) return;
    this.trace(`${slot.name} registered, generation ${registration.generation}`);
    const self = generationalNodeId(registration.plainId, registration.generation);
    const learnNodes = (nodes: readonly NodeRecord[]): void => {
      metadata.learnMembers(
        nodes.filter((n) => n.roles.includes("metadata-server")).map((n) => n.address),
      );
      for (const node of nodes)
        this.topology.set(NodeId(node.plainId), parseLocation(node.location ?? ""));
    };
    const nodesNow = async (): Promise<readonly NodeRecord[]> => {
      const stored = await metadata.get(NODES_CONFIG_KEY);
      const nodes = stored === undefined ? [] : decodeNodesConfiguration(stored.value).nodes;
      learnNodes(nodes);
      return nodes;
    };
    await this.withMetadata(incarnation, nodesNow);

    const transport = new SimTransport(this.network, this.scheduler, slot.id, incarnation.serial, {
      resetsOnPeerCrash: true,
    });
    const { store: logStore, recovered } = SimLogStore.open(
      slot.logDisk,
      this.scheduler,
      this.params.logDisk,
    );
    const logServer = new LogServerNode({
      self,
      transport,
      store: logStore,
      recovered,
      onStoreFailure: (error) =>
        this.violation(`${slot.name}: log store failed: ${describeError(error)}`),
    });
    const loglets = new LogletNode({
      self,
      transport,
      clock: incarnation.clock,
      prng: seededPrng(this.portsPrng.nextU32()),
      topology: this.topology,
      limits: DEFAULT_LOGLET_LIMITS,
    });
    const endpoint = new SimEndpointTransport(this.streams);
    incarnation.kills.push(
      () => loglets.shutdown(),
      () => logServer.shutdown(),
      () => transport.kill(),
      () => logStore.kill(),
      () => slot.logDisk.crash(),
      () => endpoint.crash(),
    );
    if (!incarnation.alive) {
      for (const kill of incarnation.kills) kill();
      return;
    }
    const prng = seededPrng(this.portsPrng.nextU32());
    const segmentPrng = seededPrng(this.portsPrng.nextU32());
    const newSegment = async (logId: number, segmentIndex: number) =>
      replicatedSegment(
        {
          logId,
          segmentIndex,
          nodes: await nodesNow(),
          sequencer: self,
          replication: { node: this.params.copies },
          topology: this.topology,
        },
        segmentPrng,
      );
    const faults = this.options.processorTestOnlyFaults;
    const node = new KeelNode(
      {
        nodeName: slot.name,
        partitions: this.params.partitions,
        clusterName: CLUSTER_NAME,
        invokerConcurrencyMax: this.params.invokerConcurrencyMax,
        ...(faults === undefined ? {} : { processorTestOnlyFaults: faults }),
      },
      {
        metadata,
        loglets: new Map([["replicated", new ReplicatedLogletProvider(loglets)]]),
        initialLoglet: (logId) => newSegment(logId, 0),
        openPartitionStore: (partitionId) => {
          const store = new SimPartitionStore(
            slot.storeDisk.partition(partitionId),
            this.scheduler,
            prng,
            this.params.storeWriteDelayMaxMs,
          );
          incarnation.stores[partitionId] = store;
          return store;
        },
        transport: endpoint,
        clock: incarnation.clock,
        entropy: { fill: (target) => prng.fillBytes(target) },
        logger: this.loggerOf(incarnation),
        onFatal: (error) => {
          if (incarnation.alive)
            this.violation(`${slot.name}: fatal error: ${describeError(error)}`);
        },
        cluster: {
          registration,
          transport,
          roles: identity.roles as NodeRole[],
          replication: { node: this.params.copies },
          newSegment,
          nodesetTargetSize: async () =>
            nodesetTargetSize(await nodesNow(), { node: this.params.copies }),
          metadataMembers: () => Promise.resolve([]),
        },
      },
    );
    incarnation.node = node;
    await node.start();
  }

  /** A metadata client of the process, on the metadata network; it dies with the process. */
  private metadataClient(incarnation: Incarnation): ReplicatedMetadataStore {
    const index = ++this.metadataClients;
    const { transport, ticker, process } = this.metadataCluster.clientPorts(index);
    const seeds = this.slots.filter((s) => s.isMetadataServer).map((s) => memberAddress(s.id));
    const core = new MetadataClientCore(
      transport.address,
      seeds,
      DEFAULT_CLIENT_LIMITS,
      seededPrng(this.portsPrng.nextU32()),
    );
    const store = new ReplicatedMetadataStore(core, transport, ticker, METADATA_CLIENT_TICK_MS);
    incarnation.kills.push(() => {
      process.kill();
      void store.close();
    });
    incarnation.metadataClient = index;
    return store;
  }

  private crash(slot: NodeSlot): void {
    const incarnation = slot.incarnation;
    if (incarnation === undefined) return;
    slot.incarnation = undefined;
    this.crashes++;
    this.trace(`crash ${slot.name} (process ${incarnation.serial})`);
    incarnation.crash();
  }

  // ---- the nemesis ----

  private scheduleNemesis(): void {
    const { faultIntervalMinMs, faultIntervalMaxMs } = this.params;
    const after =
      faultIntervalMinMs + this.faultPrng.nextInt(faultIntervalMaxMs - faultIntervalMinMs + 1);
    this.scheduler.schedule(after, () => {
      if (this.calm) return;
      // One node at a time: the cluster keeps a majority of metadata members and a copy of each
      // partition, so it must go on serving.
      const healthy = this.slots.filter((s) => s.incarnation?.started === true && !s.isolated);
      if (healthy.length < this.slots.length) return this.scheduleNemesis();
      const victim = healthy[this.faultPrng.nextInt(healthy.length)]!;
      const downtime = 1 + this.faultPrng.nextInt(this.params.downtimeMaxMs);
      if (this.faultPrng.chance(this.params.isolationChance)) {
        this.isolate(victim);
        this.scheduler.schedule(downtime, () => this.reconnect(victim));
      } else {
        this.crash(victim);
        this.scheduler.schedule(downtime, () => {
          if (victim.incarnation === undefined) this.boot(victim);
        });
      }
      this.scheduleNemesis();
    });
  }

  private isolate(slot: NodeSlot): void {
    this.isolations++;
    slot.isolated = true;
    this.trace(`isolate ${slot.name}`);
    const others = this.slots.filter((s) => s !== slot).map((s) => Number(s.id));
    this.network.partition([Number(slot.id)], others);
    this.metadataNetwork.partition(
      this.metadataEndpoints(slot),
      this.slots.filter((s) => s !== slot).flatMap((s) => this.metadataEndpoints(s)),
    );
  }

  private reconnect(slot: NodeSlot): void {
    if (!slot.isolated) return;
    slot.isolated = false;
    this.trace(`reconnect ${slot.name}`);
    this.network.reconnect(Number(slot.id));
    for (const endpoint of this.metadataEndpoints(slot)) this.metadataNetwork.reconnect(endpoint);
  }

  /** The node's addresses on the metadata network: its member and its process's client. */
  private metadataEndpoints(slot: NodeSlot): number[] {
    const endpoints: number[] = slot.isMetadataServer ? [Number(slot.id)] : [];
    const client = slot.incarnation?.metadataClient;
    if (client !== undefined) endpoints.push(CLIENT_NODE_BASE + client);
    return endpoints;
  }

  private beginCalm(): void {
    this.calm = true;
    this.trace("calm");
    this.network.faults = { ...this.network.faults, dropProbability: 0 };
    this.metadataNetwork.faults = { ...this.metadataNetwork.faults, dropProbability: 0 };
    for (const slot of this.slots) {
      this.reconnect(slot);
      if (slot.incarnation === undefined) this.boot(slot);
    }
  }

  // ---- clients ----

  private readonly attemptHooks = {
    now: (): number => this.scheduler.now,
    trace: (text: string): void => this.trace(text),
    violation: (message: string): void => this.violation(message),
  };

  /** One client: submits to a random node, and retries with its idempotency key until it has its result. */
  private async runClient(client: ClientInvocation): Promise<void> {
    for (;;) {
      const candidates = this.slots
        .map((s) => s.incarnation)
        .filter((i): i is Incarnation => i?.started === true);
      const incarnation = candidates[this.workloadPrng.nextInt(Math.max(1, candidates.length))];
      if (incarnation !== undefined) {
        try {
          const target = {
            name: incarnation.slot.name,
            node: incarnation.serving,
            requests: incarnation.requests,
          };
          if (await this.withTimeout(clientAttempt(client, target, this.attemptHooks))) return;
        } catch (error) {
          if (!isExpectedClientError(error)) {
            this.violation(`client ${client.index}: unexpected error: ${describeError(error)}`);
            return;
          }
          this.note(`client ${client.index} via ${incarnation.slot.name}: ${describeError(error)}`);
        }
      }
      await this.sleep(
        CLIENT_RETRY_MIN_MS + this.workloadPrng.nextInt(CLIENT_RETRY_MAX_MS - CLIENT_RETRY_MIN_MS),
      );
    }
  }

  // ---- checks ----

  /** The processors of every live process, with the node they run on. */
  private liveProcessors(): { slot: NodeSlot; processor: PartitionProcessor }[] {
    const found: { slot: NodeSlot; processor: PartitionProcessor }[] = [];
    for (const slot of this.slots) {
      const node = slot.incarnation?.node;
      if (slot.incarnation?.alive !== true || node === undefined) continue;
      for (const processor of node.partitionProcessors) found.push({ slot, processor });
    }
    return found;
  }

  /**
   * At most one processor leads a partition in one epoch, and none leads once it applied a newer
   * leader's announcement (it must stop acting at once).
   */
  private checkLeaders(): void {
    const leaders = new Map<string, string>();
    for (const { slot, processor } of this.liveProcessors()) {
      const epoch = processor.leadingEpoch;
      if (epoch === undefined) continue;
      const key = `${processor.partitionId}@${epoch}`;
      const other = leaders.get(key);
      if (other !== undefined)
        this.violation(
          `partition ${processor.partitionId} has two leaders in epoch ${epoch}: ${other} and ${slot.name}`,
        );
      leaders.set(key, slot.name);
      if (processor.epoch > epoch)
        this.violation(
          `${slot.name} still leads partition ${processor.partitionId} in epoch ${epoch} after applying epoch ${processor.epoch}'s announcement`,
        );
    }
  }

  /** How each live replica of the client's partition stands, for a report. */
  private replicasOf(client: ClientInvocation): string[] {
    const partition = new PartitionTable(this.params.partitions).partitionOf(
      client.id.partitionKey,
    );
    return this.liveProcessors()
      .filter(({ processor }) => processor.partitionId === partition)
      .map(({ slot, processor }) => {
        const status = new TableReader(processor.reader()).status(client.id);
        const { role, timers } = processor.status();
        const waiting = status?.waiting === undefined ? "" : ` waiting ${safeJson(status.waiting)}`;
        return `p${partition} on ${slot.name}: ${role} epoch ${processor.epoch} applied ${processor.appliedLsn} timers ${timers}, ${status === undefined ? "no status" : `phase ${status.phase}${waiting}`}`;
      });
  }

  private reportStuck(): void {
    if (this.record.violations.length > 0) return;
    for (const client of this.clients.filter((c) => c.received === undefined).slice(0, 5))
      this.violation(
        `client ${client.index} (${client.mode}, ${client.idText}) has no result ${CALM_LIMIT_MS} ms into the calm: ${this.replicasOf(client).join("; ") || "no live replica"}`,
      );
  }

  private async finalChecks(): Promise<void> {
    // Every replica applies its partition's whole log before anything is compared.
    let tails: number[] = [];
    const caughtUp = async (): Promise<boolean> => {
      const processors = this.liveProcessors();
      tails = await Promise.all(
        Array.from({ length: this.params.partitions }, async (_, p) => {
          const leader = processors.find(
            ({ processor }) => processor.partitionId === p && processor.isLeader,
          );
          return leader === undefined ? -1 : await leader.processor.log.findTail();
        }),
      );
      return tails.every(
        (tail, p) =>
          tail > 0 &&
          processors.filter(({ processor }) => processor.partitionId === p).length >=
            this.params.copies &&
          processors
            .filter(({ processor }) => processor.partitionId === p)
            .every(({ processor }) => processor.appliedLsn === tail - 1),
      );
    };
    const deadline = this.scheduler.now + CATCH_UP_LIMIT_MS;
    let done = false;
    while (!done && this.scheduler.now < deadline) {
      await this.driveUntil(() => false, this.scheduler.now + 500);
      done = await this.completion(caughtUp(), "reading the logs' tails");
    }
    if (!done) {
      const state = this.liveProcessors().map(
        ({ slot, processor }) =>
          `${slot.name}/p${processor.partitionId} ${processor.status().role} applied ${processor.appliedLsn}`,
      );
      this.violation(
        `the replicas did not apply their whole logs (tails ${tails.join(", ")}) within ${CATCH_UP_LIMIT_MS} ms: ${state.join("; ")}`,
      );
      return;
    }
    const violation = (message: string): void => this.violation(message);
    const trace = (text: string): void => this.trace(text);
    const stored = this.leadersView();
    checkInvocations(this.clients, stored, this.ledger, violation, trace);
    checkObjects(this.clients, stored, violation, trace);
    for (let p = 0; p < this.params.partitions; p++) await this.checkPartition(p);
  }

  /** What the leaders' stores hold. */
  private leadersView(): StoredView {
    const table = new PartitionTable(this.params.partitions);
    const leaders = this.liveProcessors().filter(({ processor }) => processor.isLeader);
    const tables = (key: PartitionKey): TableReader => {
      const partition = table.partitionOf(key);
      const leader = leaders.find(({ processor }) => processor.partitionId === partition);
      assert(leader !== undefined, `partition ${partition} has a leader`);
      return new TableReader(leader.processor.reader());
    };
    return {
      status: (id) => tables(id.partitionKey).status(id),
      state: (object: ObjectRef, name) => tables(object.partitionKey).state(object, utf8(name)),
    };
  }

  /**
   * The log reads the same through every replica's node (no fork), and every replica's store equals
   * the log replayed from LSN 1 through its applied LSN (so replicas are equal at equal applied LSN).
   * The cluster runs on while this reads the logs: each store is copied first, with its LSN.
   */
  private async checkPartition(p: number): Promise<void> {
    const replicas = this.liveProcessors()
      .filter(({ processor }) => processor.partitionId === p)
      .map(({ slot, processor }) => ({
        slot,
        log: processor.log,
        appliedLsn: processor.appliedLsn,
        // In key order, as the replay's dump (an export puts the FSM entry first).
        entries: [...processor.store.exportEntries()].sort(([a], [b]) => compareKeys(a, b)),
      }));
    const commonLsn = Math.min(...replicas.map((r) => r.appliedLsn));
    const logDigests = new Map<string, string>();
    for (const { slot, log } of replicas)
      logDigests.set(
        slot.name,
        await this.completion(this.readLogDigest(log, commonLsn), "reading a log"),
      );
    if (new Set(logDigests.values()).size > 1)
      this.violation(
        `partition ${p}'s log reads differently through its replicas' nodes (a fork): ${safeJson([...logDigests])}`,
      );
    for (const { slot, log, appliedLsn, entries } of replicas) {
      const rebuilt = new MemoryStore();
      await this.completion(
        replayPartition({
          partitionId: PartitionId(p),
          partitionTable: new PartitionTable(this.params.partitions),
          log,
          store: rebuilt,
          throughLsn: Lsn(appliedLsn),
        }),
        "replaying a log",
      );
      const difference = firstStoreDifference(entries, rebuilt.data.dump());
      if (difference !== undefined)
        this.violation(
          `partition ${p} on ${slot.name} at LSN ${appliedLsn}: the store differs from the log replayed from LSN 1: ${difference}`,
        );
    }
    this.trace(
      `partition ${p}: ${replicas.length} replicas, log through LSN ${commonLsn} ${logDigests.values().next().value}`,
    );
  }

  /** A digest of the log's records through `through`. */
  private async readLogDigest(log: VirtualLog, through: number): Promise<string> {
    const digest = new Sha256();
    let next = 1;
    while (next <= through) {
      const entries = await log.read(Lsn(next), Math.min(256, through - next + 1));
      if (entries.length === 0) {
        await this.sleep(10);
        continue;
      }
      for (const entry of entries) {
        if (entry.kind === "trimGap") {
          digest.update(utf8(`gap ${entry.from}-${Math.min(entry.to, through)}`));
          next = entry.to + 1;
        } else if (entry.lsn <= through) {
          digest.update(utf8(`${entry.lsn}:`)).update(entry.payload);
          next = entry.lsn + 1;
        }
      }
    }
    return toHex(digest.digest()).slice(0, 16);
  }

  // ---- reporting ----

  private loggerOf(incarnation: Incarnation): Logger {
    return this.record.logger(incarnation.slot.name, () => incarnation.alive);
  }

  private violation(message: string): void {
    this.record.violation(message);
  }

  private trace(text: string): void {
    this.record.trace(text);
  }

  private note(text: string): void {
    this.record.note(text);
  }

  private summary(digest: string): string {
    const p = this.params;
    const sdk = this.streams.sdk.stats;
    let rerun = 0;
    for (const executions of this.ledger.executions.values()) rerun += executions - 1;
    return [
      `${p.nodes} nodes (${p.metadataServers} metadata), ${p.partitions} partitions, ${p.invocations} invocations on ${p.counterKeys} counters, ${p.tallyKeys} tallies`,
      `${this.crashes} crashes, ${this.isolations} isolations, ${this.streamCounters.cut}/${this.streamCounters.opened} streams cut`,
      `${sdk.attempts} attempts, ${rerun} runs executed again`,
      `t=${this.scheduler.now}ms, ${this.driver.steps} events, digest ${digest}`,
    ].join("; ");
  }
}

export function runClusterSimulation(
  seed: number,
  options: ClusterSimOptions,
): Promise<ClusterSimResult> {
  return new ClusterSimulation(seed, options).run();
}
