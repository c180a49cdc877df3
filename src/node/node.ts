/**
 * One Keel node with every role of the single-node default: the log (Bifrost over the configured
 * loglet providers), a partition processor per partition (all led here), the invoker, and the API the
 * ingress and admin edges call. Built from ports only, so tests and the simulator can build it too.
 * A start registers the node in the nodes configuration (a new generation; another cluster's metadata
 * is refused), restores partition stores from snapshots where their logs were trimmed past them, and
 * claims every partition.
 *
 * Why one file of this length: it is the node's API as the edges see it (submit, attach, notify,
 * operator commands), each short and routed the same way to the partition that owns the key; the
 * parts with state of their own live in worker/ and invoker/. Cluster mode's router will take the
 * routing out (docs/design/cluster.md, step 6).
 */

import type { InvocationTracing, KeelMetrics } from "../observability/index.js";
import {
  PartitionId,
  assert,
  formatGenerationalNodeId,
  generationalNodeId,
  type PartitionKey,
  readU32BE,
  KeelError,
  limits,
  seededPrng,
  InvocationId,
  PartitionTable,
  partitionKeyOf,
  NodeId,
  sameIncarnation,
  Lsn,
  utf8,
  fromUtf8,
} from "../core/index.js";
import { ByteReader, ByteWriter } from "../wire/index.js";
import {
  HandlerType,
  InvocationStatus,
  type Dedup,
  type ServiceInvocation,
  TerminationKind,
} from "../gen/keel/records.js";
import {
  Bifrost,
  chainKey,
  formatReplication,
  nodesetSizeFor,
  parseLogletParams,
  type LogChain,
  type LogletConfig,
  type LogletProvider,
  type ReplicationProperty,
  type VirtualLog,
} from "../bifrost/index.js";
import {
  getJson,
  putJson,
  MUST_NOT_EXIST,
  matchesVersion,
  PreconditionFailed,
  type MetadataStore,
} from "../metadata/index.js";
import type { Outcome } from "../partition/index.js";
import {
  type TimeoutDefaults,
  EMPTY_SCHEMA,
  SCHEMA_KEY,
  SchemaIndex,
  type Schema,
} from "../schema/index.js";
import { Invoker, type EndpointTransport, type InvokerTestOnlyFaults } from "../invoker/index.js";
import {
  PartitionProcessor,
  PartitionSnapshots,
  type SnapshotSettings,
  type AttachResult,
  type EnvelopeCommand,
  type PartitionDescription,
  type ProcessorTestOnlyFaults,
} from "../worker/index.js";
import type { Cancel, Clock, Entropy, Logger } from "../platform/index.js";
import type { SqlPartition } from "../query/index.js";
import { NodeService, type NodeTransport } from "../net/index.js";
import {
  ControllerDriver,
  PARTITION_PLACEMENT_KEY,
  type PartitionPlacement,
} from "../controller/index.js";
import {
  decodePartitionAnswer,
  decodePartitionCall,
  encodePartitionAnswer,
  encodePartitionCall,
  encodePartitionFailure,
  invocationInfos,
  runOnProcessor,
  waitsForCompletion,
  type PartitionAnswer,
  type PartitionCall,
} from "./partition_rpc.js";
import {
  NODES_CONFIG_KEY,
  decodeNodesConfiguration,
  registerNode,
  type NodeRecord,
} from "../metadata-server/index.js";
import {
  statusKey,
  type PartitionStore,
  type SnapshotManifest,
  type SnapshotRepository,
} from "../partition-store/index.js";

export interface NodeConfig {
  readonly nodeName: string;
  /** The partition count a new cluster is provisioned with. */
  readonly partitions: number;
  /** Refuse to start when the cluster has another count (else the stored count is used). */
  readonly partitionsRequired?: boolean;
  readonly clusterName: string;
  readonly invokerConcurrencyMax?: number;
  readonly invokerBackgroundStartingMax?: number;
  /** Timeouts of services whose manifest sets none (the `inactivity-timeout` settings). */
  readonly timeoutDefaults?: TimeoutDefaults;
  /** Deliberately broken invoker behaviour for the node simulation's broken variants (tests only). */
  readonly invokerTestOnlyFaults?: InvokerTestOnlyFaults;
  /** Deliberately broken leadership for the cluster simulation's broken variant (tests only). */
  readonly processorTestOnlyFaults?: ProcessorTestOnlyFaults;
  /** When and how many snapshots of partition stores to take (with `NodePorts.snapshots`). */
  readonly snapshots?: SnapshotSettings;
  /** Where peers reach this node (its node port, host:port) and where it is (`region.zone`). */
  readonly advertisedAddress?: string;
  readonly location?: string;
}

/** The roles a node can take (Restate's names); a single node takes all of them. */
export const NODE_ROLES = [
  "http-ingress",
  "admin",
  "worker",
  "log-server",
  "metadata-server",
] as const;
export type NodeRole = (typeof NODE_ROLES)[number];

export interface NodePorts {
  readonly metadata: MetadataStore;
  readonly loglets: ReadonlyMap<string, LogletProvider>;
  readonly initialLoglet: (logId: number) => LogletConfig | Promise<LogletConfig>;
  readonly openPartitionStore: (partitionId: number) => PartitionStore;
  readonly transport: EndpointTransport;
  readonly clock: Clock;
  readonly entropy: Entropy;
  readonly logger: Logger;
  readonly onFatal: (error: unknown) => void;
  /** Why the node cannot write to its disk now (the last write failed), if it cannot. */
  readonly storageProblem?: () => string | undefined;
  /** Where partition snapshots go; without it the node takes none and never trims its logs. */
  readonly snapshots?: SnapshotRepository;
  /** Cluster mode: without it the node is a single node that leads every partition. */
  readonly cluster?: ClusterPorts;
  /** Where the invoker and the partitions count what they do (default: nowhere). */
  readonly metrics?: KeelMetrics;
  /** Where invocations are traced (default: nowhere). */
  readonly tracing?: InvocationTracing;
}

/** What a node in a cluster has beyond a single node's ports. */
export interface ClusterPorts {
  /** This incarnation, registered by the composition (its loglet sequencers carry the generation). */
  readonly registration: NodeRecord;
  /** The node transport: partition calls go to and come from other nodes on it. */
  readonly transport: NodeTransport;
  readonly roles: readonly NodeRole[];
  /** The copies of every partition's log and store the cluster was provisioned with. */
  readonly replication: ReplicationProperty;
  /** A new segment of a log, replicated on the log servers and sequenced by this incarnation. */
  readonly newSegment: (logId: number, segmentIndex: number) => Promise<LogletConfig>;
  /** How many log servers a new segment's nodeset would have now (segments.ts). */
  readonly nodesetTargetSize: () => Promise<number>;
  /** Each metadata member's Raft status, or why it did not answer. */
  readonly metadataMembers: () => Promise<readonly MetadataMemberDescription[]>;
}

export interface MetadataMemberDescription {
  readonly node: number;
  readonly address: string;
  readonly role: string;
  readonly term: number;
  readonly leader: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  /** The members that vote and those that only learn, as this member knows them. */
  readonly voters?: readonly number[];
  readonly learners?: readonly number[];
  /** Why the member did not answer, if it did not. */
  readonly problem?: string;
}

/** The cluster as any of its nodes sees it (equal on every node but for the moment it is read). */
export interface ClusterDescription {
  readonly nodes: readonly {
    readonly name: string;
    readonly nodeId: string;
    readonly address: string;
    readonly location: string;
    readonly roles: readonly string[];
    /** It answered this node's status request just now. */
    readonly alive: boolean;
  }[];
  readonly partitions: readonly {
    readonly id: number;
    readonly leader: string | null;
    readonly replicas: readonly ({ readonly node: string } & Partial<PartitionDescription>)[];
  }[];
  readonly logs: readonly {
    readonly logId: number;
    readonly segments: readonly {
      readonly index: number;
      readonly baseLsn: number;
      readonly provider: string;
      readonly sealed: boolean;
      readonly sequencer?: string;
      readonly nodeset?: readonly string[];
      readonly replication?: string;
    }[];
  }[];
  readonly metadataMembers: readonly MetadataMemberDescription[];
}

