/**
 * The node-to-node transport over TCP (port 5122 by default): one multiplexed connection per peer
 * pair carrying the envelopes of net/envelope.ts — service-tagged one-way messages,
 * requests and responses matched by request id. It implements the `NodeTransport` port, so every
 * protocol (replicated loglet, Raft metadata, partition RPCs, ingress forwarding) shares it.
 *
 * Connections:
 * - A connection is usable once both sides said hello (node id + generation). The dialer sends its
 *   hello first; the acceptor answers with its own only if it keeps the connection.
 * - When both nodes dial each other at once, both keep the connection dialed by the lower node id
 *   and close the other before using it, so no frame is ever sent on a connection that is dropped.
 *   A hello from a newer generation of a peer replaces the old connection (the peer restarted).
 * - Frames wait in a bounded per-peer queue until a connection is usable. A failed dial is retried
 *   with exponential backoff (with jitter) while frames wait; requests fail by their own timeouts.
 * - When a connection closes, every request sent on it fails as "unavailable" at once; answers can
 *   never reach a later connection (a response only travels on the connection of its request).
 * - Messages to this node itself are delivered locally, asynchronously.
 */

import { createServer, connect, type Server, type Socket } from "node:net";
import { randomInt } from "node:crypto";
import { assert, type NodeId } from "../../core/index.js";
import {
  decodeHello,
  encodeEnvelope,
  encodeHello,
  EnvelopeDecoder,
  type Envelope,
  type NodeTransport,
  type RequestOutcome,
  type ServiceHandler,
} from "../index.js";

export interface PeerAddress {
  readonly host: string;
  readonly port: number;
}

export const DEFAULT_NODE_PORT = 5122;

export interface TcpTransportOptions {
  readonly self: NodeId;
  readonly generation: number;
  readonly listen: { readonly host: string; readonly port: number };
  /** Where peers listen; asked at every dial, so addresses may change. */
  readonly peers: () => ReadonlyMap<NodeId, PeerAddress>;
  /** Largest frame accepted from a peer. */
  readonly frameBytesMax?: number;
  /** Bytes waiting for a peer (queued or unsent on its socket) before new frames are refused. */
  readonly peerQueueBytesMax?: number;
  readonly reconnectBackoffMsMin?: number;
  readonly reconnectBackoffMsMax?: number;
}

const FRAME_BYTES_MAX_DEFAULT = 80 * 1024 * 1024;
const PEER_QUEUE_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;
const BACKOFF_MS_MIN_DEFAULT = 50;
const BACKOFF_MS_MAX_DEFAULT = 2_000;
const KEEPALIVE_MS = 1_000;

interface Connection {
  readonly socket: Socket;
  readonly decoder: EnvelopeDecoder;
  /** True when this node dialed the connection. */
  readonly outbound: boolean;
  /** The peer: known when dialing, learned from its hello when accepting. */
  peer: NodeId | undefined;
  generation: number;
  usable: boolean;
  readonly requests: Set<number>;
  corked: boolean;
}

interface Peer {
  readonly id: NodeId;
  connection: Connection | undefined;
  dialing: Connection | undefined;
  queue: { frame: Uint8Array; request: number | undefined }[];
  queuedBytes: number;
  backoffMs: number;
  redial: NodeJS.Timeout | undefined;
}

interface PendingRequest {
  readonly peer: NodeId;
  readonly done: (outcome: RequestOutcome) => void;
  readonly timer: NodeJS.Timeout;
}

export class TcpTransport implements NodeTransport {
  readonly self: NodeId;
  private readonly handlers = new Map<number, ServiceHandler>();
  private readonly peers = new Map<NodeId, Peer>();
  private readonly pending = new Map<number, PendingRequest>();
  private readonly sockets = new Set<Socket>();
  private nextRequest = 1;
  private closed = false;
  private readonly frameBytesMax: number;
  private readonly peerQueueBytesMax: number;
  private readonly backoffMin: number;
  private readonly backoffMax: number;

  private constructor(
    private readonly options: TcpTransportOptions,
    private readonly server: Server,
  ) {
    this.self = options.self;
    this.frameBytesMax = options.frameBytesMax ?? FRAME_BYTES_MAX_DEFAULT;
    this.peerQueueBytesMax = options.peerQueueBytesMax ?? PEER_QUEUE_BYTES_MAX_DEFAULT;
    this.backoffMin = options.reconnectBackoffMsMin ?? BACKOFF_MS_MIN_DEFAULT;
    this.backoffMax = options.reconnectBackoffMsMax ?? BACKOFF_MS_MAX_DEFAULT;
    assert(this.backoffMin > 0 && this.backoffMin <= this.backoffMax, "reconnect backoff bounds");
  }

