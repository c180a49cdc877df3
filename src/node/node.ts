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
} from "../core/index.js";
import { type ServiceInvocation, TerminationKind } from "../gen/keel/records.js";
import { Bifrost, type LogletConfig, type LogletProvider } from "../bifrost/index.js";
import {
  getJson,
  putJson,
  MUST_NOT_EXIST,
  matchesVersion,
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
} from "../worker/index.js";
import type { Clock, Entropy, Logger } from "../platform/index.js";
import { registerNode, type NodeRecord } from "../metadata-server/index.js";
import type {
  PartitionStore,
  SnapshotManifest,
  SnapshotRepository,
} from "../partition-store/index.js";

export interface NodeConfig {
  readonly nodeName: string;
  readonly partitions: number;
  readonly clusterName: string;
  readonly invokerConcurrencyMax?: number;
  readonly invokerBackgroundStartingMax?: number;
  /** Timeouts of services whose manifest sets none (the `inactivity-timeout` settings). */
  readonly timeoutDefaults?: TimeoutDefaults;
  /** Deliberately broken invoker behaviour for the node simulation's broken variants (tests only). */
  readonly invokerTestOnlyFaults?: InvokerTestOnlyFaults;
  /** When and how many snapshots of partition stores to take (with `NodePorts.snapshots`). */
  readonly snapshots?: SnapshotSettings;
  /** Where peers reach this node (its node port, host:port) and where it is (`region.zone`). */
  readonly advertisedAddress?: string;
  readonly location?: string;
}

/** Every role a node holds today (one node holds all; cluster mode will let nodes hold fewer). */
export const NODE_ROLES = ["admin", "worker", "log-server", "metadata-server", "http-ingress"];

export interface NodePorts {
  readonly metadata: MetadataStore;
  readonly loglets: ReadonlyMap<string, LogletProvider>;
  readonly initialLoglet: (logId: number) => LogletConfig;
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

/** A PRNG seed drawn from the entropy port. */
function entropySeed(entropy: Entropy): number {
  const bytes = new Uint8Array(4);
  entropy.fill(bytes);
  return readU32BE(bytes, 0);
}
const LEADER_RETRY_MS = 25;
const LEADER_WAIT_MS_MAX = 10_000;
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
  private processors: PartitionProcessor[] = [];
  private bifrost!: Bifrost;
  private stores: PartitionStore[] = [];
  private unsubscribe: (() => void) | undefined;
  private started = false;
  private snapshotter: PartitionSnapshots | undefined;
  private registration: NodeRecord | undefined;
  private stopSnapshotChecks: (() => void) | undefined;

  constructor(
    readonly config: NodeConfig,
    readonly ports: NodePorts,
  ) {
    this.invoker = new Invoker(ports.transport, () => this.schemaIndex, ports.clock, ports.logger, {
      concurrencyMax: config.invokerConcurrencyMax ?? limits.invokerConcurrencyMax,
      backgroundStartingMax:
        config.invokerBackgroundStartingMax ?? limits.invokerBackgroundStartingMax,
      clusterName: config.clusterName,
      prng: seededPrng(entropySeed(ports.entropy)),
      ...(config.invokerTestOnlyFaults === undefined
        ? {}
        : { testOnlyFaults: config.invokerTestOnlyFaults }),
    });
  }

  get partitionTable(): PartitionTable {
    if (this.table === undefined) throw new KeelError("unavailable", "the node is starting", true);
    return this.table;
  }

