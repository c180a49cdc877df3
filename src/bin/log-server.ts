#!/usr/bin/env node
/**
 * A stand-alone log-server process: the replicated loglet's log-server role on the node transport,
 * with its records in segment files. Used by the loglet benchmark (bench/loglet.mjs) and for manual
 * clusters until keel-server hosts the role.
 *
 *   node dist/src/bin/log-server.js --node 1 --data ./data/n1 [--host 127.0.0.1] [--port 5122]
 *        [--peers 2=127.0.0.1:5123,3=127.0.0.1:5124]
 *
 * Each start takes the next generation (persisted in `<data>/generation`), so a restarted process is a
 * new incarnation. Prints one JSON line `{"ready":true,"node":1,"port":5122,"generation":3}` when it
 * listens; stops cleanly on SIGTERM or SIGINT.
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { systemClock, readNumberFile, writeFileDurably } from "../platform/io/index.js";
import { FileLogServerStore } from "../log-server/io/index.js";
import { DEFAULT_NODE_PORT, TcpTransport, type PeerAddress } from "../net/io/index.js";
import { generationalNodeId, NodeId, seededPrng } from "../core/index.js";
import { DEFAULT_LOGLET_LIMITS, LogletNode } from "../bifrost/index.js";
import { LogServerNode } from "../log-server/index.js";
import { mkdir } from "node:fs/promises";
import { randomInt } from "node:crypto";

function parsePeers(text: string): Map<NodeId, PeerAddress> {
  const peers = new Map<NodeId, PeerAddress>();
  for (const item of text.split(",").filter((s) => s.length > 0)) {
    const match = /^(\d+)=([^:]+):(\d+)$/.exec(item);
    if (match === null) throw new Error(`--peers: expected id=host:port, found '${item}'`);
    peers.set(NodeId(Number(match[1])), { host: match[2]!, port: Number(match[3]) });
  }
  return peers;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      node: { type: "string" },
      data: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: String(DEFAULT_NODE_PORT) },
      peers: { type: "string", default: "" },
    },
    strict: true,
  });
  if (values.node === undefined || values.data === undefined) {
    throw new Error("usage: log-server --node N --data DIR [--host H] [--port P] [--peers ...]");
  }
  const node = NodeId(Number(values.node));
  await mkdir(values.data, { recursive: true });
  const generation = ((await readNumberFile(join(values.data, "generation"))) ?? 0) + 1;
  await writeFileDurably(values.data, "generation", String(generation));
  const peers = parsePeers(values.peers);
  const transport = await TcpTransport.start({
    self: node,
    generation,
    listen: { host: values.host, port: Number(values.port) },
    peers: () => peers,
  });
  const { store, recovered } = await FileLogServerStore.open(join(values.data, "log-store"));
  const self = generationalNodeId(node, generation);
  const logServer = new LogServerNode({
    self,
    transport,
    store,
    recovered,
    onStoreFailure: (error) => {
      console.error(`log-server ${node}: ${error.message}`);
      process.exit(1);
    },
  });
  // Sequencers of loglets that name this node run here too.
  const loglet = new LogletNode({
    self,
    transport,
    clock: systemClock,
    prng: seededPrng(randomInt(0, 2 ** 32)),
    topology: new Map(),
    limits: DEFAULT_LOGLET_LIMITS,
  });
  const stop = (): void => {
    loglet.shutdown();
    logServer.shutdown();
    void transport
      .close()
      .then(() => store.close())
      .then(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  console.log(JSON.stringify({ ready: true, node, port: transport.port, generation }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
