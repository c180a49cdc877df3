// Small helpers shared by the orchestrator (bench.mjs), the A/B driver (ab.mjs) and the report scripts.
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

// The reference server: the project's devDependency @restatedev/restate-server, installed by `npm ci` in the
// project root. BENCH_RESTATE_BIN points the harness at another build.
export const RESTATE_BIN = process.env.BENCH_RESTATE_BIN ??
  path.join(ROOT, "node_modules/@restatedev/restate-server-linux-x64/bin/restate-server");

export const KEEL_SERVER = path.join(ROOT, "dist", "src", "bin", "keel-server.js");

// Server presets (bench.mjs --server NAME): each starts one node with every role on loopback with the server's own
// defaults, fsync included. {data} is a fresh data directory; the ports are substituted by bench.mjs.
export const SERVER_CMDS = {
  restate: `env TMPDIR={data} RESTATE_BIND_ADDRESS=127.0.0.1:{fabric_port} RESTATE_INGRESS__BIND_ADDRESS=127.0.0.1:{ingress_port} ` +
    `RESTATE_ADMIN__BIND_ADDRESS=127.0.0.1:{admin_port} ${RESTATE_BIN} --no-logo --node-name n1 --base-dir {data}`,
  keel: `${process.execPath} ${KEEL_SERVER} --base-dir {data} --node-name n1 --bind-address 127.0.0.1 ` +
    "--ingress-port {ingress_port} --admin-port {admin_port} --node-port {fabric_port} --log-level warn",
};
// Environment that turns each server's log fsync off (diagnosis only, never a headline result).
export const NO_FSYNC_ENV = {
  restate: { RESTATE_BIFROST__LOCAL__ROCKSDB_DISABLE_WAL_FSYNC: "true" },
  keel: { KEEL_UNSAFE_NO_FSYNC: "true" },
};

// Median of the defined values (null when there are none); the mean of the two middle values for an even count.
export function median(xs) {
  const s = xs.filter((x) => x !== null && x !== undefined && !Number.isNaN(x)).sort((a, b) => a - b);
  if (!s.length) return null;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

// Distinct free loopback ports: all stay bound until every one is read, so the OS cannot hand one out twice.
export async function freePorts(count) {
  const servers = Array.from({ length: count }, () => net.createServer());
  try {
    return await Promise.all(servers.map((server) => new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve(server.address().port));
    })));
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => (server.listening ? server.close(resolve) : resolve()))));
  }
}