export interface NodeDescription {
  readonly nodeName: string;
  /** This incarnation, as Restate prints it (`N1:3`): plain id and generation. */
  readonly nodeId: string | undefined;
  readonly clusterName: string;
  readonly ready: boolean;
  readonly schemaVersion: number;
  readonly runningAttempts: number;
  /** Why writes fail now (disk full, a disk refusing writes), if they do. */
  readonly storageProblem: string | undefined;
  readonly partitions: readonly PartitionDescription[];
  /** Where snapshots go, why they fail now if they do, and each partition's newest. */
  readonly snapshots:
    | {
        readonly destination: string;
        readonly problem: string | undefined;
        readonly latest: readonly (SnapshotManifest | undefined)[];
      }
    | undefined;
}

export const PARTITION_TABLE_KEY = "partition_table";

/** The logger of one part of the node (an operator may set its level apart), if the logger has parts. */
function moduleLogger(
  logger: Logger,
  module: "invoker" | "partition" | "snapshots" | "cluster",
): Logger {
  return logger.forModule?.(module) ?? logger;
}

/**
 * Whether a submission whose answer was lost may be sent again: its invocation id is fixed, so a
 * copy that lands after the first attaches to it instead of running twice, as long as the first is
 * still known (it is retained after completion) and a second run is not refused (a workflow's).
 */
function isResendable(invocation: ServiceInvocation): boolean {
  return (
    invocation.completionRetentionMs > 0 &&
    invocation.target?.handlerType !== HandlerType.HANDLER_TYPE_WORKFLOW
  );
}

/** A PRNG seed drawn from the entropy port. */
function entropySeed(entropy: Entropy): number {
  const bytes = new Uint8Array(4);
  entropy.fill(bytes);
  return readU32BE(bytes, 0);
}
const LEADER_RETRY_MS = 25;
const LEADER_WAIT_MS_MAX = 10_000;
/** A call to another node's leader that is answered at once (not one awaiting a completion). */
const REMOTE_CALL_TIMEOUT_MS = 30_000;
/** A call awaiting an invocation's completion on another node waits as long as it may run. */
const REMOTE_COMPLETION_TIMEOUT_MS = 24 * 3_600_000;
/** How long the cluster's status waits for each node's answer (a node that does not is not alive). */
const STATUS_REQUEST_TIMEOUT_MS = 2_000;
/** How long a metadata change waits for every other node to have read it. */
const ANNOUNCE_TIMEOUT_MS = 2_000;
/** How long a Kafka consumer waits for another leader's invoker queue before it goes on without. */
const LEADER_QUEUE_TIMEOUT_MS = 500;
/** Other leaders' invoker queues asked this recently are not asked again (every subscription asks). */
const LEADER_QUEUES_SHARED_MS = 100;
/** A heartbeat unanswered this long counts as missed. */
const HEARTBEAT_TIMEOUT_MS = 1_000;
/** How often a grown node asks again for log servers enough for a replicated segment. */
const LOG_SERVER_WAIT_MS = 500;
/** How often a cluster node checks that it opened and claimed what the placement gives it. */
const RECONCILE_INTERVAL_MS = 1_000;
/** How often the node looks for partitions due a snapshot. */
const SNAPSHOT_CHECK_MS = 1_000;
const SNAPSHOT_SETTINGS_DEFAULT: SnapshotSettings = { intervalRecords: 100_000, retained: 2 };

export class KeelNode {
  readonly invoker: Invoker;
  private schemaIndex = new SchemaIndex(EMPTY_SCHEMA, 0);
  private schemaLoaded = false;
  private markSchemaLoaded!: () => void;
  /** Resolves once the stored schema is loaded: before, no service is known yet, not unknown. */
  readonly schemaReady: Promise<void> = new Promise((resolve) => {
    this.markSchemaLoaded = resolve;
  });
  private table: PartitionTable | undefined;
  /** By partition id; in a cluster, only the partitions this node holds a replica of. */
  private processors: (PartitionProcessor | undefined)[] = [];
  private bifrost!: Bifrost;
  private stores: PartitionStore[] = [];
  private unsubscribe: (() => void) | undefined;
  private started = false;
  private snapshotter: PartitionSnapshots | undefined;
  private registration: NodeRecord | undefined;
  private stopSnapshotChecks: (() => void) | undefined;
  /** Cluster mode: where each partition is placed, the controller, and work in progress. */
  private placement: PartitionPlacement | undefined;
  /** The other leaders' longest invoker queue, as last asked (`leadersQueuedInvocations`). */
  private otherLeaderQueues:
    { readonly askedAtMs: number; readonly most: Promise<number> } | undefined;
  private placementVersion = 0;
  /** When and how this node learned the placement it acts on (for the takeover's log line). */
  private placementLearned = { atMs: 0, by: "start" };
  private controller: ControllerDriver | undefined;
  private readonly opening = new Set<number>();
  private readonly claiming = new Set<number>();
  private stopReconciling: Cancel | undefined;
  private stopping = false;
  private growing = false;
  private schemaRefresh: Promise<void> | undefined;

  constructor(
    readonly config: NodeConfig,
    readonly ports: NodePorts,
  ) {
    this.invoker = new Invoker(
      ports.transport,
      () => this.schemaIndex,
      ports.clock,
      moduleLogger(ports.logger, "invoker"),
      {
        concurrencyMax: config.invokerConcurrencyMax ?? limits.invokerConcurrencyMax,
        backgroundStartingMax:
          config.invokerBackgroundStartingMax ?? limits.invokerBackgroundStartingMax,
        clusterName: config.clusterName,
        prng: seededPrng(entropySeed(ports.entropy)),
        ...(ports.metrics === undefined ? {} : { metrics: ports.metrics }),
        ...(ports.tracing === undefined ? {} : { tracing: ports.tracing }),
        ...(config.invokerTestOnlyFaults === undefined
          ? {}
          : { testOnlyFaults: config.invokerTestOnlyFaults }),
      },
    );
  }

  get partitionTable(): PartitionTable {
    if (this.table === undefined) throw new KeelError("unavailable", "the node is starting", true);
    return this.table;
  }

  /** The processors of the partitions open on this node (in a cluster, those it holds a replica of). */
  get partitionProcessors(): readonly PartitionProcessor[] {
    return this.processors.filter((p) => p !== undefined);
  }

  schema(): SchemaIndex {
    return this.schemaIndex;
  }

  /** Whether the stored schema is loaded (see `schemaReady`). */
  get isSchemaLoaded(): boolean {
    return this.schemaLoaded;
  }

