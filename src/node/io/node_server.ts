/**
 * One Keel node with its HTTP edges, composed from the adapters: the data directory (locked), the
 * LMDB partition stores, the local loglets, the file metadata store, the endpoint transport, the
 * runtime node, the ingress and the admin API. `keel-server` runs it as a process; the test kit
 * (`src/testing`) runs it inside a user's test process, so nothing here may exit the process: a
 * fatal error goes to the caller's `onFatal`, a refused start is thrown, and `stop()` releases every
 * port, file handle and thread it took.
 */

import { mkdirSync, readFileSync } from "node:fs";
import { createServer, type AddressInfo, type Server as NetServer } from "node:net";
import { join } from "node:path";
import { X509Certificate, createHash } from "node:crypto";
import { createSecureContext } from "node:tls";
import { replicationOf, type ServerConfig } from "./config.js";
import { joinCluster, type JoinedCluster } from "./cluster.js";
import type { LogletProvider } from "../../bifrost/index.js";
import { AdminApi } from "../../admin/io/index.js";
import { dataDirLayout } from "./data_dir.js";
import { lockDirectory } from "./dir_lock.js";
import { FileMetadataStore } from "../../metadata/io/index.js";
import {
  AccessToken,
  HttpApiServer,
  listenOn,
  describeDamagedTail,
  type TlsCredentials,
  consoleLogger,
  logLevelsOf,
  moduleLogger,
  systemClock,
  systemEntropy,
} from "../../platform/io/index.js";
import { HttpIngress, KafkaIngress } from "../../ingress/io/index.js";
import { openLmdbEnvironment } from "../../partition-store/io/index.js";
import { SnapshotRepository } from "../../partition-store/index.js";
import { openObjectStore } from "../../object-store/io/index.js";
import { LocalLogletProvider } from "../../bifrost/io/index.js";
import {
  EndpointClient,
  WorkerEndpointTransport,
  readSigningKeyFile,
  type EndpointClientSettings,
} from "../../invoker/io/index.js";
import { KeelError, utf8 } from "../../core/index.js";
import { ClusterCredentials, type NodeTls } from "../../net/io/index.js";
import { KeelNode } from "../index.js";
import type { Clock, Logger } from "../../platform/index.js";
import type { EndpointTransport } from "../../invoker/index.js";
import {
  OpenTelemetryTracing,
  PrometheusMetrics,
  metricsHandler,
} from "../../observability/io/index.js";

/** Snapshot checksums with node:crypto (core's SHA-256 took over half of a snapshot's time). */
const sha256Hash = () => createHash("sha256");

export interface NodeServerOptions {
  /** Ports may be 0: the system picks free ones, and the running server reports them. */
  readonly config: ServerConfig;
  /** A broken invariant inside the node (the node must not go on). */
  readonly onFatal: (error: unknown) => void;
  /** Time of the node (default: the system clock). */
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Wraps the transport to the services' endpoints (default: used as it is). */
  readonly wrapTransport?: (transport: EndpointTransport) => EndpointTransport;
  /**
   * Listen on the node-to-node port. A single node has no peers: keel-server listens there for
   * `GET /metrics` only (or, with metrics off, only reserves the port).
   */
  readonly reserveNodePort?: boolean;
}

export interface RunningNodeServer {
  readonly node: KeelNode;
  readonly dataDir: string;
  /** The host and ports clients reach the node at (a wildcard bind address is given as loopback). */
  readonly advertisedHost: string;
  readonly ingressPort: number;
  readonly adminPort: number;
  readonly ingressUrl: string;
  readonly adminUrl: string;
  readonly logger: Logger;
  /** The node's metrics (none with `disable-metrics`); keel-server serves them on the node port. */
  readonly metrics: PrometheusMetrics | undefined;
  /** Closes the edges, stops the node, closes the stores and unlocks the directory. */
  stop(): Promise<void>;
}

