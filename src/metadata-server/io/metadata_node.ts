/**
 * Composition of a metadata-server member and of metadata clients on real I/O: the node transport, file
 * storage with fsync, Node timers, a PRNG seeded from the OS. Used by src/bin/keel-metadata-node.ts
 * and meant for keel-server (its `metadata-server` role and every node's metadata client).
 *
 * Start-up of a member (see src/metadata-server/provisioning.ts for the rules):
 * - it has Raft state on disk → restart: recover and run; register to bump the generation.
 * - `autoProvision` → write the provisioned state (plain id 1) and run.
 * - `join` seeds → register by name (plain id), start empty, ask the leader to add it until it votes.
 */

import { randomBytes, randomInt } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join as joinPath } from "node:path";
import { NodeId, seededPrng } from "../../core/index.js";
import { TcpTransport, type NodePortSecurity, type PeerAddress } from "../../net/io/index.js";
import {
  DEFAULT_CLIENT_LIMITS,
  MetadataClientCore,
  type ClientLimits,
  MetadataMember,
  provisionedState,
  registerNode,
  type NodeIdentity,
  DEFAULT_RAFT_LIMITS,
  type RaftLimits,
  isMember,
  recoveredMembership,
  MemberId,
  DEFAULT_STATE_MACHINE_LIMITS,
  MetadataMemberDriver,
  ReplicatedMetadataStore,
} from "../index.js";
import { readJsonFile, writeFileDurably, nodeTicker } from "../../platform/io/index.js";
import { FileRaftStorage } from "./raft_file_storage.js";
import { ClientMetadataTransport, MemberMetadataTransport } from "./node_metadata_transport.js";

const NODE_MARKER_FILE = "metadata-node.json";

export interface MetadataNodeOptions {
  readonly clusterName: string;
  readonly name: string;
  readonly dataDir: string;
  readonly listenHost: string;
  readonly listenPort: number;
  readonly autoProvision: boolean;
  /** Node-port addresses (host:port) of members of an existing cluster, to join it. */
  readonly join: readonly string[];
  readonly tickMs: number;
  readonly snapshotIntervalEntries: number;
  readonly raftLimits?: RaftLimits;
  readonly log?: (line: string) => void;
  /** The member's storage failed: the default exits the process (a supervisor restarts it). */
  readonly onFatal?: (error: Error) => void;
}

export interface RunningMetadataNode {
  readonly memberId: MemberId;
  readonly address: string;
  readonly driver: MetadataMemberDriver;
  /** The node's own metadata client (linearizable store), connected to the cluster. */
  readonly store: ReplicatedMetadataStore;
  stop(): Promise<void>;
}

interface NodeMarker {
  readonly clusterName: string;
  readonly plainId: number;
}

/** The metadata client's tick: its limits (DEFAULT_CLIENT_LIMITS) count in these. */
export const CLIENT_TICK_MS = 10;

/** A metadata client for this process, reaching the cluster through `seeds` (node ports, host:port). */
export function connectMetadataStore(
  name: string,
  seeds: readonly string[],
  tickMs = CLIENT_TICK_MS,
  limits: ClientLimits = DEFAULT_CLIENT_LIMITS,
  security: NodePortSecurity = {},
): ReplicatedMetadataStore {
  const transport = new ClientMetadataTransport(
    `client:${name}:${randomBytes(6).toString("hex")}`,
    TcpTransport.client(security),
    true,
  );
  const core = new MetadataClientCore(
    transport.address,
    seeds,
    limits,
    seededPrng(randomInt(2 ** 31)),
  );
  return new ReplicatedMetadataStore(core, transport, nodeTicker, tickMs);
}

export interface MetadataMemberOptions {
  readonly memberId: MemberId;
  /** The member's node port, host:port, as written in the Raft membership. */
  readonly address: string;
  /** Holds the Raft state (provisioned already, or empty for a member that will join). */
  readonly dataDir: string;
  readonly node: TcpTransport;
  /** Whether stopping the member closes the node transport (false when the node shares it). */
  readonly ownsNode: boolean;
  /** Where the node transport looks up peers: the member adds the other members' addresses. */
  readonly memberAddresses: Map<NodeId, PeerAddress>;
  readonly tickMs: number;
  readonly snapshotIntervalEntries: number;
  readonly raftLimits?: RaftLimits;
  /** The member's storage failed: its state can no longer be trusted. */
  readonly onFatal: (error: Error) => void;
}

/** A running member; `isVoterAtStart` false means it must still ask to join (`store.join`). */
export type RunningMember = MetadataMemberDriver & { readonly isVoterAtStart: boolean };