  get partitionProcessors(): readonly PartitionProcessor[] {
    return this.processors;
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
    // Every start is a new incarnation (generation + 1); a node of another cluster is refused here.
    this.registration = await registerNode(metadata, this.config.clusterName, {
      name: this.config.nodeName,
      address: this.config.advertisedAddress ?? "",
      roles: NODE_ROLES,
      location: this.config.location ?? "",
    });
    const table = new PartitionTable(await this.provisionPartitions());
    this.table = table;
    this.bifrost = new Bifrost(metadata, this.ports.loglets, this.ports.initialLoglet);
    for (let p = 0; p < table.partitionCount; p++) {
      const partitionId = PartitionId(p);
      const store = this.ports.openPartitionStore(p);
      this.stores.push(store);
      const processor = new PartitionProcessor({
        partitionId,
        partitionTable: table,
        nodeName: this.config.nodeName,
        log: await this.bifrost.log(p),
        store,
        metadata,
        clock: this.ports.clock,
        logger: this.ports.logger,
        invoker: this.invoker,
        shuffleTransport: {
          deliver: (source, destination, messages) =>
            this.processor(destination).acceptShuffled(source, messages),
        },
        onFatal: this.ports.onFatal,
      });
      this.processors.push(processor);
    }
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
        logger: this.ports.logger,
      });
      // A store behind its log's trim point (lost, or rebuilt after a machine crash) comes back from
      // its snapshot before anything reads it.
      for (const processor of this.processors) {
        await this.snapshotter.prepare(processor.partitionId, processor.store, processor.log);
      }
    }
    // Every store is checked against its log before any partition writes to the log: a start that
    // must refuse (a store ahead of a damaged log) leaves the log files as it found them.
    for (const processor of this.processors) await processor.recover();
    // One node leads every partition: it claims each as soon as its follower has caught up.
    await Promise.all(
      this.processors.map(async (p) => {
        await p.start();
        await p.claimLeadership();
      }),
    );
    this.started = true;
    if (this.snapshotter !== undefined) this.scheduleSnapshotCheck(this.snapshotter);
  }

  private scheduleSnapshotCheck(snapshotter: PartitionSnapshots): void {
    this.stopSnapshotChecks = this.ports.clock.setTimer(SNAPSHOT_CHECK_MS, () => {
      snapshotter.tick(this.processors);
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
    const chosen = partitionId === undefined ? this.processors : [this.processors[partitionId]!];
    return Promise.all(chosen.filter((p) => p.isLeader).map((p) => snapshotter.create(p)));
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.stopSnapshotChecks?.();
    await this.snapshotter?.close();
    this.invoker.stopAll();
    await Promise.all(this.processors.map((p) => p.stop()));
    await Promise.all(this.stores.map((s) => s.close()));
    await this.bifrost?.close();
    await this.ports.transport.close();
    this.started = false;
  }

  get isReady(): boolean {
    return this.started && this.processors.every((p) => p.isLeader);
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
    const led = this.processors.filter((p) => p.isLeader).length;
    const total = this.table?.partitionCount;
    return {
      ready: false,
      reason:
        total === undefined
          ? "the node is starting"
          : `the node is starting: ${led} of ${total} partitions are ready`,
    };
  }

  /** The partition count is fixed at provisioning; a different configured count is ignored. */
  private async provisionPartitions(): Promise<number> {
    const stored = await getJson<{ partitions: number }>(this.ports.metadata, PARTITION_TABLE_KEY);
    if (stored !== undefined) {
      if (stored.value.partitions !== this.config.partitions) {
        this.ports.logger.warn(
          "the partition count is fixed at provisioning; using the stored one",
          {
            stored: stored.value.partitions,
            configured: this.config.partitions,
          },
        );
      }
      return stored.value.partitions;
    }
    await putJson(
      this.ports.metadata,
      PARTITION_TABLE_KEY,
      { partitions: this.config.partitions },
      MUST_NOT_EXIST,
    );
    return this.config.partitions;
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

  processorFor(key: PartitionKey): PartitionProcessor {
    return this.processor(this.partitionTable.partitionOf(key));
  }

  /** The processor of `key`'s partition, or undefined while the node has not opened it yet. */
  private openedProcessorFor(key: PartitionKey): PartitionProcessor | undefined {
    if (this.table === undefined) return undefined;
    return this.processors[this.table.partitionOf(key)];
  }

  /**
   * Runs `op` on the leader of `key`'s partition. While the node is starting (the partition not yet
   * opened, or replaying before it leads) and while leadership settles, the request waits, bounded,
   * rather than fail: a client that calls the moment the ports open is served once the partition is.
   */
  private async onLeader<T>(
    key: PartitionKey,
    op: (p: PartitionProcessor) => Promise<T>,
  ): Promise<T> {
    const deadline = this.ports.clock.nowMs() + LEADER_WAIT_MS_MAX;
    for (;;) {
      const processor = this.openedProcessorFor(key);
      let refusal: KeelError | undefined;
      if (processor !== undefined) {
        try {
          return await op(processor);
        } catch (error) {
          if (!(error instanceof KeelError && error.code === "not_leader")) throw error;
          refusal = error;
        }
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

  /** Resolves once every partition is open (the node has started), or fails after the leader wait. */
  async whenOpened(): Promise<void> {
    const deadline = this.ports.clock.nowMs() + LEADER_WAIT_MS_MAX;
    while (this.table === undefined || this.processors.length < this.table.partitionCount) {
      if (this.ports.clock.nowMs() > deadline)
        throw new KeelError("unavailable", "the node is still starting", true);
      await new Promise<void>((resolve) => this.ports.clock.setTimer(LEADER_RETRY_MS, resolve));
    }
  }

  submit(
    invocation: ServiceInvocation,
    key: PartitionKey,
    awaitResult: boolean,
  ): Promise<{ outcome: Outcome; completion?: Promise<AttachResult> }> {
    return this.onLeader(key, (p) => p.submit(invocation, awaitResult));
  }

  attach(id: InvocationId, block: boolean): Promise<AttachResult> {
    return this.onLeader(id.partitionKey, (p) => p.attach(id, block));
  }

  request(key: PartitionKey, command: EnvelopeCommand): Promise<Outcome> {
    return this.onLeader(key, async (p) => (await p.request(command)).outcome);
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
      partitions: await Promise.all(this.processors.map((p) => p.describe())),
      snapshots:
        this.snapshotter === undefined
          ? undefined
          : {
              destination: this.snapshotter.description,
              problem: this.snapshotter.problem,
              latest: this.processors.map((p) => this.snapshotter!.latest(p.partitionId)),
            },
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
    await this.onLeader(id.partitionKey, (p) =>
      p.proposeApplied([
        {
          $case: "notifySignal",
          value: { invocationId: id.bytes, signalId: { $case: "idx", value: signalIndex }, result },
        },
      ]),
    );
  }
}
