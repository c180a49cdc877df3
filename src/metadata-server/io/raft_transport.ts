/**
 * The smallest TCP transport for the metadata store's messages, behind the MetadataTransport port
 * (src/metadata-server/ports.ts). It is dedicated to metadata traffic and meant to be replaced by
 * the shared node-to-node transport (one multiplexed connection per peer on port 5122) once that
 * exists: nothing above the port depends on it.
 *
 * Frames are `u32 length | envelope bytes` (src/metadata-server/wire.ts). Members listen on host:port;
 * clients do not listen: a member answers a client over the connection the request came in on, found
 * by the sender's address in the envelope. Delivery is best effort: a message for a peer that is
 * unreachable is dropped (Raft and the client retry), and a peer that failed to connect is not
 * dialled again for `redialDelayMs`. Outgoing bytes per connection are bounded.
 */

import { createServer, connect, type Server, type Socket } from "node:net";
import { randomBytes } from "node:crypto";
import { readU32BE, writeU32BE } from "../../core/index.js";
import { DecodeError } from "../../wire/index.js";
import { decodeEnvelope, encodeEnvelope, type Envelope, type MetadataTransport } from "../index.js";

/** A frame larger than this is refused (and the connection closed). */
export const METADATA_FRAME_BYTES_MAX = 64 * 1024 * 1024;
/** Bytes queued on one connection at most; beyond, messages are dropped. */
const CONNECTION_BUFFERED_BYTES_MAX = 16 * 1024 * 1024;
const REDIAL_DELAY_MS = 200;
const CONNECT_TIMEOUT_MS = 1000;

function frameOf(envelope: Envelope): Uint8Array {
  const payload = encodeEnvelope(envelope);
  const frame = new Uint8Array(4 + payload.length);
  writeU32BE(frame, 0, payload.length);
  frame.set(payload, 4);
  return frame;
}

/** Splits a byte stream into frames. */
class FrameReader {
  private buffer = new Uint8Array(0);

  push(chunk: Uint8Array, onFrame: (payload: Uint8Array) => void): void {
    const joined = new Uint8Array(this.buffer.length + chunk.length);
    joined.set(this.buffer, 0);
    joined.set(chunk, this.buffer.length);
    let at = 0;
    while (joined.length - at >= 4) {
      const length = readU32BE(joined, at);
      if (length > METADATA_FRAME_BYTES_MAX)
        throw new DecodeError(`metadata frame of ${length} bytes`);
      if (joined.length - at - 4 < length) break;
      onFrame(joined.subarray(at + 4, at + 4 + length));
      at += 4 + length;
    }
    this.buffer = joined.slice(at);
  }
}

export class TcpMetadataTransport implements MetadataTransport {
  private handler: (envelope: Envelope) => void = () => {};
  /** Connections by the address of the peer at their other end. */
  private readonly connections = new Map<string, Socket>();
  private readonly redialAfter = new Map<string, number>();
  private closed = false;
  /** Messages dropped because no connection could take them. */
  dropped = 0;

  private constructor(
    readonly address: string,
    private readonly server: Server | undefined,
  ) {}

  /** A member's transport: listens on host:port, which is also its address. */
  static async listen(host: string, port: number): Promise<TcpMetadataTransport> {
    const server = createServer();
    const transport = new TcpMetadataTransport(`${host}:${port}`, server);
    server.on("connection", (socket) => transport.adopt(socket, undefined));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    return transport;
  }

  /** A client's transport: does not listen; its address is a unique name. */
  static client(name: string): TcpMetadataTransport {
    return new TcpMetadataTransport(`client:${name}:${randomBytes(6).toString("hex")}`, undefined);
  }

  onReceive(handler: (envelope: Envelope) => void): void {
    this.handler = handler;
  }

  send(to: string, envelope: Envelope): void {
    if (this.closed || to === this.address) return;
    const socket = this.connections.get(to) ?? this.dial(to);
    if (socket === undefined || socket.writableLength > CONNECTION_BUFFERED_BYTES_MAX) {
      this.dropped++;
      return;
    }
    socket.write(frameOf(envelope));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const socket of this.connections.values()) socket.destroy();
    this.connections.clear();
    this.server?.close();
  }

  private dial(to: string): Socket | undefined {
    const separator = to.lastIndexOf(":");
    const port = Number(to.slice(separator + 1));
    if (separator <= 0 || !Number.isInteger(port) || to.startsWith("client:")) return undefined;
    if ((this.redialAfter.get(to) ?? 0) > Date.now()) return undefined;
    const socket = connect({ host: to.slice(0, separator), port });
    socket.setNoDelay(true);
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => {
      if (socket.connecting) socket.destroy();
    });
    socket.once("connect", () => socket.setTimeout(0));
    this.adopt(socket, to);
    return socket;
  }

  /** Reads frames from a socket; `peer` is known for dialled sockets, learnt for accepted ones. */
  private adopt(socket: Socket, dialled: string | undefined): void {
    let peer = dialled;
    if (peer !== undefined) this.connections.set(peer, socket);
    const reader = new FrameReader();
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      try {
        reader.push(chunk, (payload) => {
          const envelope = decodeEnvelope(payload);
          if (peer === undefined) {
            peer = envelope.from;
            // Answer over this connection unless we have our own to that peer.
            if (!this.connections.has(peer)) this.connections.set(peer, socket);
          }
          if (!this.closed) this.handler(envelope);
        });
      } catch {
        socket.destroy(); // A peer that sends malformed frames is cut off; it may reconnect.
      }
    });
    socket.on("error", () => {
      if (dialled !== undefined) this.redialAfter.set(dialled, Date.now() + REDIAL_DELAY_MS);
    });
    socket.on("close", () => {
      if (peer !== undefined && this.connections.get(peer) === socket)
        this.connections.delete(peer);
    });
  }
}