  async start(): Promise<void> {
    const { metadata } = this.ports;
    await this.refreshSchema();
    this.schemaLoaded = true;
    this.markSchemaLoaded();
    this.unsubscribe = metadata.subscribe(SCHEMA_KEY, () => void this.refreshSchema());
    const cluster = this.ports.cluster;
    // Every start is a new incarnation (generation + 1); a node of another cluster is refused here.
    // In a cluster the composition registered already: the loglet node needs the generation.
    this.registration =
      cluster?.registration ??
      (await registerNode(metadata, this.config.clusterName, {
        name: this.config.nodeName,
        address: this.config.advertisedAddress ?? "",
        roles: NODE_ROLES,
        location: this.config.location ?? "",
      }));
    const table = new PartitionTable(await this.provisionPartitions());
    this.table = table;
    this.bifrost = new Bifrost(metadata, this.ports.loglets, this.ports.initialLoglet);
    if (cluster !== undefined) {
      await this.startInCluster(cluster);
      return;
    }
    for (let p = 0; p < table.partitionCount; p++) {
      const store = this.ports.openPartitionStore(p);
      this.stores.push(store);
      this.processors.push(this.newProcessor(p, await this.bifrost.log(p), store));
    }
    const processors = this.processors.filter((p) => p !== undefined);
    const repository = this.ports.snapshots;
    if (repository !== undefined) {
      this.snapshotter = new PartitionSnapshots({
        repository,
        settings: this.config.snapshots ?? SNAPSHOT_SETTINGS_DEFAULT,
        clusterName: this.config.clusterName,
        nodeName: this.config.nodeName,
        table,
        clock: this.ports.clock,
        entropy: this.ports.entropy,
        logger: moduleLogger(this.ports.logger, "snapshots"),
        ...(this.ports.metrics === undefined ? {} : { metrics: this.ports.metrics }),
      });
      // A store behind its log's trim point (lost, or rebuilt after a machine crash) comes back from
      // its snapshot before anything reads it.
      for (const processor of processors) {
        await this.snapshotter.prepare(processor.partitionId, processor.store, processor.log);
      }
    }
    // Every store is checked against its log before any partition writes to the log: a start that
    // must refuse (a store ahead of a damaged log) leaves the log files as it found them.
    for (const processor of processors) await processor.recover();
    // One node leads every partition: it claims each as soon as its follower has caught up.
    await Promise.all(
      processors.map(async (p) => {
        await p.start();
        await p.claimLeadership();
      }),
    );
    this.started = true;
    if (this.snapshotter !== undefined) this.scheduleSnapshotCheck(this.snapshotter);
  }

  private newProcessor(p: number, log: VirtualLog, store: PartitionStore): PartitionProcessor {
    return new PartitionProcessor({
      partitionId: PartitionId(p),
      partitionTable: this.partitionTable,
      nodeName: this.config.nodeName,
      log,
      store,
      metadata: this.ports.metadata,
      clock: this.ports.clock,
      logger: moduleLogger(this.ports.logger, "partition"),
      invoker: this.invoker,
      shuffleTransport: {
        deliver: (source, destination, messages) =>
          this.onLeader(
            { partitionId: destination },
            (processor) => processor.acceptShuffled(source, messages),
            { kind: "shuffled", source, messages },
            () => undefined,
          ),
      },
      onFatal: this.ports.onFatal,
      ...(this.ports.metrics === undefined ? {} : { metrics: this.ports.metrics }),
      ...(this.ports.tracing === undefined ? {} : { tracing: this.ports.tracing }),
      ...(this.config.processorTestOnlyFaults === undefined
        ? {}
        : { testOnlyFaults: this.config.processorTestOnlyFaults }),
    });
  }

  /**
   * A node of a cluster serves partition calls from other nodes, runs the controller when it is an
   * admin node, and opens (follows) and claims (leads) what the placement gives it. Leaders take
   * their partitions' snapshots; a log is trimmed below them only when the destination is one every
   * node reaches (a new replica elsewhere starts from it) and only through what every replica of the
   * partition has applied.
   */
  private async startInCluster(cluster: ClusterPorts): Promise<void> {
    this.processors = new Array<PartitionProcessor | undefined>(this.partitionTable.partitionCount);
    const repository = this.ports.snapshots;
    if (repository !== undefined) {
      const settings = this.config.snapshots ?? SNAPSHOT_SETTINGS_DEFAULT;
      this.snapshotter = new PartitionSnapshots({
        repository,
        settings,
        clusterName: this.config.clusterName,
        nodeName: this.config.nodeName,
        table: this.partitionTable,
        clock: this.ports.clock,
        entropy: this.ports.entropy,
        logger: moduleLogger(this.ports.logger, "snapshots"),
        ...(this.ports.metrics === undefined ? {} : { metrics: this.ports.metrics }),
        trimLimit: (processor) =>
          settings.everyNodeReaches === true
            ? this.appliedByEveryReplica(processor)
            : Promise.resolve(0),
      });
    }
    cluster.transport.serve(NodeService.partition, {
      onMessage: () => undefined,
      onRequest: (_from, payload, respond) => this.answerPartitionCall(payload, respond),
    });
    cluster.transport.serve(NodeService.status, {
      onMessage: () => undefined,
      onRequest: (_from, _payload, respond) => {
        void Promise.all(this.partitionProcessors.map((p) => p.describe())).then(
          (partitions) => respond(utf8(JSON.stringify(partitions))),
          () => respond(utf8("[]")),
        );
      },
    });
    cluster.transport.serve(NodeService.metadataChanged, {
      onMessage: () => undefined,
      onRequest: (_from, payload, respond) => {
        let key = "";
        let version = 0;
        try {
          const reader = new ByteReader(payload);
          key = reader.string();
          version = reader.u53();
        } catch {
          // a confused peer: nothing to learn
        }
        const known =
          key === SCHEMA_KEY && version > this.schemaIndex.version
            ? this.latestSchema()
            : key === PARTITION_PLACEMENT_KEY && version > this.placementVersion
              ? this.refreshPlacement("announcement")
              : this.refreshChain(key, version);
        known.then(
          () => respond(new Uint8Array(0)),
          () => respond(new Uint8Array(0)),
        );
      },
    });
    cluster.transport.serve(NodeService.heartbeat, {
      onMessage: () => undefined,
      onRequest: (_from, _payload, respond) =>
        respond(new ByteWriter().u53(cluster.registration.generation).finish()),
    });
    cluster.transport.serve(NodeService.invokerQueue, {
      onMessage: () => undefined,
      onRequest: (_from, _payload, respond) =>
        respond(new ByteWriter().u53(this.invoker.queuedInvocations).finish()),
    });
    if (cluster.roles.includes("admin")) {
      this.controller = new ControllerDriver({
        metadata: this.ports.metadata,
        self: NodeId(cluster.registration.plainId),
        partitions: this.partitionTable.partitionCount,
        property: cluster.replication,
        clock: this.ports.clock,
        logger: moduleLogger(this.ports.logger, "cluster"),
        ping: (node) => this.ping(node),
        announce: (key, version) => this.announce(key, version),
      });
      this.controller.start();
    }
    const unsubscribeSchema = this.unsubscribe;
    const unsubscribePlacement = this.ports.metadata.subscribe(PARTITION_PLACEMENT_KEY, (value) => {
      if (value === undefined || value.version <= this.placementVersion) return;
      this.placement = JSON.parse(fromUtf8(value.value)) as PartitionPlacement;
      this.placementVersion = value.version;
      this.placementLearned = { atMs: this.ports.clock.nowMs(), by: "watch" };
      this.reconcile();
    });
    this.unsubscribe = () => {
      unsubscribeSchema?.();
      unsubscribePlacement();
    };
    await this.growLocalLogs();
    await this.refreshPlacement("start");
    this.started = true;
    this.scheduleReconcile();
    if (this.snapshotter !== undefined) this.scheduleSnapshotCheck(this.snapshotter);
  }

  /**
   * A single node's first start in a cluster: every partition log that still ends in this node's
   * local segment continues on replicated loglets now, whoever the placement makes its leader (no
   * other node can read the local segment, so none could take the partition over before).
   */
  private async growLocalLogs(): Promise<void> {
    // Only a node that was a single node has local segments (and a provider for them).
    if (!this.ports.loglets.has("local")) return;
    this.growing = true;
    try {
      await this.growEachLocalLog();
    } finally {
      this.growing = false;
    }
  }

  private async growEachLocalLog(): Promise<void> {
    for (let p = 0; p < this.partitionTable.partitionCount; p++) {
      const chain = await getJson<LogChain>(this.ports.metadata, chainKey(p));
      const last = chain?.value.segments.at(-1);
      if (last?.loglet.provider !== "local") continue;
      await this.openPartition(p);
      const processor = this.processors[p];
      if (processor === undefined)
        throw new KeelError(
          "unavailable",
          `partition ${p} could not be opened to continue its log on replicated loglets`,
          true,
        );
      await this.continueOnReplicatedLog(p, processor, last.index);
    }
  }

  /**
   * Another node extended a partition's log: a replica here reads on into the new segment now
   * instead of when its watch of the chain next looks.
   */
  private async refreshChain(key: string, version: number): Promise<void> {
    const log = this.processors.find(
      (p) => p !== undefined && chainKey(p.partitionId) === key,
    )?.log;
    if (log !== undefined && version > log.chainVersionNow) await log.refresh();
  }

