/** The loglet contract for the replicated provider on loopback TCP and file-backed stores. */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { FileLogServerStore } from "../../src/log-server/io/file_log_store.js";
import { TcpTransport } from "../../src/net/io/tcp_transport.js";
import { NodeId } from "../../src/core/node_id.js";
import { describeOn } from "./replicated_cluster.js";

const root = mkdtempSync(join(tmpdir(), "keel-replicated-loglet-"));
after(() => rmSync(root, { recursive: true, force: true }));
const transports = new Map<number, TcpTransport>();
const stores = new Map<number, FileLogServerStore>();
const ports = new Map<number, number>();
const peers = (): Map<NodeId, { host: string; port: number }> =>
  new Map([...ports].map(([n, port]) => [NodeId(n), { host: "127.0.0.1", port }]));

describeOn("tcp and files", {
  async transport(node, generation) {
    const transport = await TcpTransport.start({
      self: NodeId(node),
      generation,
      listen: { host: "127.0.0.1", port: ports.get(node) ?? 0 },
      peers: () => peers(),
    });
    ports.set(node, transport.port);
    transports.set(node, transport);
    return transport;
  },
  async store(node) {
    const opened = await FileLogServerStore.open(join(root, `node-${node}`), {
      segmentBytesTarget: 4096,
    });
    stores.set(node, opened.store);
    return opened;
  },
  async stop(node) {
    await transports.get(node)?.close();
    await stores.get(node)?.close();
  },
});