  /** Listens and returns the transport; peers are dialed on first use. */
  static async start(options: TcpTransportOptions): Promise<TcpTransport> {
    const server = createServer();
    const transport = new TcpTransport(options, server);
    server.on("connection", (socket) => transport.adopt(socket, undefined));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.listen.port, options.listen.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    return transport;
  }

  /** The port this node listens on (useful when it asked for port 0). */
  get port(): number {
    const address = this.server.address();
    assert(address !== null && typeof address === "object", "the server listens on a TCP port");
    return address.port;
  }

  serve(service: number, handler: ServiceHandler): void {
    assert(!this.handlers.has(service), `service ${service} is served once`);
    this.handlers.set(service, handler);
  }

  send(to: NodeId, service: number, payload: Uint8Array): void {
    if (this.closed) return;
    if (to === this.self) {
      setImmediate(() => this.handlers.get(service)?.onMessage(this.self, payload));
      return;
    }
    this.enqueue(
      to,
      encodeEnvelope({ kind: "message", service, requestId: 0, payload }),
      undefined,
    );
  }

  request(
    to: NodeId,
    service: number,
    payload: Uint8Array,
    timeoutMs: number,
    done: (outcome: RequestOutcome) => void,
  ): void {
    if (this.closed) return;
    const id = this.nextRequest++;
    const timer = setTimeout(
      () =>
        this.finish(id, {
          ok: false,
          error: "timeout",
          detail: `node ${to}: no answer in ${timeoutMs} ms`,
        }),
      timeoutMs,
    );
    this.pending.set(id, { peer: to, done, timer });
    if (to === this.self) {
      setImmediate(() => {
        const handler = this.handlers.get(service);
        if (handler === undefined) return;
        handler.onRequest(this.self, payload, (response) =>
          setImmediate(() => this.finish(id, { ok: true, payload: response })),
        );
      });
      return;
    }
    const frame = encodeEnvelope({ kind: "request", service, requestId: id, payload });
    if (!this.enqueue(to, frame, id)) {
      this.finish(id, { ok: false, error: "unavailable", detail: `node ${to}: send queue full` });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const peer of this.peers.values()) clearTimeout(peer.redial);
    for (const socket of this.sockets) socket.destroy();
    for (const id of [...this.pending.keys()]) {
      this.finish(id, { ok: false, error: "unavailable", detail: "transport closed" });
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- sending ----

  private peer(id: NodeId): Peer {
    let peer = this.peers.get(id);
    if (peer === undefined) {
      peer = {
        id,
        connection: undefined,
        dialing: undefined,
        queue: [],
        queuedBytes: 0,
        backoffMs: this.backoffMin,
        redial: undefined,
      };
      this.peers.set(id, peer);
    }
    return peer;
  }

  /** Writes now if a connection is usable, else queues and dials. False when the queue is full. */
  private enqueue(to: NodeId, frame: Uint8Array, request: number | undefined): boolean {
    const peer = this.peer(to);
    const connection = peer.connection;
    const waiting = peer.queuedBytes + (connection?.socket.writableLength ?? 0);
    if (waiting + frame.length > this.peerQueueBytesMax) return false;
    if (connection?.usable === true) {
      this.write(connection, frame, request);
      return true;
    }
    peer.queue.push({ frame, request });
    peer.queuedBytes += frame.length;
    this.dial(peer);
    return true;
  }

  private write(connection: Connection, frame: Uint8Array, request: number | undefined): void {
    if (request !== undefined) {
      if (!this.pending.has(request)) return; // timed out while queued
      connection.requests.add(request);
    }
    // Frames written in one turn of the event loop leave in as few syscalls as possible.
    if (!connection.corked) {
      connection.corked = true;
      connection.socket.cork();
      process.nextTick(() => {
        connection.corked = false;
        connection.socket.uncork();
      });
    }
    connection.socket.write(frame);
  }

  private flushQueue(peer: Peer): void {
    const connection = peer.connection;
    if (connection?.usable !== true) return;
    const queue = peer.queue;
    peer.queue = [];
    peer.queuedBytes = 0;
    for (const { frame, request } of queue) this.write(connection, frame, request);
  }

  private dial(peer: Peer): void {
    if (this.closed || peer.dialing !== undefined || peer.redial !== undefined) return;
    const address = this.options.peers().get(peer.id);
    if (address === undefined) {
      this.scheduleRedial(peer);
      return;
    }
    const socket = connect(address.port, address.host);
    const connection = this.adopt(socket, peer.id);
    peer.dialing = connection;
    socket.once("connect", () => {
      socket.write(encodeHello({ node: this.self, generation: this.options.generation }));
    });
  }

  private scheduleRedial(peer: Peer): void {
    if (this.closed || peer.redial !== undefined || peer.queue.length === 0) return;
    const wait = peer.backoffMs + randomInt(0, Math.max(1, peer.backoffMs >> 1));
    peer.backoffMs = Math.min(this.backoffMax, peer.backoffMs * 2);
    peer.redial = setTimeout(() => {
      peer.redial = undefined;
      this.dial(peer);
    }, wait);
    peer.redial.unref();
  }

  // ---- connections ----

  private adopt(socket: Socket, dialed: NodeId | undefined): Connection {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_MS);
    const connection: Connection = {
      socket,
      decoder: new EnvelopeDecoder(this.frameBytesMax),
      outbound: dialed !== undefined,
      peer: dialed,
      generation: 0,
      usable: false,
      requests: new Set(),
      corked: false,
    };
    socket.on("data", (chunk: Buffer) => {
      let envelopes: Envelope[];
      try {
        envelopes = connection.decoder.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const envelope of envelopes) {
        if (socket.destroyed) return;
        this.receive(connection, envelope);
      }
    });
    socket.on("error", () => undefined); // 'close' follows and does the work
    socket.on("close", () => this.onClose(connection));
    return connection;
  }

  private receive(connection: Connection, envelope: Envelope): void {
    if (!connection.usable) {
      if (envelope.kind !== "hello") {
        connection.socket.destroy();
        return;
      }
      let hello: { node: number; generation: number };
      try {
        hello = decodeHello(envelope);
      } catch {
        connection.socket.destroy();
        return;
      }
      return this.onHello(connection, hello.node as NodeId, hello.generation);
    }
    const peer = connection.peer!;
    switch (envelope.kind) {
      case "message":
        this.handlers.get(envelope.service)?.onMessage(peer, envelope.payload);
        return;
      case "request": {
        const handler = this.handlers.get(envelope.service);
        if (handler === undefined) return;
        let answered = false;
        handler.onRequest(peer, envelope.payload, (payload) => {
          if (answered || connection.socket.destroyed) return;
          answered = true;
          this.write(
            connection,
            encodeEnvelope({
              kind: "response",
              service: envelope.service,
              requestId: envelope.requestId,
              payload,
            }),
            undefined,
          );
        });
        return;
      }
      case "response":
        if (connection.requests.delete(envelope.requestId)) {
          this.finish(envelope.requestId, { ok: true, payload: envelope.payload });
        }
        return;
      case "hello":
        connection.socket.destroy(); // a second hello is a protocol error
        return;
    }
  }

  private onHello(connection: Connection, node: NodeId, generation: number): void {
    const outbound = connection.outbound;
    if (outbound && node !== connection.peer) {
      connection.socket.destroy(); // dialed the wrong node
      return;
    }
    const peer = this.peer(node);
    connection.peer = node;
    connection.generation = generation;
    const current = peer.connection;
    if (!outbound) {
      const dialer = node;
      const restarted =
        current !== undefined && current.generation !== 0 && current.generation !== generation;
      const rival = current ?? peer.dialing;
      // Simultaneous dials: both sides keep the connection dialed by the lower node id.
      if (rival !== undefined && !restarted && Math.min(this.self, node) !== dialer) {
        connection.socket.destroy();
        return;
      }
      if (rival !== undefined) {
        if (peer.dialing === rival) peer.dialing = undefined;
        if (peer.connection === rival) peer.connection = undefined;
        rival.socket.destroy();
      }
      connection.socket.write(
        encodeHello({ node: this.self, generation: this.options.generation }),
      );
    } else {
      peer.dialing = undefined;
      if (current !== undefined && current !== connection) {
        connection.socket.destroy(); // the peer's own dial won meanwhile
        return;
      }
    }
    connection.usable = true;
    peer.connection = connection;
    peer.backoffMs = this.backoffMin;
    this.flushQueue(peer);
  }

  private onClose(connection: Connection): void {
    this.sockets.delete(connection.socket);
    for (const id of connection.requests) {
      this.finish(id, {
        ok: false,
        error: "unavailable",
        detail: `connection to node ${connection.peer} closed`,
      });
    }
    connection.requests.clear();
    const node = connection.peer;
    if (node === undefined || this.closed) return;
    const peer = this.peer(node);
    if (peer.connection === connection) peer.connection = undefined;
    if (peer.dialing === connection) peer.dialing = undefined;
    if (peer.connection === undefined && peer.queue.length > 0) this.scheduleRedial(peer);
  }

  private finish(id: number, outcome: RequestOutcome): void {
    const request = this.pending.get(id);
    if (request === undefined) return;
    this.pending.delete(id);
    clearTimeout(request.timer);
    request.done(outcome);
  }
}
