#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.trim_threshold=33554432 node
/**
 * keel-server: one Keel node with every role, on its embedded single-node defaults.
 * Composition root: wires the adapters (files, LMDB, HTTP) into the runtime node.
 */

import {
  ConfigError,
  USAGE,
  loadConfig,
  type ServerConfig,
  startNodeServer,
} from "../node/io/index.js";
import { limitHeapGrowth, consoleLogger } from "../platform/io/index.js";
import { describeError, limits } from "../core/index.js";

async function run(config: ServerConfig): Promise<void> {
  const logger = consoleLogger(config.logLevel, config.nodeName, config.logFormat);
  const fatal = (error: unknown): void => {
    logger.error("fatal error, stopping the node (a restart replays the log)", {
      error: describeError(error),
    });
    process.exit(1);
  };
  const starting = startNodeServer({ config, onFatal: fatal, logger, reserveNodePort: true });

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
    // A signal during the start stops the node once it has started (or failed to).
    await starting.then(
      (server) => server.stop(),
      () => undefined,
    );
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));

  const { ingressUrl, adminUrl, ingressPort, adminPort, dataDir } = await starting;
  const edges = [
    ...(ingressPort === 0 ? [] : [`ingress ${ingressUrl}/`]),
    ...(adminPort === 0 ? [] : [`admin ${adminUrl}/`]),
  ];
  process.stdout.write(
    `Keel is ready: ${edges.length === 0 ? "no HTTP edges" : edges.join(" ")} (node ${config.nodeName}, data ${dataDir})\n`,
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
