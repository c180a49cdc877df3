/**
 * A node joining its cluster (cluster mode, `--metadata-servers` set): its identity, one node
 * transport on the node port, the metadata member (metadata-server role), the metadata client, the
 * log server (log-server role) and the replicated loglet driver. What it returns plugs into the
 * runtime node as ports (`NodePorts.metadata`, `.loglets`, `.initialLoglet`, `.cluster`).
 *
 * Identity: the first start of a node writes `cluster.json` in its data directory (cluster name and
 * plain node id). The node that provisions (`--auto-provision`, a metadata server) takes plain id 1
 * and writes the initial Raft state; any other registers by name with the metadata servers. Every
 * later start reads the marker, so a node never joins another cluster or takes another's id, and
 * registers again for a new generation.
 */

import { randomInt } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import type { Socket } from "node:net";
import type { KeelMetrics } from "../../observability/index.js";
import { timedLogServerStores } from "../../observability/io/index.js";
import { join } from "node:path";
import {
  KeelError,
  NodeId,
  describeError,
  fromUtf8,
  utf8,
  generationalNodeId,
  seededPrng,
  type GenerationalNodeId,
} from "../../core/index.js";
import {
  DEFAULT_LOGLET_LIMITS,
  LogletNode,
  ReplicatedLogletProvider,
  parseLocation,
  type LogletConfig,
  type NodeLocation,
  type ReplicationProperty,
} from "../../bifrost/index.js";
import {
  MemberId,
  NODES_CONFIG_KEY,
  decodeNodesConfiguration,
  provisionedState,
  registerNode,
  type NodeIdentity,
  type NodeRecord,
  type ReplicatedMetadataStore,
} from "../../metadata-server/index.js";
import {
  connectMetadataStore,
  FileRaftStorage,
  peerAddressOf,
  runMetadataMember,
  type RunningMember,
} from "../../metadata-server/io/index.js";
import {
  TcpTransport,
  type ClusterCredentials,
  type NodePortSecurity,
  type NodeTls,
  type PeerAddress,
  type TcpTransportOptions,
} from "../../net/io/index.js";
import { NodeService } from "../../net/index.js";
import { FileLogServerStore } from "../../log-server/io/index.js";
import { FileMetadataStore } from "../../metadata/io/index.js";
import { LogServerNode } from "../../log-server/index.js";
import { readJsonFile, systemClock, writeFileDurably } from "../../platform/io/index.js";
import type { Logger } from "../../platform/index.js";
import {
  nodesetTargetSize,
  replicatedSegment,
  type MetadataMemberDescription,
  type NodeRole,
} from "../index.js";

const MARKER_FILE = "cluster.json";
/** How long the waiting node keeps its listener after answering `keel provision`. */
const PROVISION_ANSWER_GRACE_MS = 200;
/** The id a node waiting to be provisioned says hello with: no registered node has it. */
const UNREGISTERED_NODE = NodeId(0xffff_ffff);
/** The metadata member's tick: an election after 10 to 20 ticks of silence, heartbeats every 2. */
const METADATA_TICK_MS = 50;
const METADATA_SNAPSHOT_INTERVAL_ENTRIES = 1_000;
/** How long a node keeps asking the metadata servers before its start fails. */
const METADATA_WAIT_MS = 60_000;

