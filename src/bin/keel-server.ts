#!/usr/bin/env node
/**
 * keel-server: one Keel node with every role, on its embedded single-node defaults.
 * Composition root: wires the adapters (files, LMDB, HTTP) into the runtime node.
 */

import { mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { ConfigError, USAGE, loadConfig, type ServerConfig } from "../node/io/config.js";
import { AdminApi } from "../admin/io/admin_http.js";
import { dataDirLayout } from "../node/io/data_dir.js";
import { lockDirectory } from "../node/io/dir_lock.js";
import { WorkerEndpointTransport } from "../invoker/io/worker_endpoint_transport.js";
import { FileMetadataStore } from "../metadata/io/file_metadata_store.js";
import { limitHeapGrowth } from "../platform/io/heap_growth.js";
import { listenOn } from "../platform/io/http_util.js";
import { HttpIngress } from "../ingress/io/ingress_http.js";
import { openLmdbEnvironment } from "../partition-store/io/lmdb_store.js";
import { LocalLogletProvider } from "../bifrost/local/io/local_loglet.js";
import { describeDamagedTail } from "../platform/io/segment_files.js";
import { consoleLogger, systemClock, systemEntropy } from "../platform/io/system.js";
import { KeelError, describeError } from "../core/errors.js";
import { limits } from "../core/limits.js";
import { KeelNode } from "../node/node.js";

async function run(config: ServerConfig): Promise<void> {
  const dataDir = join(config.baseDir, config.nodeName);
  mkdirSync(dataDir, { recursive: true });
  const unlock = lockDirectory(dataDir);
  const logger = consoleLogger(config.logLevel, config.nodeName);
  const fatal = (error: unknown): void => {
    logger.error("fatal error, stopping the node (a restart replays the log)", {
      error: describeError(error),
    });
    process.exit(1);
  };
  const layout = dataDirLayout(dataDir);
  const { environment: stores, rebuilt } = await openLmdbEnvironment(
    layout.partitionStores,
    (error) => logger.warn("partition store write failed; retrying", { error: error.message }),
  );
  if (rebuilt)
    logger.warn(
      "the machine restarted while the partition stores were open; rebuilding them from the logs",
    );
  const localLoglets = new LocalLogletProvider(layout.localLogletRoot, {
    noSync: config.unsafeNoFsync,
    onTailCut: (tail) =>
      logger.warn(
        "cut a torn tail of the log: a write the previous process did not finish (never acknowledged)",
        { damage: describeDamagedTail(tail) },
      ),
  });
  const host = config.bindAddress;
  const advertised = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  const node = new KeelNode(
    {
      nodeName: config.nodeName,
      partitions: config.partitions,
      clusterName: config.clusterName,
      invokerConcurrencyMax: config.concurrentInvocationsLimit,
      invokerBackgroundStartingMax: config.oneWayStartingLimit,
      timeoutDefaults: {
        inactivityTimeoutMs: config.inactivityTimeoutMs,
        abortTimeoutMs: config.abortTimeoutMs,
      },
    },
    {
      metadata: FileMetadataStore.open(layout.metadataFile),
      loglets: new Map([["local", localLoglets]]),
      initialLoglet: () => ({ provider: "local", params: "{}" }),
      openPartitionStore: (p) => stores.partition(p),
      transport: new WorkerEndpointTransport(logger),
      clock: systemClock,
      entropy: systemEntropy,
      logger,
      onFatal: fatal,
      storageProblem: () => (localLoglets.failure ?? stores.failure)?.message,
    },
  );
  const ingress = new HttpIngress(node, systemEntropy, logger, {
    bodyBytesMax: config.ingressBodyBytesMax,
  });
  const admin = new AdminApi(node, logger, {
    ingressUrl: `http://${advertised}:${config.ingressPort}/`,
  });
  // The node port is reserved for node-to-node traffic; a single node has no peers to talk to yet.
  const nodePort = createServer((socket) => socket.destroy());

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info(`received ${signal}, shutting down`);
    const force = setTimeout(() => {
      logger.error("shutdown timed out, exiting");
      process.exit(1);
    }, limits.shutdownTimeoutMs);
    force.unref();
    await Promise.allSettled([
      ingress.close(),
      admin.close(),
      new Promise((r) => nodePort.close(r)),
    ]);
    await node.stop();
    await stores.close();
    unlock();
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));

  try {
    await listenOn(nodePort, config.nodePort, host, "node");
    await admin.listen(config.adminPort, host);
    await ingress.listen(config.ingressPort, host);
    logger.info("starting partitions", { partitions: config.partitions, dataDir });
    await node.start();
  } catch (error) {
    unlock();
    throw await explainRefusedStart(error, localLoglets, dataDir);
  }
  process.stdout.write(
    `Keel is ready: ingress http://${advertised}:${config.ingressPort}/ admin http://${advertised}:${config.adminPort}/ (node ${config.nodeName}, data ${dataDir})\n`,
  );
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

/**
 * lmdb-js rejects, besides the batch promise the store handles (and retries), internal promises of a
 * failed write transaction that nobody can hold. Those carry `commitError`; any other unhandled
 * rejection is a bug and stops the node, as Node would.
 */
function handleUnhandledRejections(): void {
  process.on("unhandledRejection", (reason) => {
    const commitError = (reason as { commitError?: Promise<unknown> } | undefined)?.commitError;
    if (commitError !== undefined) {
      commitError.catch(() => undefined);
      return;
    }
    process.stderr.write(`keel-server: unhandled rejection: ${describeError(reason)}\n`);
    process.exit(1);
  });
}

function main(): void {
  limitHeapGrowth();
  handleUnhandledRejections();
  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`keel-server: ${error.message}\n\n${USAGE}`);
      process.exit(2);
    }
    throw error;
  }
  if (loaded.help) {
    process.stdout.write(USAGE);
    return;
  }
  run(loaded.config).catch((error: unknown) => {
    process.stderr.write(`keel-server: ${describeError(error)}\n`);
    process.exit(1);
  });
}

main();