  /** Tells the other nodes that this node extended a partition's log (bounded, in the background). */
  private announceChain(p: number, log: VirtualLog): void {
    void this.announce(chainKey(p), log.chainVersionNow).catch(() => undefined);
  }

  private async refreshPlacement(by: string): Promise<void> {
    const stored = await getJson<PartitionPlacement>(this.ports.metadata, PARTITION_PLACEMENT_KEY);
    if (stored !== undefined && stored.version > this.placementVersion) {
      this.placement = stored.value;
      this.placementVersion = stored.version;
      this.placementLearned = { atMs: this.ports.clock.nowMs(), by };
    }
    this.reconcile();
  }

  /**
   * The most invocations waiting for an invoker slot on any node that leads a partition, this one
   * included: what a Kafka consumer, which feeds every partition's leader, pauses on. Other leaders
   * are asked (a round trip) at most every `LEADER_QUEUES_SHARED_MS`, the answer shared by every
   * subscription that asks meanwhile; a consumer asks once per batch or idle pass, so a batch is
   * never taken on a reading older than that. A leader that does not answer within
   * `LEADER_QUEUE_TIMEOUT_MS` does not count (the controller moves a dead node's leaderships).
   */
  async leadersQueuedInvocations(): Promise<number> {
    const own = this.invoker.queuedInvocations;
    if (this.ports.cluster === undefined) return own;
    const now = this.ports.clock.nowMs();
    if (
      this.otherLeaderQueues === undefined ||
      now - this.otherLeaderQueues.askedAtMs >= LEADER_QUEUES_SHARED_MS
    ) {
      const self = this.selfId;
      const leaders = new Set(
        (this.placement?.partitions ?? [])
          .map((assignment) => assignment.leader)
          .filter((leader): leader is NodeId => leader !== undefined && leader !== self),
      );
      const asked = Promise.all([...leaders].map((node) => this.askInvokerQueue(node)));
      this.otherLeaderQueues = {
        askedAtMs: now,
        most: asked.then((answers) => Math.max(0, ...answers.map((queued) => queued ?? 0))),
      };
    }
    return Math.max(own, await this.otherLeaderQueues.most);
  }

  private async askInvokerQueue(node: NodeId): Promise<number | undefined> {
    const queued = await this.askNumber(node, NodeService.invokerQueue, LEADER_QUEUE_TIMEOUT_MS);
    return queued === "refused" ? undefined : queued;
  }

  /**
   * Asks a node for its generation (the controller's heartbeat): "refused" when no connection to it
   * could be made, undefined when it does not answer.
   */
  private ping(node: NodeId): Promise<number | "refused" | undefined> {
    return this.askNumber(node, NodeService.heartbeat, HEARTBEAT_TIMEOUT_MS);
  }

  /**
   * Asks a node a service that answers with one number: "refused" when no connection to it could
   * be made, undefined when it does not answer in time (or answers something else).
   */
  private askNumber(
    node: NodeId,
    service: number,
    timeoutMs: number,
  ): Promise<number | "refused" | undefined> {
    return new Promise((resolve) =>
      this.ports.cluster!.transport.request(node, service, new Uint8Array(0), timeoutMs, (o) => {
        try {
          if (o.ok) resolve(new ByteReader(o.payload).u53());
          else resolve(o.error === "unreachable" ? "refused" : undefined);
        } catch {
          resolve(undefined);
        }
      }),
    );
  }

  private scheduleReconcile(): void {
    this.stopReconciling = this.ports.clock.setTimer(RECONCILE_INTERVAL_MS, () => {
      void this.refreshPlacement("poll").catch(() => undefined);
      void this.widenNarrowNodesets().catch(() => undefined);
      this.scheduleReconcile();
    });
  }

  private get selfId(): NodeId | undefined {
    const registration = this.ports.cluster?.registration;
    return registration === undefined ? undefined : NodeId(registration.plainId);
  }

  /** The node that leads a partition: in a cluster the placement's, on a single node this one. */
  private leaderOf(partitionId: number): NodeId | undefined {
    if (this.ports.cluster === undefined) return this.selfId;
    return this.placement?.partitions[partitionId]?.leader;
  }

  /** Opens the partitions placed here that are not open yet, and claims those it should lead. */
  private reconcile(): void {
    const placement = this.placement;
    const self = this.selfId;
    // Not while the node continues its local logs on replicated ones (it claims nothing before).
    if (placement === undefined || self === undefined || this.stopping || this.growing) return;
    if (!this.ports.cluster!.roles.includes("worker")) return;
    placement.partitions.forEach((assignment, p) => {
      const processor = this.processors[p];
      if (processor === undefined) {
        if (assignment.replicas.includes(self) && !this.opening.has(p)) void this.openPartition(p);
        return;
      }
      if (assignment.leader !== self || this.claiming.has(p)) return;
      if (!processor.isLeader) void this.claim(p, processor);
      // Another node sealed this leader's segment to take the lead and extended the log (appends
      // would go to that node's sequencer, maybe a dead one), or did not get as far as extending it
      // (appends fail): the leader continues the log on a segment of its own.
      else if (!this.sequencesLastSegment(processor) || processor.log.lastSegmentSealed)
        void this.claim(p, processor);
    });
  }

  private async openPartition(p: number): Promise<void> {
    this.opening.add(p);
    try {
      const log = await this.bifrost.log(p);
      await this.sealOrphanedSegment(p, log);
      const store = this.stores[p] ?? this.ports.openPartitionStore(p);
      this.stores[p] = store;
      // A new replica of a log whose first records were dropped from its chain (a single node grown
      // into the cluster) starts from the partition's snapshot.
      // A replica whose store is behind its log's trim point (new here, or back after the log was
      // trimmed past it) starts from the partition's snapshot.
      await this.snapshotter?.prepare(PartitionId(p), store, log);
      const processor = this.newProcessor(p, log, store);
      await processor.recover();
      await processor.start();
      if (this.stopping) {
        await processor.stop();
        return;
      }
      this.processors[p] = processor;
    } catch (error) {
      this.ports.logger.warn("could not open a partition; trying again", {
        partition: p,
        error: error instanceof Error ? error.message : String(error),
      });
      return;
    } finally {
      this.opening.delete(p);
    }
    this.reconcile();
  }

  /**
   * A log whose open segment was sequenced by an incarnation that is gone (a node restarted since,
   * this one included) reads a tail from its log servers that may lag what was committed: they learn
   * the committed tail with the next append, which never came. A store that applied the last
   * committed records would look ahead of its log and be refused. Sealing finds the committed tail;
   * the chain continues on a segment sequenced here (the next leader seals it in turn if it is not
   * this node).
   */
  private async sealOrphanedSegment(p: number, log: VirtualLog): Promise<void> {
    const cluster = this.ports.cluster;
    const last = log.chain.segments.at(-1);
    if (cluster === undefined || last?.loglet.provider !== "replicated") return;
    const sequencer = parseLogletParams(last.loglet.params).sequencer;
    const stored = await this.ports.metadata.get(NODES_CONFIG_KEY);
    const current = stored
      ? decodeNodesConfiguration(stored.value).nodes.find((n) => n.plainId === sequencer.node)
      : undefined;
    if (current === undefined || current.generation <= sequencer.generation) return;
    this.ports.logger.info("sealing a log segment whose sequencer is gone", {
      partition: p,
      sequencer: formatGenerationalNodeId(sequencer),
    });
    await log.sealAndExtend((index) => cluster.newSegment(p, index));
    this.announceChain(p, log);
  }