/** Opens the data directory and serves the node; the partitions are open when it resolves. */
export async function startNodeServer(options: NodeServerOptions): Promise<RunningNodeServer> {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const logger =
    options.logger ?? consoleLogger(config.logLevel, config.nodeName, config.logFormat);
  // The admin API changes the levels at run time, when the logger has them (a caller's may not).
  const levels = logLevelsOf(logger);
  // Keys and certificates are read before anything is taken: a bad file refuses the start.
  const security = readSecurityFiles(config);
  if (security.publicKeyId !== undefined)
    logger.info("signing requests to service endpoints (request identity v1)", {
      publicKey: security.publicKeyId,
    });
  const dataDir = join(config.baseDir, config.nodeName);
  mkdirSync(dataDir, { recursive: true });
  const unlock = lockDirectory(dataDir);
  const layout = dataDirLayout(dataDir);
  let stores: Awaited<ReturnType<typeof openLmdbEnvironment>>["environment"];
  try {
    const opened = await openLmdbEnvironment(layout.partitionStores, (error) =>
      logger.warn("partition store write failed; retrying", { error: error.message }),
    );
    stores = opened.environment;
    if (opened.rebuilt)
      logger.warn(
        "the machine restarted while the partition stores were open; rebuilding them from the logs",
      );
  } catch (error) {
    unlock();
    throw error;
  }
  const localLoglets = new LocalLogletProvider(layout.localLogletRoot, {
    noSync: config.unsafeNoFsync,
    onTailCut: (tail) =>
      logger.warn(
        "cut a torn tail of the log: a write the previous process did not finish (never acknowledged)",
        { damage: describeDamagedTail(tail) },
      ),
  });
  let snapshotStore: Awaited<ReturnType<typeof openObjectStore>>;
  try {
    snapshotStore = await openObjectStore(config.snapshotDestination, {
      ...(config.snapshotS3Endpoint === "" ? {} : { endpoint: config.snapshotS3Endpoint }),
      ...(config.snapshotS3Region === "" ? {} : { region: config.snapshotS3Region }),
      pathStyle: config.snapshotS3PathStyle,
    });
  } catch (error) {
    await stores.close().catch(() => undefined);
    unlock();
    throw error;
  }
  const host = config.bindAddress;
  const advertisedHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  const advertisedAddress =
    config.advertisedAddress === ""
      ? `${advertisedHost}:${config.nodePort}`
      : config.advertisedAddress;
  const metrics = config.disableMetrics ? undefined : new PrometheusMetrics();
  const tracing =
    config.tracingEndpoint === ""
      ? undefined
      : new OpenTelemetryTracing({ endpoint: config.tracingEndpoint, nodeName: config.nodeName });
  // `GET /metrics` on the node port, as Restate serves it: a cluster node's transport hands over the
  // connections that open with an HTTP request; a single node (keel-server) listens there itself.
  const metricsServer =
    metrics === undefined ? undefined : new HttpApiServer("node", metricsHandler(metrics));
  let cluster: JoinedCluster | undefined;
  if (config.metadataServers.length > 0) {
    try {
      cluster = await joinCluster({
        clusterName: config.clusterName,
        nodeName: config.nodeName,
        dataDir,
        listenHost: host,
        nodePort: config.nodePort,
        advertisedAddress,
        metadataServers: config.metadataServers,
        autoProvision: config.autoProvision,
        singleNodeMetadataFile: layout.metadataFile,
        roles: config.roles,
        location: config.location,
        replication: replicationOf(config),
        noSync: config.unsafeNoFsync,
        ...(config.clusterSecret === undefined
          ? {}
          : {
              credentials: new ClusterCredentials(utf8(config.clusterSecret), config.clusterName),
            }),
        ...(security.nodeTls === undefined ? {} : { tls: security.nodeTls }),
        logger: moduleLogger(logger, "cluster"),
        onFatal: options.onFatal,
        ...(metricsServer === undefined
          ? {}
          : { nodePortHttp: (socket, firstBytes) => metricsServer.adopt(socket, firstBytes) }),
        ...(metrics === undefined ? {} : { metrics }),
      });
    } catch (error) {
      await metricsServer?.close();
      await tracing?.close().catch(() => undefined);
      await stores.close().catch(() => undefined);
      unlock();
      throw error;
    }
  }
  const transport = new WorkerEndpointTransport(
    moduleLogger(logger, "endpoint"),
    security.endpointClient,
  );
  const node = new KeelNode(
    {
      nodeName: config.nodeName,
      partitions: config.partitions,
      partitionsRequired: config.partitionsSet === true,
      clusterName: config.clusterName,
      invokerConcurrencyMax: config.concurrentInvocationsLimit,
      invokerBackgroundStartingMax: config.oneWayStartingLimit,
      timeoutDefaults: {
        inactivityTimeoutMs: config.inactivityTimeoutMs,
        abortTimeoutMs: config.abortTimeoutMs,
      },
      snapshots: {
        intervalRecords: config.snapshotIntervalRecords,
        retained: config.snapshotsRetained,
        everyNodeReaches: config.snapshotDestinationSet === true,
      },
      advertisedAddress,
      location: config.location,
    },
    {
      ...(cluster === undefined
        ? {
            metadata: FileMetadataStore.open(layout.metadataFile),
            loglets: new Map([["local", localLoglets]]),
            initialLoglet: () => ({ provider: "local", params: "{}" }),
            snapshots: new SnapshotRepository(
              snapshotStore,
              moduleLogger(logger, "snapshots"),
              sha256Hash,
            ),
          }
        : {
            metadata: cluster.metadata,
            // Only a single node grown into the cluster has local segments, and only it may open
            // them (another node would find an empty log of its own there).
            loglets: new Map<string, LogletProvider>([
              ...(cluster.grownFromSingleNode
                ? [["local", localLoglets] as [string, LogletProvider]]
                : []),
              ["replicated", cluster.provider],
            ]),
            initialLoglet: (logId: number) => cluster.newSegment(logId, 0),
            snapshots: new SnapshotRepository(
              snapshotStore,
              moduleLogger(logger, "snapshots"),
              sha256Hash,
            ),
            cluster: {
              registration: cluster.registration,
              transport: cluster.transport,
              roles: config.roles,
              replication: replicationOf(config),
              newSegment: (logId: number, index: number) => cluster.newSegment(logId, index),
              nodesetTargetSize: () => cluster.nodesetTargetSize(),
              metadataMembers: () => cluster.metadataMembers(),
            },
          }),
      openPartitionStore: (p) => stores.partition(p),
      transport: options.wrapTransport?.(transport) ?? transport,
      clock,
      entropy: systemEntropy,
      logger,
      onFatal: options.onFatal,
      storageProblem: () => (localLoglets.failure ?? stores.failure)?.message,
      ...(metrics === undefined ? {} : { metrics }),
      ...(tracing === undefined ? {} : { tracing }),
    },
  );
  metrics?.observe({
    runningAttempts: () => node.invoker.runningAttempts,
    queuedInvocations: () => node.invoker.queuedInvocations,
    backingOffInvocations: () => node.invoker.backingOffInvocations,
    partitions: () => node.partitionProcessors.map((p) => p.status()),
    snapshots: () =>
      node.partitionProcessors.flatMap((p) => node.snapshots?.latest(p.partitionId) ?? []),
    nowMs: () => clock.nowMs(),
    ...(cluster?.metadataMember === undefined ? {} : { metadataMember: cluster.metadataMember }),
  });
  const ingress = new HttpIngress(node, systemEntropy, moduleLogger(logger, "ingress"), {
    bodyBytesMax: config.ingressBodyBytesMax,
    ...(metrics === undefined ? {} : { metrics }),
    ...(tracing === undefined ? {} : { tracing }),
    ...(security.tls === undefined ? {} : { tls: security.tls }),
    ...(config.ingressToken === undefined
      ? {}
      : { accessToken: new AccessToken(config.ingressToken) }),
  });
  // Kafka subscriptions are consumed where the ingress runs (every node of a cluster with the role:
  // the consumer group shares the topic's partitions among them).
  const kafka = config.roles.includes("http-ingress")
    ? new KafkaIngress(node, config.kafkaClusters ?? [], moduleLogger(logger, "ingress"), {
        pauseQueuedInvocations: config.kafkaPauseQueuedInvocations,
      })
    : undefined;
  if (metrics !== undefined && kafka !== undefined)
    metrics.observeSubscriptions(() => kafka.status().flatMap((s) => s.partitions));
  const scheme = security.tls === undefined ? "http" : "https";
  // The admin API names the ingress's address, so the ingress listens first (its port may be 0).
  let admin: AdminApi | undefined;
  // A single node has no peers to talk to on its node port: it serves metrics there, or only
  // reserves the port for node-to-node traffic when metrics are off.
  const singleNodePort = options.reserveNodePort === true && cluster === undefined;
  const metricsListens = singleNodePort && metricsServer !== undefined;
  const nodePort =
    singleNodePort && metricsServer === undefined
      ? createServer((socket) => socket.destroy())
      : undefined;
  const closeEdges = async (): Promise<void> => {
    await kafka?.stop();
    await Promise.allSettled([
      ingress.close(),
      admin?.close(),
      metricsServer?.close(),
      nodePort === undefined ? undefined : new Promise((r) => nodePort.close(r)),
    ]);
  };

  let ingressPort: number;
  let adminPort: number;
  try {
    if (nodePort !== undefined) await listenOn(nodePort, config.nodePort, host, "node");
    if (metricsListens) await metricsServer.listen(config.nodePort, host);
    // A cluster node serves only the edges of its roles (port 0: not served).
    ingressPort = config.roles.includes("http-ingress")
      ? boundPort(await ingress.listen(config.ingressPort, host))
      : 0;
    const ingressUrl = `${scheme}://${advertisedHost}:${ingressPort}/`;
    admin = new AdminApi(node, moduleLogger(logger, "admin"), {
      ingressUrl,
      endpointClient: new EndpointClient(security.endpointClient),
      ...(metrics === undefined ? {} : { metrics }),
      ...(levels === undefined ? {} : { logLevels: levels }),
      kafkaClusters: config.kafkaClusters ?? [],
      ...(kafka === undefined ? {} : { subscriptionStatus: () => kafka.status() }),
      ...(security.tls === undefined ? {} : { tls: security.tls }),
      ...(config.adminToken === undefined
        ? {}
        : { accessToken: new AccessToken(config.adminToken) }),
    });
    adminPort = config.roles.includes("admin")
      ? boundPort(await admin.listen(config.adminPort, host))
      : 0;
    logger.info("starting partitions", { partitions: config.partitions, dataDir });
    await node.start();
    kafka?.start();
  } catch (error) {
    const explained = await explainRefusedStart(error, localLoglets, dataDir);
    await closeEdges();
    await node.stop().catch(() => undefined);
    await cluster?.stop().catch(() => undefined);
    await stores.close().catch(() => undefined);
    await tracing?.close().catch(() => undefined);
    unlock();
    throw explained;
  }

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await closeEdges();
      await node.stop();
      await cluster?.stop();
      await stores.close();
      // The spans that ended are exported before the process goes.
      await tracing?.close().catch(() => undefined);
      unlock();
    })();
    return stopped;
  };
  return {
    node,
    dataDir,
    advertisedHost,
    ingressPort,
    adminPort,
    ingressUrl: `${scheme}://${advertisedHost}:${ingressPort}`,
    adminUrl: `${scheme}://${advertisedHost}:${adminPort}`,
    logger,
    metrics,
    stop,
  };
}

