/**
 * The demo's network, in userspace (the kernel here has no netem):
 * - a latency proxy in front of each region's node port: every byte between two regions waits the
 *   one-way latency in each direction, so a round trip between regions costs twice the setting;
 * - a balancer in front of the regions' service endpoints, standing for a load-balanced deployment
 *   URL: a new connection goes to the next endpoint that accepts it.
 * A region's proxy is closed when the region is killed, so its node port refuses connections as a
 * dead machine's address would once the kernel answers.
 */
import { createServer, connect, type Server, type Socket } from "node:net";

export interface Listening {
  readonly port: number;
  close(): void;
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      resolve(typeof address === "object" && address !== null ? address.port : port);
    });
  });
}

/** Forwards `from` to `to`, each chunk `delayMs` later, in order. */
function delayedPipe(from: Socket, to: Socket, delayMs: number): void {
  from.on("data", (chunk: Buffer) => {
    if (delayMs <= 0) to.write(chunk);
    // Timers of one duration fire in the order they were set, so chunks stay in order.
    else setTimeout(() => to.destroyed || to.write(chunk), delayMs);
  });
  from.on("end", () => setTimeout(() => to.destroyed || to.end(), delayMs));
}

/** One connection's two sockets live and die together (a close after the data still on its way). */
function tie(a: Socket, b: Socket, delayMs = 0): void {
  const reset = (): void => {
    a.resetAndDestroy();
    b.resetAndDestroy();
  };
  a.on("error", reset);
  b.on("error", reset);
  a.on("close", () => setTimeout(() => b.destroyed || b.destroy(), delayMs));
  b.on("close", () => setTimeout(() => a.destroyed || a.destroy(), delayMs));
}

/** A proxy on `port` (0: any) to `targetPort`, adding `delayMs` each way. */
export async function latencyProxy(
  port: number,
  targetPort: number,
  delayMs: number,
): Promise<Listening> {
  const sockets = new Set<Socket>();
  const server = createServer((inbound) => {
    inbound.setNoDelay(true);
    const outbound = connect({ host: "127.0.0.1", port: targetPort });
    outbound.setNoDelay(true);
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    }
    tie(inbound, outbound, delayMs);
    delayedPipe(inbound, outbound, delayMs);
    delayedPipe(outbound, inbound, delayMs);
  });
  const bound = await listen(server, port);
  return {
    port: bound,
    close() {
      server.close();
      for (const socket of sockets) socket.resetAndDestroy();
    },
  };
}

/** A balancer on a free port over the given backends (ports); `alive` says which to try. */
export async function balancer(
  backends: readonly number[],
  alive: (index: number) => boolean,
): Promise<Listening> {
  let next = 0;
  const sockets = new Set<Socket>();
  const server = createServer((inbound) => {
    inbound.pause();
    sockets.add(inbound);
    inbound.on("close", () => sockets.delete(inbound));
    inbound.on("error", () => inbound.destroy());
    const tryBackend = (attempt: number): void => {
      if (attempt >= backends.length || inbound.destroyed) {
        inbound.resetAndDestroy();
        return;
      }
      const index = next++ % backends.length;
      if (!alive(index)) {
        tryBackend(attempt + 1);
        return;
      }
      const outbound = connect({ host: "127.0.0.1", port: backends[index]! });
      outbound.once("error", () => tryBackend(attempt + 1));
      outbound.once("connect", () => {
        outbound.removeAllListeners("error");
        sockets.add(outbound);
        outbound.on("close", () => sockets.delete(outbound));
        tie(inbound, outbound);
        inbound.pipe(outbound);
        outbound.pipe(inbound);
        inbound.resume();
      });
    };
    tryBackend(0);
  });
  const port = await listen(server, 0);
  return {
    port,
    close() {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}