  /**
   * Leads a partition: its log's last segment must be sequenced by this incarnation (a sequencer
   * lives only on the incarnation its segment names), so the segment of another node, or of this
   * node's previous incarnation, is sealed and the chain extended first; then the epoch is claimed.
   */
  private async claim(p: number, processor: PartitionProcessor): Promise<void> {
    const cluster = this.ports.cluster!;
    const { clock } = this.ports;
    const startedMs = clock.nowMs();
    this.claiming.add(p);
    try {
      for (let attempt = 0; ; attempt++) {
        const last = processor.log.chain.segments.at(-1)!;
        if (last.loglet.provider === "local") {
          await this.continueOnReplicatedLog(p, processor, last.index);
          continue;
        }
        if (this.sequencesLastSegment(processor) && !processor.log.lastSegmentSealed) break;
        assert(attempt < 16, "the log's chain settles while this node extends it");
        await processor.log.sealAndExtend((index) => cluster.newSegment(p, index));
        this.announceChain(p, processor.log);
      }
      if (processor.isLeader) return;
      const sealedMs = clock.nowMs();
      await processor.claimLeadership();
      this.ports.logger.info("took the lead of a partition", {
        partition: p,
        epoch: processor.epoch,
        // From learning the placement (by the controller's announcement, the metadata watch, the
        // periodic poll) to starting the takeover.
        placementLearnedBy: this.placementLearned.by,
        waitedMs: startedMs - this.placementLearned.atMs,
        // Sealing the previous sequencer's segment and extending the chain, then taking the epoch.
        extendMs: sealedMs - startedMs,
        claimMs: clock.nowMs() - sealedMs,
      });
    } catch (error) {
      this.ports.logger.warn("could not take the lead of a partition; trying again", {
        partition: p,
        error: error instanceof Error ? error.message : String(error),
      });
    } finally {
      this.claiming.delete(p);
    }
  }

  /**
   * A leader whose log's nodeset is narrower than the log servers registered now allow (chosen while
   * the cluster was forming) continues the log on a wider one: a nodeset no larger than the
   * replication cannot even be sealed once one of its servers is lost (a seal needs a write quorum),
   * so its log would stall until that server came back.
   */
  private async widenNarrowNodesets(): Promise<void> {
    const cluster = this.ports.cluster;
    if (cluster === undefined || this.stopping || this.growing) return;
    const nodesetSize = (processor: PartitionProcessor): number =>
      parseLogletParams(processor.log.chain.segments.at(-1)!.loglet.params).nodeset.length;
    const widenable = (p: number, target: number): PartitionProcessor | undefined => {
      const processor = this.processors[p];
      return processor !== undefined &&
        processor.isLeader &&
        !this.claiming.has(p) &&
        this.sequencesLastSegment(processor) &&
        processor.log.chain.segments.at(-1)!.loglet.provider === "replicated" &&
        nodesetSize(processor) < target
        ? processor
        : undefined;
    };
    const wanted = nodesetSizeFor(cluster.replication, 0);
    if (!this.processors.some((_, p) => widenable(p, wanted) !== undefined)) return;
    const target = await cluster.nodesetTargetSize();
    await Promise.all(
      this.processors.map(async (_, p) => {
        const processor = widenable(p, target);
        if (processor === undefined) return;
        this.claiming.add(p);
        try {
          this.ports.logger.info("continuing a partition's log on a wider nodeset", {
            partition: p,
            nodeset: nodesetSize(processor),
            target,
          });
          await processor.log.sealAndExtend((index) => cluster.newSegment(p, index));
          this.announceChain(p, processor.log);
        } catch (error) {
          this.ports.logger.warn("could not widen the nodeset of a partition's log", {
            partition: p,
            error: error instanceof Error ? error.message : String(error),
          });
        } finally {
          this.claiming.delete(p);
        }
      }),
    );
  }

  /**
   * The least applied LSN among the partition's replicas in the placement (this one included), or 0
   * when one does not answer: a trim waits for it, or for the controller to replace it.
   */
  private async appliedByEveryReplica(processor: PartitionProcessor): Promise<number> {
    const self = this.selfId;
    const replicas = this.placement?.partitions[processor.partitionId]?.replicas ?? [];
    const applied = await Promise.all(
      replicas.map(async (node) => {
        if (node === self) return processor.appliedLsn;
        const partitions = await this.askPartitions(node);
        return partitions?.find((d) => d.partitionId === processor.partitionId)?.appliedLsn ?? 0;
      }),
    );
    return applied.length === 0 ? 0 : Math.min(...applied);
  }

  /** Another node's description of its partition replicas, or undefined when it does not answer. */
  private askPartitions(node: NodeId): Promise<PartitionDescription[] | undefined> {
    return new Promise((resolve) =>
      this.ports.cluster!.transport.request(
        node,
        NodeService.status,
        new Uint8Array(0),
        STATUS_REQUEST_TIMEOUT_MS,
        (outcome) => {
          try {
            resolve(
              outcome.ok
                ? (JSON.parse(fromUtf8(outcome.payload)) as PartitionDescription[])
                : undefined,
            );
          } catch {
            resolve(undefined);
          }
        },
      ),
    );
  }

  /** Whether the partition's log ends in a segment this incarnation sequences (or no replicated one). */
  private sequencesLastSegment(processor: PartitionProcessor): boolean {
    const last = processor.log.chain.segments.at(-1)!;
    if (last.loglet.provider !== "replicated") return last.loglet.provider !== "local";
    const registration = this.ports.cluster!.registration;
    return sameIncarnation(parseLogletParams(last.loglet.params).sequencer, {
      node: NodeId(registration.plainId),
      generation: registration.generation,
    });
  }

  /**
   * A single node grown into a cluster leads a partition whose log ends in its local segment, which
   * no other node can read: it seals that segment and continues on a replicated one, snapshots the
   * partition at the seal, and drops the local segments from the chain, so that replicas on other
   * nodes start from the snapshot and read only the replicated log. Without a snapshot destination
   * that every node reaches the partition stays readable here only (a warning says so).
   */
  private async continueOnReplicatedLog(
    p: number,
    processor: PartitionProcessor,
    localIndex: number,
  ): Promise<void> {
    const cluster = this.ports.cluster!;
    // The replicated segment needs as many log servers as the replication asks for: the nodes
    // that join this one may not have registered yet.
    let segment: LogletConfig | undefined;
    for (let waited = 0; segment === undefined; waited++) {
      try {
        segment = await cluster.newSegment(p, localIndex + 1);
      } catch (error) {
        if (!(error instanceof KeelError && error.retryable) || this.stopping) throw error;
        if (waited === 0)
          this.ports.logger.warn("waiting for log servers to continue a partition's log", {
            partition: p,
            reason: error.message,
          });
        await new Promise<void>((resolve) =>
          this.ports.clock.setTimer(LOG_SERVER_WAIT_MS, resolve),
        );
      }
    }
    const chosen = segment;
    const base = await processor.log.sealAndExtend((index) => {
      // Nothing but this node extends a grown node's local log: the segment is the next one.
      assert(index === localIndex + 1, "nothing else extends a grown node's local log");
      return chosen;
    });
    const snapshotter = this.snapshotter;
    if (snapshotter === undefined) {
      this.ports.logger.warn(
        "a partition's log continues on replicated loglets, but its records before are on this node only: set a snapshot destination every node reaches to give its replicas elsewhere a start",
        { partition: p, replicatedFrom: base },
      );
      return;
    }
    while (processor.appliedLsn < base - 1) {
      await new Promise<void>((resolve) => this.ports.clock.setTimer(LEADER_RETRY_MS, resolve));
    }
    const manifest = await snapshotter.create(processor);
    await processor.log.dropSegmentsThrough(Lsn(Math.min(manifest.appliedLsn, base - 1)));
    this.ports.logger.info("the partition's log continues on replicated loglets", {
      partition: p,
      replicatedFrom: base,
      snapshotLsn: manifest.appliedLsn,
    });
  }