export interface ClusterSettings {
  readonly clusterName: string;
  readonly nodeName: string;
  readonly dataDir: string;
  readonly listenHost: string;
  readonly nodePort: number;
  /** host:port where peers reach this node's node port. */
  readonly advertisedAddress: string;
  readonly metadataServers: readonly string[];
  readonly autoProvision: boolean;
  /**
   * Where this node kept its metadata as a single node: a node that provisions a cluster imports it
   * (schema, log chains, partitions, epochs), so a single node with data grows into the cluster.
   */
  readonly singleNodeMetadataFile?: string;
  readonly roles: readonly NodeRole[];
  readonly location: string;
  readonly replication: ReplicationProperty;
  readonly noSync: boolean;
  /** The cluster's key: every node-port connection proves it (none: the node port is open). */
  readonly credentials?: ClusterCredentials;
  /** TLS on every node-port connection, with certificates of the cluster's CA (none: plain TCP). */
  readonly tls?: NodeTls;
  readonly logger: Logger;
  /** A store of this node failed (its state can no longer be trusted): the node must not go on. */
  readonly onFatal: (error: unknown) => void;
  /** Serves the node port's HTTP connections (metrics); without it they are closed. */
  readonly nodePortHttp?: (socket: Socket, firstBytes: Buffer) => void;
  /** Where the sequencers' store requests to log servers are timed (default: nowhere). */
  readonly metrics?: Pick<KeelMetrics, "loglet" | "startTimer">;
}

export interface JoinedCluster {
  readonly registration: NodeRecord;
  /** This node held a single node's data when it provisioned the cluster (its logs have local segments). */
  readonly grownFromSingleNode: boolean;
  readonly self: GenerationalNodeId;
  readonly transport: TcpTransport;
  readonly metadata: ReplicatedMetadataStore;
  readonly provider: ReplicatedLogletProvider;
  /** A new segment of a log: replicated on the log servers, sequenced by this incarnation. */
  newSegment(logId: number, segmentIndex: number): Promise<LogletConfig>;
  /** How many log servers a new segment's nodeset would have now. */
  nodesetTargetSize(): Promise<number>;
  /** Each metadata member's Raft status (members are the nodes with the metadata-server role). */
  metadataMembers(): Promise<MetadataMemberDescription[]>;
  /** This node's own metadata member's Raft state, read in memory (metadata-server role only). */
  readonly metadataMember?: () => {
    readonly role: string;
    readonly term: number;
    readonly commit: number;
    readonly applied: number;
    readonly electionsStarted: number;
    readonly electionsWon: number;
  };
  stop(): Promise<void>;
}

interface ClusterMarker {
  readonly clusterName: string;
  readonly plainId: number;
}

/**
 * Retries a metadata operation that failed for want of an answer (the metadata servers may still be
 * starting or electing). Every operation here may be repeated: reads, joins, and registrations, which
 * compare-and-swap on what they read, even after an answer that left their outcome unknown.
 */
