#!/usr/bin/env node
/**
 * A standalone metadata-server node (the replicated metadata store's member, and nothing else), for
 * the metadata benchmark and end-to-end tests until keel-server hosts the role.
 *
 *   keel-metadata-node --name a --listen 127.0.0.1:5122 --auto-provision      first node, once
 *   keel-metadata-node --name b --listen 127.0.0.1:5123 --join 127.0.0.1:5122 other nodes
 *   keel-metadata-node --name b --listen 127.0.0.1:5123                       any restart
 *
 * Options: --cluster <name> (default "keel"), --data-dir <dir> (default ./keel-data/<name>/metadata),
 * --tick-ms <ms> (default 100: election after 10 to 20 ticks, heartbeats every 2),
 * --snapshot-interval <entries> (default 1000). Logs go to stderr; SIGTERM stops cleanly.
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { startMetadataNode } from "../metadata-server/io/index.js";

function parseHostPort(text: string): { host: string; port: number } {
  const separator = text.lastIndexOf(":");
  const port = Number(text.slice(separator + 1));
  if (separator <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new Error(`expected host:port, found '${text}'`);
  }
  return { host: text.slice(0, separator), port };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      name: { type: "string" },
      cluster: { type: "string", default: "keel" },
      listen: { type: "string" },
      "data-dir": { type: "string" },
      "auto-provision": { type: "boolean", default: false },
      join: { type: "string" },
      "tick-ms": { type: "string", default: "100" },
      "snapshot-interval": { type: "string", default: "1000" },
    },
    strict: true,
  });
  if (values.name === undefined || values.listen === undefined) {
    throw new Error("--name and --listen are required");
  }
  const { host, port } = parseHostPort(values.listen);
  const tickMs = Number(values["tick-ms"]);
  const snapshotIntervalEntries = Number(values["snapshot-interval"]);
  if (!(tickMs > 0) || !Number.isInteger(snapshotIntervalEntries) || snapshotIntervalEntries < 1) {
    throw new Error("--tick-ms must be positive and --snapshot-interval a positive integer");
  }
  const name = values.name;
  const log = (line: string): void => {
    process.stderr.write(`${new Date().toISOString()} ${name}: ${line}\n`);
  };
  const node = await startMetadataNode({
    clusterName: values.cluster,
    name,
    dataDir: values["data-dir"] ?? join("keel-data", name, "metadata"),
    listenHost: host,
    listenPort: port,
    autoProvision: values["auto-provision"],
    join: values.join === undefined ? [] : values.join.split(",").map((s) => s.trim()),
    tickMs,
    snapshotIntervalEntries,
    log,
  });
  log("ready");
  process.once("SIGTERM", () => {
    void node.stop().then(() => process.exit(0));
  });
}

main().catch((error: unknown) => {
  process.stderr.write(
    `keel-metadata-node: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