  /** A partition call from another node: run on the leader here, or refused as not led here. */
  private answerPartitionCall(payload: Uint8Array, respond: (payload: Uint8Array) => void): void {
    let decoded: ReturnType<typeof decodePartitionCall>;
    try {
      decoded = decodePartitionCall(payload);
    } catch (error) {
      respond(encodePartitionFailure(error));
      return;
    }
    const processor = this.processors[decoded.partitionId];
    if (processor === undefined || !processor.isLeader) {
      respond(
        encodePartitionFailure(
          new KeelError(
            "not_leader",
            `partition ${decoded.partitionId} is not led by node ${this.config.nodeName}`,
            true,
          ),
        ),
      );
      return;
    }
    // The asking node's schema may be newer (a deployment registered through it a moment ago).
    const schemaKnown =
      decoded.schemaVersion > this.schemaIndex.version ? this.latestSchema() : Promise.resolve();
    schemaKnown
      .then(() => runOnProcessor(processor, this.invoker, decoded.call))
      .then(
        (answer) => respond(encodePartitionAnswer(answer)),
        (error: unknown) => respond(encodePartitionFailure(error)),
      );
  }

  /** Asks another node's leader; a failure to reach it is a retryable "unavailable". */
  private callRemote(
    leader: NodeId,
    partitionId: number,
    call: PartitionCall,
  ): Promise<PartitionAnswer> {
    const transport = this.ports.cluster!.transport;
    return new Promise((resolve, reject) => {
      transport.request(
        leader,
        NodeService.partition,
        encodePartitionCall(PartitionId(partitionId), this.schemaIndex.version, call),
        waitsForCompletion(call) ? REMOTE_COMPLETION_TIMEOUT_MS : REMOTE_CALL_TIMEOUT_MS,
        (outcome) => {
          // Never sent: as safe to ask again as a refusal, even a submit (the leader may be moving).
          if (!outcome.ok && outcome.error === "unreachable") {
            reject(
              new KeelError(
                "not_leader",
                `partition ${partitionId}'s leader, node N${leader}, cannot be reached (${outcome.detail})`,
                true,
              ),
            );
            return;
          }
          if (!outcome.ok) {
            reject(
              new KeelError(
                "unavailable",
                `partition ${partitionId}'s leader, node N${leader}, did not answer (${outcome.error}: ${outcome.detail})`,
                true,
              ),
            );
            return;
          }
          try {
            resolve(decodePartitionAnswer(outcome.payload));
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        },
      );
    });
  }

  private scheduleSnapshotCheck(snapshotter: PartitionSnapshots): void {
    this.stopSnapshotChecks = this.ports.clock.setTimer(SNAPSHOT_CHECK_MS, () => {
      snapshotter.tick(this.partitionProcessors);
      this.scheduleSnapshotCheck(snapshotter);
    });
  }

  /** The node's snapshots, when it has a destination for them. */
  get snapshots(): PartitionSnapshots | undefined {
    return this.snapshotter;
  }

  /** Takes a snapshot of every partition this node leads, or of one; returns their manifests. */
  async createSnapshots(partitionId?: number): Promise<SnapshotManifest[]> {
    const snapshotter = this.snapshotter;
    if (snapshotter === undefined) {
      throw new KeelError("bad_request", "this node has no snapshot destination");
    }
    if (partitionId !== undefined && this.processors[partitionId] === undefined) {
      throw new KeelError(
        "not_found",
        `there is no partition ${partitionId}; partitions are 0 to ${this.processors.length - 1}`,
      );
    }
    const chosen =
      partitionId === undefined ? this.partitionProcessors : [this.processors[partitionId]!];
    return Promise.all(chosen.filter((p) => p.isLeader).map((p) => snapshotter.create(p)));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.unsubscribe?.();
    this.stopSnapshotChecks?.();
    this.stopReconciling?.();
    this.controller?.stop();
    await this.snapshotter?.close();
    this.invoker.stopAll();
    await Promise.all(this.partitionProcessors.map((p) => p.stop()));
    await Promise.all(this.stores.filter((s) => s !== undefined).map((s) => s.close()));
    await this.bifrost?.close();
    await this.ports.transport.close();
    this.started = false;
  }

  /** Whether every partition has a leader, and this node leads what it should. */
  get isReady(): boolean {
    if (!this.started) return false;
    if (this.ports.cluster === undefined) return this.partitionProcessors.every((p) => p.isLeader);
    const self = this.selfId;
    return (
      this.placement !== undefined &&
      this.placement.partitions.every(
        (a, p) =>
          a.leader !== undefined && (a.leader !== self || this.processors[p]?.isLeader === true),
      )
    );
  }

  /**
   * Whether the node can take requests on every partition and write them, and if not, why (for
   * health answers).
   */
  readiness(): { readonly ready: true } | { readonly ready: false; readonly reason: string } {
    const storageProblem = this.ports.storageProblem?.();
    if (storageProblem !== undefined)
      return { ready: false, reason: `the node cannot write to its disk: ${storageProblem}` };
    if (this.isReady) return { ready: true };
    const total = this.table?.partitionCount;
    if (this.ports.cluster !== undefined && this.started && this.placement === undefined)
      return { ready: false, reason: "the cluster has not placed its partitions yet" };
    const ready =
      this.ports.cluster === undefined
        ? this.partitionProcessors.filter((p) => p.isLeader).length
        : (this.placement?.partitions.filter(
            (a, p) =>
              a.leader !== undefined &&
              (a.leader !== this.selfId || this.processors[p]?.isLeader === true),
          ).length ?? 0);
    return {
      ready: false,
      reason:
        total === undefined
          ? "the node is starting"
          : `the node is starting: ${ready} of ${total} partitions are ready`,
    };
  }

  /**
   * The partition count is fixed at provisioning: a node configured with another one explicitly is
   * refused; one that left it at the default uses the stored one.
   */
  private async provisionPartitions(): Promise<number> {
    for (;;) {
      const stored = await getJson<{ partitions: number }>(
        this.ports.metadata,
        PARTITION_TABLE_KEY,
      );
      if (stored !== undefined) {
        if (stored.value.partitions !== this.config.partitions && this.config.partitionsRequired) {
          throw new KeelError(
            "conflict",
            `node '${this.config.nodeName}' is configured with ${this.config.partitions} partitions, but cluster '${this.config.clusterName}' was provisioned with ${stored.value.partitions}; the count is fixed at provisioning: start with --partitions ${stored.value.partitions}`,
          );
        }
        return stored.value.partitions;
      }
      try {
        await putJson(
          this.ports.metadata,
          PARTITION_TABLE_KEY,
          { partitions: this.config.partitions },
          MUST_NOT_EXIST,
        );
        return this.config.partitions;
      } catch (error) {
        // Another node of a cluster starting at the same moment wrote it first: read what it wrote.
        if (!(error instanceof PreconditionFailed)) throw error;
      }
    }
  }

  /**
   * Tells every other node of the cluster that a metadata key changed (the schema, the placement)
   * and waits, bounded, until each has read it: a schema change answered by the admin API is then in
   * force at every node's ingress, and a partition moved by the controller is taken up at once (a
   * node that does not answer in time learns it later by watching the key).
   */
  private async announce(key: string, version: number): Promise<void> {
    const cluster = this.ports.cluster;
    if (cluster === undefined) return;
    const stored = await this.ports.metadata.get(NODES_CONFIG_KEY);
    if (stored === undefined) return;
    const payload = new ByteWriter().string(key).u53(version).finish();
    const peers = decodeNodesConfiguration(stored.value).nodes.filter(
      (n) => n.plainId !== cluster.registration.plainId,
    );
    await Promise.all(
      peers.map(
        (peer) =>
          new Promise<void>((resolve) =>
            cluster.transport.request(
              NodeId(peer.plainId),
              NodeService.metadataChanged,
              payload,
              ANNOUNCE_TIMEOUT_MS,
              () => resolve(),
            ),
          ),
      ),
    );
  }

  /**
   * The schema as the metadata store has it now (one read at a time): in a cluster, a deployment
   * registered through another node a moment ago may not have reached this one yet. A single node's
   * schema is always current.
   */
  async latestSchema(): Promise<SchemaIndex> {
    if (this.ports.cluster === undefined) return this.schemaIndex;
    this.schemaRefresh ??= this.refreshSchema().finally(() => (this.schemaRefresh = undefined));
    await this.schemaRefresh;
    return this.schemaIndex;
  }

  private async refreshSchema(): Promise<void> {
    const stored = await getJson<Schema>(this.ports.metadata, SCHEMA_KEY);
    if (stored === undefined) return;
    if (stored.version > this.schemaIndex.version)
      this.schemaIndex = new SchemaIndex(stored.value, stored.version);
  }

  /** Changes the schema with compare-and-swap, retrying on concurrent changes. */
  async updateSchema<T>(
    change: (schema: Schema) => { schema: Schema | undefined; result: T },
  ): Promise<T> {
    for (;;) {
      const stored = await getJson<Schema>(this.ports.metadata, SCHEMA_KEY);
      const current = stored?.value ?? EMPTY_SCHEMA;
      const { schema, result } = change(current);
      if (schema === undefined) return result;
      try {
        await putJson(
          this.ports.metadata,
          SCHEMA_KEY,
          schema,
          stored === undefined ? MUST_NOT_EXIST : matchesVersion(stored.version),
        );
        await this.refreshSchema();
        await this.announce(SCHEMA_KEY, this.schemaIndex.version);
        return result;
      } catch (error) {
        if (!(error instanceof KeelError && error.code === "conflict")) throw error;
      }
    }
  }

  processor(partitionId: number): PartitionProcessor {
    const processor = this.processors[partitionId];
    assert(processor !== undefined, `partition ${partitionId} is one of this node's`);
    return processor;
  }

  /**
   * Runs a call on the leader of a partition: here when this node leads it (`local`), else on the
   * leader's node (`call`, its answer read by `fromAnswer`). While the node is starting (the
   * partition not yet opened, or replaying before it leads) and while leadership settles or moves,
   * the request waits, bounded, rather than fail: a client that calls the moment the ports open is
   * served once the partition is. A call whose leader could not be reached is asked again only when
   * it is safe to repeat (all but a submit: the leader may have taken it before the connection broke).
   */
  private async onLeader<T>(
    target: { readonly key: PartitionKey } | { readonly partitionId: number },
    local: (p: PartitionProcessor) => Promise<T>,
    call: PartitionCall,
    fromAnswer: (answer: PartitionAnswer) => T,
  ): Promise<T> {
    const deadline = this.ports.clock.nowMs() + LEADER_WAIT_MS_MAX;
    for (;;) {
      // Before the table is read (the node is starting) no partition is known yet: wait.
      const partitionId =
        "partitionId" in target ? target.partitionId : this.table?.partitionOf(target.key);
      const processor = partitionId === undefined ? undefined : this.processors[partitionId];
      const leader = partitionId === undefined ? undefined : this.leaderOf(partitionId);
      let refusal: KeelError | undefined;
      try {
        if (processor !== undefined && (leader === this.selfId || processor.isLeader))
          return await local(processor);
        if (partitionId !== undefined && leader !== undefined && leader !== this.selfId)
          return fromAnswer(await this.callRemote(leader, partitionId, call));
      } catch (error) {
        const retryable =
          error instanceof KeelError &&
          (error.code === "not_leader" ||
            (error.code === "unavailable" &&
              (call.kind !== "submit" || isResendable(call.invocation))));
        if (!retryable) throw error;
        refusal = error;
      }
      if (this.ports.clock.nowMs() > deadline) {
        throw (
          refusal ??
          new KeelError(
            "unavailable",
            `the node is still starting: the partition of this request is not open after ${LEADER_WAIT_MS_MAX} ms`,
            true,
          )
        );
      }
      await new Promise<void>((resolve) => this.ports.clock.setTimer(LEADER_RETRY_MS, resolve));
    }
  }

  /**
   * Every partition as SQL reads it (by partition id): chunks scanned on its leader, here or on the
   * node that leads it, so a query sees what the partition's clients see.
   */
  sqlPartitions(): SqlPartition[] {
    return Array.from({ length: this.partitionTable.partitionCount }, (_, partitionId) => ({
      scan: (prefix: string, limit: number, startAfter?: string) =>
        this.onLeader(
          { partitionId },
          (processor) => Promise.resolve(processor.reader().scan(prefix, limit, startAfter)),
          { kind: "scan", prefix, limit, startAfter },
          (answer) => {
            if (answer.kind !== "entries") throw unexpectedAnswer(answer);
            return answer.entries;
          },
        ),
      invocationInfos: (ids: readonly InvocationId[]) =>
        this.onLeader(
          { partitionId },
          () => Promise.resolve(invocationInfos(this.invoker, ids)),
          { kind: "invocationInfos", ids },
          (answer) => {
            if (answer.kind !== "invocationInfos") throw unexpectedAnswer(answer);
            return answer.infos;
          },
        ),
    }));
  }

  /** An invocation's status as its partition's leader has it now. */
  async invocationStatus(id: InvocationId): Promise<InvocationStatus | undefined> {
    const key = statusKey(id);
    const partition = this.sqlPartitions()[this.partitionTable.partitionOf(id.partitionKey)]!;
    const [found] = await partition.scan(key, 1);
    return found?.[0] === key ? InvocationStatus.decode(found[1]) : undefined;
  }

  /** Resolves once the node has opened its partitions, or fails after the leader wait. */
  async whenOpened(): Promise<void> {
    const deadline = this.ports.clock.nowMs() + LEADER_WAIT_MS_MAX;
    const opened = (): boolean =>
      this.table !== undefined &&
      (this.ports.cluster === undefined
        ? this.processors.length === this.table.partitionCount
        : this.started);
    while (!opened()) {
      if (this.ports.clock.nowMs() > deadline)
        throw new KeelError("unavailable", "the node is still starting", true);
      await new Promise<void>((resolve) => this.ports.clock.setTimer(LEADER_RETRY_MS, resolve));
    }
  }

  async submit(
    invocation: ServiceInvocation,
    key: PartitionKey,
    awaitResult: boolean,
  ): Promise<{ outcome: Outcome; completion?: Promise<AttachResult> }> {
    const submitted = await this.onLeader(
      { key },
      (p) => p.submit(invocation, awaitResult),
      { kind: "submit", invocation, awaitResult },
      (answer) => {
        if (answer.kind !== "outcome") throw unexpectedAnswer(answer);
        return answer.completion === undefined
          ? { outcome: answer.outcome }
          : { outcome: answer.outcome, completion: Promise.resolve(answer.completion) };
      },
    );
    // An invocation without an idempotency key (nor a workflow key) has a fresh id: "previously
    // accepted" can only mean that a submission whose answer was lost (its leader failed) and that
    // was sent again had landed.
    const outcome = submitted.outcome;
    const freshId =
      invocation.idempotencyKey === undefined &&
      invocation.target?.handlerType !== HandlerType.HANDLER_TYPE_WORKFLOW;
    const answered =
      outcome.kind === "previouslyAccepted" && freshId
        ? {
            ...submitted,
            outcome: { kind: "accepted", invocationId: outcome.invocationId } as const,
          }
        : submitted;
    // The leader that took the call may hand the partition over before the invocation completes
    // (a balancing move, a step-down): the caller then waits on the new leader.
    const completion = answered.completion;
    if (completion === undefined || !("invocationId" in outcome)) return answered;
    const id = outcome.invocationId;
    return {
      ...answered,
      completion: completion.then((result) =>
        result.kind === "notReady" ? this.attach(id, true) : result,
      ),
    };
  }

  async attach(id: InvocationId, block: boolean): Promise<AttachResult> {
    for (;;) {
      const result = await this.onLeader(
        { key: id.partitionKey },
        (p) => p.attach(id, block),
        { kind: "attach", id, block },
        (answer) => {
          if (answer.kind !== "attach") throw unexpectedAnswer(answer);
          return answer.result;
        },
      );
      // A blocking wait ends "not ready" only when its leader lost the partition: wait on at the
      // new leader.
      if (!block || result.kind !== "notReady") return result;
    }
  }

  request(key: PartitionKey, command: EnvelopeCommand): Promise<Outcome> {
    return this.onLeader(
      { key },
      async (p) => (await p.request(command)).outcome,
      { kind: "request", command },
      (answer) => {
        if (answer.kind !== "outcome") throw unexpectedAnswer(answer);
        return answer.outcome;
      },
    );
  }

  terminate(id: InvocationId, kind: "cancel" | "kill"): Promise<Outcome> {
    return this.request(id.partitionKey, {
      $case: "terminate",
      value: {
        invocationId: id.bytes,
        kind:
          kind === "kill"
            ? TerminationKind.TERMINATION_KIND_KILL
            : TerminationKind.TERMINATION_KIND_CANCEL,
      },
    });
  }

  pause(id: InvocationId): Promise<Outcome> {
    return this.request(id.partitionKey, { $case: "pause", value: { invocationId: id.bytes } });
  }

  /** Resumes a paused or suspended invocation (optionally on another deployment), or retries now. */
  resume(id: InvocationId, deploymentId: string): Promise<Outcome> {
    return this.request(id.partitionKey, {
      $case: "resume",
      value: { invocationId: id.bytes, deploymentId },
    });
  }

  /** Restarts a completed invocation under a new id in the same partition. */
  restartAsNew(
    id: InvocationId,
    copyPrefixUpToIndex: number,
    deploymentId: string,
  ): Promise<Outcome> {
    const uuid = new Uint8Array(16);
    this.ports.entropy.fill(uuid);
    const newId = InvocationId.fromParts(id.partitionKey, uuid);
    return this.request(id.partitionKey, {
      $case: "restartAsNew",
      value: {
        invocationId: id.bytes,
        newInvocationId: newId.bytes,
        copyPrefixUpToIndex,
        deploymentId,
      },
    });
  }

  /** Replaces the state of an object or workflow key (queued behind its lock holder). */
  patchState(
    service: string,
    key: string,
    newState: readonly { key: Uint8Array; value: Uint8Array }[],
    expectedVersion: string | undefined,
  ): Promise<Outcome> {
    return this.request(partitionKeyOf(key), {
      $case: "patchState",
      value: { service, key, newState: [...newState], expectedVersion: expectedVersion ?? "" },
    });
  }

  /** The node and every partition as an operator sees them. */
  async describe(): Promise<NodeDescription> {
    const registration = this.registration;
    return {
      nodeName: this.config.nodeName,
      nodeId:
        registration === undefined
          ? undefined
          : formatGenerationalNodeId(
              generationalNodeId(registration.plainId, registration.generation),
            ),
      clusterName: this.config.clusterName,
      ready: this.readiness().ready,
      schemaVersion: this.schemaIndex.version,
      runningAttempts: this.invoker.runningAttempts,
      storageProblem: this.ports.storageProblem?.(),
      partitions: await Promise.all(this.partitionProcessors.map((p) => p.describe())),
      snapshots:
        this.snapshotter === undefined
          ? undefined
          : {
              destination: this.snapshotter.description,
              problem: this.snapshotter.problem,
              latest: this.partitionProcessors.map((p) => this.snapshotter!.latest(p.partitionId)),
            },
    };
  }

  /** The cluster's nodes, partitions with their replicas, logs and metadata members. */
  async describeCluster(): Promise<ClusterDescription | undefined> {
    const cluster = this.ports.cluster;
    if (cluster === undefined) return undefined;
    const { metadata } = this.ports;
    const stored = await metadata.get(NODES_CONFIG_KEY);
    const nodes = stored === undefined ? [] : decodeNodesConfiguration(stored.value).nodes;
    const replicasByNode = await Promise.all(
      nodes.map((node) =>
        node.plainId === cluster.registration.plainId
          ? Promise.all(this.partitionProcessors.map((p) => p.describe()))
          : this.askPartitions(NodeId(node.plainId)),
      ),
    );
    const placement = (await getJson<PartitionPlacement>(metadata, PARTITION_PLACEMENT_KEY))?.value;
    const count = this.partitionTable.partitionCount;
    const chains = await Promise.all(
      Array.from({ length: count }, (_, p) => getJson<LogChain>(metadata, chainKey(p))),
    );
    const shortId = (plainId: number | undefined): string | null =>
      plainId === undefined ? null : `N${plainId}`;
    return {
      nodes: nodes.map((node, i) => ({
        name: node.name,
        nodeId: formatGenerationalNodeId(generationalNodeId(node.plainId, node.generation)),
        address: node.address,
        location: node.location ?? "",
        roles: node.roles,
        alive: replicasByNode[i] !== undefined,
      })),
      partitions: Array.from({ length: count }, (_, p) => {
        const assignment = placement?.partitions[p];
        return {
          id: p,
          leader: shortId(assignment?.leader),
          replicas: (assignment?.replicas ?? []).map((plainId) => {
            const at = nodes.findIndex((n) => n.plainId === plainId);
            const replica = replicasByNode[at]?.find((d) => d.partitionId === p);
            return { node: shortId(plainId)!, ...replica };
          }),
        };
      }),
      logs: chains.map((chain, logId) => {
        const segments = chain?.value.segments ?? [];
        return {
          logId,
          segments: segments.map((segment, i) => ({
            index: segment.index,
            baseLsn: segment.baseLsn,
            provider: segment.loglet.provider,
            sealed: i < segments.length - 1,
            ...replicatedSegmentParams(segment.loglet),
          })),
        };
      }),
      metadataMembers: await cluster.metadataMembers(),
    };
  }

  purge(id: InvocationId, journalOnly: boolean): Promise<Outcome> {
    return this.request(id.partitionKey, {
      $case: "purge",
      value: { invocationId: id.bytes, journalOnly },
    });
  }

  /** Resolves an awakeable: appends the signal to its invocation. */
  async notifySignal(
    id: InvocationId,
    signalIndex: number,
    result: NonNullable<Extract<EnvelopeCommand, { $case: "notifySignal" }>["value"]["result"]>,
  ): Promise<void> {
    // Answered only once applied: a signal appended just before a leader change could be fenced
    // off, and the caller must then be told to try again (a signal delivered twice counts once).
    const commands: EnvelopeCommand[] = [
      {
        $case: "notifySignal",
        value: { invocationId: id.bytes, signalId: { $case: "idx", value: signalIndex }, result },
      },
    ];
    await this.onLeader(
      { key: id.partitionKey },
      (p) => p.proposeApplied(commands),
      { kind: "proposeApplied", commands },
      () => undefined,
    );
  }

  /**
   * Appends invocations from an outside producer (a Kafka topic partition) to the partition of `key`,
   * each with its dedup tag, as one batch; resolves once they are applied under one leadership. A
   * batch sent again (its answer lost, the consumer restarted) is dropped record by record by the tags.
   */
  async ingestDeduplicated(
    key: PartitionKey,
    invocations: readonly ServiceInvocation[],
    dedup: readonly Dedup[],
  ): Promise<void> {
    assert(invocations.length === dedup.length, "one dedup tag per invocation");
    const commands: EnvelopeCommand[] = invocations.map((value) => ({ $case: "invoke", value }));
    await this.onLeader(
      { key },
      (p) => p.proposeApplied(commands, { dedup: [...dedup] }),
      { kind: "proposeApplied", commands, dedup },
      () => undefined,
    );
  }
}

function unexpectedAnswer(answer: PartitionAnswer): KeelError {
  return new KeelError(
    "unavailable",
    `an unexpected answer '${answer.kind}' from the leader`,
    true,
  );
}

/** A replicated segment's sequencer, nodeset and replication, as the status shows them. */
function replicatedSegmentParams(loglet: LogletConfig): {
  sequencer?: string;
  nodeset?: string[];
  replication?: string;
} {
  if (loglet.provider !== "replicated") return {};
  try {
    const params = parseLogletParams(loglet.params);
    return {
      sequencer: formatGenerationalNodeId(params.sequencer),
      nodeset: params.nodeset.map((n) => `N${n}`),
      replication: formatReplication(params.replication),
    };
  } catch {
    return {};
  }
}