async function withMetadata<T>(what: string, run: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + METADATA_WAIT_MS;
  for (;;) {
    try {
      return await run();
    } catch (error) {
      const retryable = error instanceof KeelError && error.code === "unavailable";
      if (!retryable || Date.now() > deadline) {
        if (retryable)
          throw new KeelError(
            "unavailable",
            `${what}: no metadata server answered within ${METADATA_WAIT_MS / 1000} s (${error.message}); is the cluster provisioned (--auto-provision on one node) and are --metadata-servers right?`,
          );
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/**
 * A metadata server named in `--metadata-servers` that starts for the first time without
 * `--auto-provision`: the cluster may exist (then it registers, as any node) or may be waiting for
 * `keel provision`, which it hears on its node port (then it provisions). Whichever comes first.
 */
async function registerOrAwaitProvisioning(
  settings: ClusterSettings,
  register: () => Promise<ClusterMarker>,
  provision: () => Promise<ClusterMarker>,
): Promise<ClusterMarker> {
  const listener = await TcpTransport.start({
    // Clients refuse a listener that says it is nobody (node 0): this one is a node without an id yet.
    self: UNREGISTERED_NODE,
    generation: 0,
    listen: { host: settings.listenHost, port: settings.nodePort },
    peers: () => new Map(),
    ...nodePortSecurity(settings),
    ...nodePortHttp(settings),
  });
  try {
    let decided: Promise<ClusterMarker> | undefined;
    const provisioned = new Promise<ClusterMarker>((resolve, reject) => {
      listener.serve(NodeService.provision, {
        onMessage: () => undefined,
        onRequest: (_from, payload, respond) => {
          const answer = (value: object): void => respond(utf8(JSON.stringify(value)));
          let asked: { clusterName?: unknown };
          try {
            asked = JSON.parse(fromUtf8(payload)) as { clusterName?: unknown };
          } catch {
            answer({ provisioned: false, message: "not a provision request" });
            return;
          }
          if (asked.clusterName !== undefined && asked.clusterName !== settings.clusterName) {
            answer({
              provisioned: false,
              message: `this node is started for cluster '${settings.clusterName}', not ${JSON.stringify(asked.clusterName)}`,
            });
            return;
          }
          if (decided !== undefined) {
            answer({ provisioned: false, message: "the cluster is provisioned already" });
            return;
          }
          decided = provision();
          decided.then(
            (marker) => {
              answer({ provisioned: true, message: `provisioned '${settings.clusterName}'` });
              resolve(marker);
            },
            (error: unknown) => {
              answer({ provisioned: false, message: describeError(error) });
              reject(error instanceof Error ? error : new Error(String(error)));
            },
          );
        },
      });
    });
    settings.logger.warn(
      `waiting for the cluster: provision it with 'keel provision --node ${settings.advertisedAddress}' (or start one metadata node with --auto-provision), or let this node join one that exists`,
    );
    const others = settings.metadataServers.filter((s) => s !== settings.advertisedAddress);
    if (others.length === 0) return await provisioned;
    return await Promise.race([
      provisioned,
      register().then(
        (marker) => {
          decided ??= Promise.resolve(marker);
          return marker;
        },
        // No cluster answered (yet): go on waiting to be provisioned.
        () => provisioned,
      ),
    ]);
  } finally {
    // Closing destroys the connections: let the answer to `keel provision` reach its socket first.
    await new Promise((resolve) => setTimeout(resolve, PROVISION_ANSWER_GRACE_MS));
    await listener.close();
  }
}

/** The node port's credentials, and a warning for every connection they refuse. */
function nodePortSecurity(
  settings: ClusterSettings,
): Pick<TcpTransportOptions, "credentials" | "tls" | "onRefused"> {
  if (settings.credentials === undefined && settings.tls === undefined) return {};
  return {
    ...nodePortClientSecurity(settings),
    onRefused: (remote, reason) =>
      settings.logger.warn("refused a connection to the node port", { remote, reason }),
  };
}

/** What this node's connections to other node ports prove: the cluster's key, its CA's certificate. */
function nodePortClientSecurity(settings: ClusterSettings): NodePortSecurity {
  return {
    ...(settings.credentials === undefined ? {} : { credentials: settings.credentials }),
    ...(settings.tls === undefined ? {} : { tls: settings.tls }),
  };
}

/** HTTP on the node port (`GET /metrics`), beside the node-to-node protocol. */
function nodePortHttp(settings: ClusterSettings): Pick<TcpTransportOptions, "otherProtocol"> {
  return settings.nodePortHttp === undefined ? {} : { otherProtocol: settings.nodePortHttp };
}

export async function joinCluster(settings: ClusterSettings): Promise<JoinedCluster> {
  const { logger, roles } = settings;
  const metadataDir = join(settings.dataDir, "metadata");
  const isMetadataServer = roles.includes("metadata-server");
  const identity: NodeIdentity = {
    name: settings.nodeName,
    address: settings.advertisedAddress,
    roles,
    location: settings.location,
  };
  // Ourselves last: while joining, this node is no member yet.
  const seeds = [
    ...settings.metadataServers.filter((s) => s !== settings.advertisedAddress),
    ...settings.metadataServers.filter((s) => s === settings.advertisedAddress),
  ];
  const metadata = connectMetadataStore(
    settings.nodeName,
    seeds,
    undefined,
    undefined,
    nodePortClientSecurity(settings),
  );
  const cleanups: (() => Promise<void> | void)[] = [() => metadata.close()];
  const cleanUp = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  };
  try {
    await mkdir(settings.dataDir, { recursive: true });
    let marker = await readJsonFile<ClusterMarker>(join(settings.dataDir, MARKER_FILE));
    const singleNodeData =
      settings.singleNodeMetadataFile !== undefined && existsSync(settings.singleNodeMetadataFile);
    if (marker === undefined) {
      const provision = async (): Promise<ClusterMarker> => {
        const file = settings.singleNodeMetadataFile;
        const imported =
          file !== undefined && existsSync(file)
            ? FileMetadataStore.open(file).contents()
            : new Map<string, Uint8Array>();
        await mkdir(metadataDir, { recursive: true });
        await FileRaftStorage.provision(
          metadataDir,
          provisionedState(settings.clusterName, identity, imported),
        );
        logger.info("provisioned a new cluster", {
          cluster: settings.clusterName,
          ...(imported.size === 0 ? {} : { importedFrom: file, keys: imported.size }),
        });
        return { clusterName: settings.clusterName, plainId: 1 };
      };
      const register = async (): Promise<ClusterMarker> => {
        const record = await withMetadata("registering this node", () =>
          registerNode(metadata, settings.clusterName, identity),
        );
        return { clusterName: settings.clusterName, plainId: record.plainId };
      };
      const canProvision = isMetadataServer && !(await FileRaftStorage.exists(metadataDir));
      if (canProvision && settings.autoProvision) marker = await provision();
      else if (canProvision && settings.metadataServers.includes(settings.advertisedAddress))
        marker = await registerOrAwaitProvisioning(settings, register, provision);
      else if (singleNodeData)
        throw new KeelError(
          "conflict",
          `${settings.dataDir} holds a single node's data: it can grow into a new cluster that it provisions (--auto-provision, with --metadata-servers naming this node), not join another one`,
        );
      else marker = await register();
      await writeFileDurably(settings.dataDir, MARKER_FILE, JSON.stringify(marker));
    }
    if (marker.clusterName !== settings.clusterName)
      throw new KeelError(
        "conflict",
        `node '${settings.nodeName}' is started for cluster '${settings.clusterName}', but its data directory ${settings.dataDir} belongs to cluster '${marker.clusterName}'`,
      );
    const plainId = NodeId(marker.plainId);

    // Peers' node ports: the metadata members add theirs as Raft routes them, the nodes
    // configuration every node's.
    const peers = new Map<NodeId, PeerAddress>();
    const topology = new Map<NodeId, NodeLocation>();
    const transport = await TcpTransport.start({
      self: plainId,
      // Tells this incarnation from the last one; registration below records its generation.
      generation: randomInt(1, 2 ** 32 - 1),
      listen: { host: settings.listenHost, port: settings.nodePort },
      peers: () => peers,
      ...nodePortSecurity(settings),
      ...nodePortHttp(settings),
    });
    cleanups.push(() => transport.close());

    let member: RunningMember | undefined;
    if (isMetadataServer) {
      if (!(await FileRaftStorage.exists(metadataDir)))
        await mkdir(metadataDir, { recursive: true });
      member = await runMetadataMember({
        memberId: MemberId(plainId),
        address: settings.advertisedAddress,
        dataDir: metadataDir,
        node: transport,
        ownsNode: false,
        memberAddresses: peers,
        tickMs: METADATA_TICK_MS,
        snapshotIntervalEntries: METADATA_SNAPSHOT_INTERVAL_ENTRIES,
        onFatal: settings.onFatal,
      });
      const running = member;
      cleanups.push(() => running.stop());
      if (!member.isVoterAtStart) {
        await withMetadata("joining the metadata servers", () =>
          metadata.join(MemberId(plainId), settings.advertisedAddress),
        );
        logger.info("joined the metadata servers", { member: plainId });
      }
    }

    const registration = await withMetadata("registering this node", () =>
      registerNode(metadata, settings.clusterName, identity),
    );
    if (registration.plainId !== plainId)
      throw new KeelError(
        "conflict",
        `node '${settings.nodeName}' has plain id ${plainId} in ${settings.dataDir}, but the cluster knows the name as node ${registration.plainId}: two nodes share a name, or the data directory belongs to another node`,
      );
    const self = generationalNodeId(registration.plainId, registration.generation);
    const learnNodes = (nodes: readonly NodeRecord[]): void => {
      metadata.learnMembers(
        nodes.filter((n) => n.roles.includes("metadata-server")).map((n) => n.address),
      );
      for (const node of nodes) {
        const address = peerAddressOf(node.address);
        if (address !== undefined && node.plainId !== plainId)
          peers.set(NodeId(node.plainId), address);
        topology.set(NodeId(node.plainId), parseLocation(node.location ?? ""));
      }
    };
    const nodesNow = async (): Promise<readonly NodeRecord[]> => {
      const stored = await metadata.get(NODES_CONFIG_KEY);
      const nodes = stored === undefined ? [] : decodeNodesConfiguration(stored.value).nodes;
      learnNodes(nodes);
      return nodes;
    };
    await withMetadata("reading the nodes configuration", nodesNow);
    const unsubscribe = metadata.subscribe(NODES_CONFIG_KEY, (value) => {
      if (value !== undefined) learnNodes(decodeNodesConfiguration(value.value).nodes);
    });
    cleanups.push(unsubscribe);

    if (roles.includes("log-server")) {
      const { store, recovered } = await FileLogServerStore.open(
        join(settings.dataDir, "log-server"),
        { noSync: settings.noSync },
      );
      const logServer = new LogServerNode({
        self,
        transport,
        store,
        recovered,
        onStoreFailure: settings.onFatal,
      });
      cleanups.push(async () => {
        logServer.shutdown();
        await store.close();
      });
    }
    const loglets = new LogletNode({
      self,
      transport:
        settings.metrics === undefined
          ? transport
          : timedLogServerStores(transport, settings.metrics),
      clock: systemClock,
      prng: seededPrng(randomInt(0, 2 ** 31)),
      topology,
      limits: DEFAULT_LOGLET_LIMITS,
    });
    cleanups.push(() => loglets.shutdown());
    const prng = seededPrng(randomInt(0, 2 ** 31));

    return {
      registration,
      grownFromSingleNode: singleNodeData && marker.plainId === 1,
      self,
      transport,
      metadata,
      provider: new ReplicatedLogletProvider(loglets),
      ...(member === undefined ? {} : { metadataMember: () => member.member.status() }),
      async newSegment(logId, segmentIndex) {
        const nodes = await nodesNow();
        return replicatedSegment(
          {
            logId,
            segmentIndex,
            nodes,
            sequencer: self,
            replication: settings.replication,
            topology,
          },
          prng,
        );
      },
      async nodesetTargetSize() {
        return nodesetTargetSize(await nodesNow(), settings.replication);
      },
      async metadataMembers() {
        const members = (await nodesNow()).filter((n) => n.roles.includes("metadata-server"));
        return Promise.all(
          members.map(async (node): Promise<MetadataMemberDescription> => {
            const base = { node: node.plainId, address: node.address };
            try {
              const status = await metadata.status(node.address);
              return {
                ...base,
                role: status.role,
                term: status.term,
                leader: status.leader,
                commitIndex: status.commit,
                appliedIndex: status.applied,
                voters: status.voters,
                learners: status.learners,
              };
            } catch (error) {
              return {
                ...base,
                role: "unknown",
                term: 0,
                leader: 0,
                commitIndex: 0,
                appliedIndex: 0,
                problem: error instanceof Error ? error.message : String(error),
              };
            }
          }),
        );
      },
      stop: cleanUp,
    };
  } catch (error) {
    await cleanUp().catch(() => undefined);
    throw error;
  }
}