interface SecurityFiles {
  readonly endpointClient: EndpointClientSettings;
  readonly publicKeyId?: string;
  readonly tls?: TlsCredentials;
  readonly nodeTls?: NodeTls;
}

/** Reads the request-identity key, the TLS credentials and the endpoints' CA, checking each. */
function readSecurityFiles(config: ServerConfig): SecurityFiles {
  const read = (setting: string, file: string): string => {
    try {
      return readFileSync(file, "utf8");
    } catch (error) {
      throw new KeelError(
        "bad_request",
        `${setting}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
    }
  };
  const key =
    config.requestIdentityPrivateKeyPemFile === undefined
      ? undefined
      : readSigningKeyFile(config.requestIdentityPrivateKeyPemFile);
  const ca =
    config.endpointCaFile === undefined
      ? undefined
      : checkedCertificates("endpoint-ca-file", config.endpointCaFile, read);
  let tls: TlsCredentials | undefined;
  if (config.tlsCertFile !== undefined && config.tlsKeyFile !== undefined) {
    tls = {
      cert: checkedCertificates("tls-cert-file", config.tlsCertFile, read),
      key: read("tls-key-file", config.tlsKeyFile),
    };
    try {
      createSecureContext(tls);
    } catch (error) {
      throw new KeelError(
        "bad_request",
        `tls-cert-file ${config.tlsCertFile} and tls-key-file ${config.tlsKeyFile}: not a certificate and its private key in PEM format (${(error as Error).message})`,
      );
    }
  }
  let nodeTls: NodeTls | undefined;
  if (
    config.nodeTlsCertFile !== undefined &&
    config.nodeTlsKeyFile !== undefined &&
    config.nodeTlsCaFile !== undefined
  ) {
    nodeTls = {
      cert: checkedCertificates("node-tls-cert-file", config.nodeTlsCertFile, read),
      key: read("node-tls-key-file", config.nodeTlsKeyFile),
      ca: checkedCertificates("node-tls-ca-file", config.nodeTlsCaFile, read),
    };
    try {
      createSecureContext(nodeTls);
    } catch (error) {
      throw new KeelError(
        "bad_request",
        `node-tls-cert-file ${config.nodeTlsCertFile} and node-tls-key-file ${config.nodeTlsKeyFile}: not a certificate and its private key in PEM format (${(error as Error).message})`,
      );
    }
  }
  return {
    ...(nodeTls === undefined ? {} : { nodeTls }),
    endpointClient: {
      ...(key === undefined ? {} : { identityKeyPem: key.pem }),
      ...(ca === undefined ? {} : { trustedCaPem: ca }),
    },
    ...(key === undefined ? {} : { publicKeyId: key.publicKeyId }),
    ...(tls === undefined ? {} : { tls }),
  };
}

/** A PEM file of certificates, each of which parses. */
function checkedCertificates(
  setting: string,
  file: string,
  read: (setting: string, file: string) => string,
): string {
  const text = read(setting, file);
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0)
    throw new KeelError("bad_request", `${setting} ${file}: no certificate in PEM format`);
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw new KeelError(
        "bad_request",
        `${setting} ${file}: a certificate does not parse (${(error as Error).message})`,
      );
    }
  }
  return text;
}

function boundPort(server: NetServer): number {
  return (server.address() as AddressInfo).port;
}

/**
 * A start refused over damaged logs says what to do next: a torn tail left uncut because partition
 * stores applied records in it (so it was durable), or damage the log itself refused to cut.
 */
async function explainRefusedStart(
  error: unknown,
  loglets: LocalLogletProvider,
  dataDir: string,
): Promise<unknown> {
  if (!(error instanceof KeelError && error.code === "storage")) return error;
  const repair =
    `Restore the file from a backup, or accept losing the damaged frame and every frame after it ` +
    `with 'keel-replay --data-dir ${dataDir} --accept-damaged-tail' (the partition stores are then ` +
    `rebuilt from the logs)`;
  if (/refusing to recover/.test(error.message))
    return new KeelError("storage", `${error.message}. ${repair}`, false, { cause: error });
  const damaged = await loglets.logStore().then(
    (store) => store.damagedTail,
    () => undefined,
  );
  if (damaged === undefined) return error;
  return new KeelError(
    "storage",
    `${error.message}. The newest log file ends in a damaged frame that this start did not cut, ` +
      `since partition stores applied records in it (it was durable): ` +
      `${describeDamagedTail(damaged)}; the file is untouched. ${repair}`,
    false,
    { cause: error },
  );
}