/** Recovers a member's Raft state from its directory and runs it on the node transport. */
export async function runMetadataMember(options: MetadataMemberOptions): Promise<RunningMember> {
  const { storage, recovered } = await FileRaftStorage.open(options.dataDir);
  const transport = new MemberMetadataTransport(
    options.address,
    options.node,
    options.memberAddresses,
    options.ownsNode,
  );
  const member = new MetadataMember(
    {
      id: options.memberId,
      address: options.address,
      raftLimits: options.raftLimits ?? DEFAULT_RAFT_LIMITS,
      stateLimits: DEFAULT_STATE_MACHINE_LIMITS,
      snapshotIntervalEntries: options.snapshotIntervalEntries,
    },
    recovered,
    seededPrng(randomInt(2 ** 31)),
  );
  const driver = new MetadataMemberDriver(
    member,
    transport,
    storage,
    nodeTicker,
    options.tickMs,
    options.onFatal,
  );
  driver.start();
  return Object.assign(driver, {
    isVoterAtStart: isMember(recoveredMembership(recovered), options.memberId),
  });
}

export async function startMetadataNode(
  options: MetadataNodeOptions,
): Promise<RunningMetadataNode> {
  const log = options.log ?? (() => {});
  const address = `${options.listenHost}:${options.listenPort}`;
  const identity: NodeIdentity = { name: options.name, address, roles: ["metadata-server"] };
  // Our own address last: while joining, it is not a member yet.
  const seeds = [...options.join, address];
  const store = connectMetadataStore(options.name, seeds);
  await mkdir(options.dataDir, { recursive: true });
  let marker = await readJsonFile<NodeMarker>(joinPath(options.dataDir, NODE_MARKER_FILE));
  let created = false;
  if (marker === undefined || !(await FileRaftStorage.exists(options.dataDir))) {
    if (options.autoProvision) {
      await FileRaftStorage.provision(
        options.dataDir,
        provisionedState(options.clusterName, identity),
      );
      marker = { clusterName: options.clusterName, plainId: 1 };
      created = true;
      log(`provisioned cluster '${options.clusterName}' with ${options.name} as member 1`);
    } else if (options.join.length > 0) {
      const record = await registerNode(store, options.clusterName, identity);
      marker = { clusterName: options.clusterName, plainId: record.plainId };
      created = true;
      log(`registered ${options.name} as member ${record.plainId}; joining`);
    } else {
      throw new Error(
        `${options.dataDir} holds no metadata state: start with --auto-provision (on exactly one node) or --join`,
      );
    }
    await writeFileDurably(options.dataDir, NODE_MARKER_FILE, JSON.stringify(marker));
  }
  if (marker.clusterName !== options.clusterName) {
    throw new Error(`${options.dataDir} belongs to cluster '${marker.clusterName}'`);
  }
  const memberId = MemberId(marker.plainId);
  const memberAddresses = new Map<NodeId, PeerAddress>();
  const node = await TcpTransport.start({
    self: NodeId(marker.plainId),
    // Tells this incarnation from the last one until registration records its generation.
    generation: randomInt(1, 2 ** 32 - 1),
    listen: { host: options.listenHost, port: options.listenPort },
    peers: () => memberAddresses,
  });
  const driver = await runMetadataMember({
    memberId,
    address,
    dataDir: options.dataDir,
    node,
    ownsNode: true,
    memberAddresses,
    tickMs: options.tickMs,
    snapshotIntervalEntries: options.snapshotIntervalEntries,
    ...(options.raftLimits === undefined ? {} : { raftLimits: options.raftLimits }),
    onFatal: (error) => {
      log(`metadata member stopped: ${error.message}`);
      process.exit(70); // Storage can no longer be trusted: crash and let the supervisor restart us.
    },
  });
  log(`member ${memberId} listening on ${address}`);
  if (!driver.isVoterAtStart) {
    // Never yet a member (a fresh join, or a join interrupted by a crash): ask until we vote.
    await store.join(memberId, address);
    log(`member ${memberId} is a voter`);
  }
  if (!created) {
    // A restart: record the new incarnation (in the background; the cluster may be recovering).
    void registerNode(store, options.clusterName, identity).then(
      (record) => log(`generation ${record.generation}`),
      (error: unknown) => log(`could not bump the generation yet: ${String(error)}`),
    );
  }
  return {
    memberId,
    address,
    driver,
    store,
    stop: async () => {
      driver.stop();
      await store.close();
    },
  };
}
