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
 * - With TLS (`tls`: a certificate, its key and the cluster's CA), every connection is TLS and both
 *   ends present a certificate the CA signed (a node-protocol connection without one is refused;
 *   HTTP on the same port, `otherProtocol`, needs none). Host names are not checked: a node's
 *   identity is its hello, and the CA says it belongs to the cluster.
 * - With cluster credentials, both ends prove they hold the cluster's key before the hello
 *   (net/io/node_auth.ts); a connection that fails to, or sends anything else first, is closed and
 *   reported (`onRefused`), and one that has not authenticated within AUTH_TIMEOUT_MS is closed.
 * - Client connections: `requestAt` dials an address with the anonymous hello (node 0) and asks on
 *   that connection whoever listens there; an acceptor keeps such a connection only to answer it (it
 *   never becomes the peer connection of a node). This is how a process without a node id, or one
 *   that knows only an address (metadata seeds), reaches the cluster. `TcpTransport.client()` is a
 *   transport that does not listen and has no node id.
 *
 * Why one file of this length: dialing, hellos, rival connections, client connections and the table
 * of requests in flight share one state per peer; split, each part would reach into the others.
 */

import { createServer, connect, type Server, type Socket } from "node:net";
import { connect as connectTls, createServer as createTlsServer, type TLSSocket } from "node:tls";
import { randomInt } from "node:crypto";
import { assert, describeError, limits, type NodeId } from "../../core/index.js";
import { DecodeError } from "../../wire/index.js";
import {
  AUTH_TIMEOUT_MS,
  ClusterCredentials,
  decodeAuthFrame,
  encodeAuthFrame,
  type AuthFrame,
} from "./node_auth.js";
import {
  ANONYMOUS_NODE,
  decodeHello,
  encodeEnvelope,
  encodeHello,
  EnvelopeDecoder,
  type Envelope,
  type NodeTransport,
  type RequestOutcome,
  type ServiceHandler,
} from "../index.js";

/** The node port's TLS: this node's certificate chain and key, and the CA every node's chains to (PEM). */
export interface NodeTls {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

/** What a connection to a node port proves, as the cluster's node ports require. */
export interface NodePortSecurity {
  readonly credentials?: ClusterCredentials;
  readonly tls?: NodeTls;
}

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
  /** The cluster's key: every connection, both ways, proves it before anything else. */
  readonly credentials?: ClusterCredentials;
  /** TLS on every connection, both ends with a certificate of the cluster's CA. */
  readonly tls?: NodeTls;
  /** A connection refused by the handshake: from where, and why. */
  readonly onRefused?: (remote: string, reason: string) => void;
  /**
   * Another protocol on the same port (Restate serves HTTP `GET /metrics` on its node port):
   * accepted connections whose first byte cannot open a frame are handed over, with the bytes read.
   */
  readonly otherProtocol?: (socket: Socket, firstBytes: Buffer) => void;
}

/**
 * A frame opens with its length (u32, big-endian), at most `frameBytesMax`, so its first byte is
 * below this; an HTTP request opens with a method's capital letter ('A' and after).
 */
const FIRST_BYTE_OF_NO_FRAME = 0x41;

const BACKOFF_MS_MIN_DEFAULT = 50;
/**
 * Requests queued for a peer that cannot be reached fail when the next dial does: a long backoff
 * would hold a dead node's requests (a new sequencer's first stores, heartbeats) that long, and the
 * failover with them. Dials to a dead node every quarter second cost next to nothing.
 */
const BACKOFF_MS_MAX_DEFAULT = 250;
const KEEPALIVE_MS = 1_000;

interface Connection {
  readonly socket: Socket;
  readonly decoder: EnvelopeDecoder;
  /** The peer this node dialed the connection for; undefined for an accepted connection. */
  readonly dialedFor: Peer | undefined;
  /** The node at the other end, from its hello (ANONYMOUS_NODE for a client connection). */
  peer: NodeId | undefined;
  generation: number;
  usable: boolean;
  readonly requests: Set<number>;
  corked: boolean;
  /** The handshake in progress (with credentials only); undefined once authenticated. */
  auth:
    | { readonly role: "dialer"; readonly nonce: Uint8Array; readonly hello: Uint8Array }
    | { readonly role: "acceptor"; readonly expected: Uint8Array | undefined }
    | undefined;
}

interface Peer {
  /** The node, or ANONYMOUS_NODE for an address dialed as a client. */
  readonly id: NodeId;
  /** Where to dial a client connection; undefined for a node (its address comes from `peers`). */
  readonly address: PeerAddress | undefined;
  connection: Connection | undefined;
  dialing: Connection | undefined;
  queue: { frame: Uint8Array; request: number | undefined }[];
  queuedBytes: number;
  backoffMs: number;
  redial: NodeJS.Timeout | undefined;
}

interface PendingRequest {
  readonly done: (outcome: RequestOutcome) => void;
  readonly timer: NodeJS.Timeout;
}

export class TcpTransport implements NodeTransport {
  readonly self: NodeId;
  private readonly handlers = new Map<number, ServiceHandler>();
  private readonly peers = new Map<NodeId, Peer>();
  /** Client connections by "host:port". */
  private readonly addresses = new Map<string, Peer>();
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
    private readonly server: Server | undefined,
  ) {
    this.self = options.self;
    this.frameBytesMax = options.frameBytesMax ?? limits.nodeFrameBytesMax;
    this.peerQueueBytesMax = options.peerQueueBytesMax ?? limits.nodePeerQueueBytesMax;
    this.backoffMin = options.reconnectBackoffMsMin ?? BACKOFF_MS_MIN_DEFAULT;
    this.backoffMax = options.reconnectBackoffMsMax ?? BACKOFF_MS_MAX_DEFAULT;
    assert(this.backoffMin > 0 && this.backoffMin <= this.backoffMax, "reconnect backoff bounds");
    assert(
      this.frameBytesMax < FIRST_BYTE_OF_NO_FRAME * 2 ** 24,
      `a frame's first byte tells it from another protocol (frames of ${this.frameBytesMax} bytes)`,
    );
  }

  /** Listens and returns the transport; peers are dialed on first use. */
  static async start(options: TcpTransportOptions): Promise<TcpTransport> {
    const tls = options.tls;
    const server =
      tls === undefined
        ? createServer()
        : createTlsServer({
            ...tls,
            minVersion: "TLSv1.2",
            // A connection that does not finish its handshake is closed as one that does not
            // authenticate (Node's default waits two minutes).
            handshakeTimeout: AUTH_TIMEOUT_MS,
            // Asked for, checked per protocol: a node must present one, a metrics scraper need not.
            requestCert: true,
            rejectUnauthorized: false,
          });
    const transport = new TcpTransport(options, server);
    server.on(tls === undefined ? "connection" : "secureConnection", (socket: Socket) =>
      transport.accept(socket),
    );
    if (tls !== undefined)
      server.on("tlsClientError", (error: Error, socket: TLSSocket) => {
        options.onRefused?.(
          `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`,
          `TLS handshake failed: ${error.message}`,
        );
        // With a listener here Node leaves a timed-out handshake's socket open.
        socket.destroy();
      });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.listen.port, options.listen.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    return transport;
  }

  /** A transport that does not listen and has no node id: it only asks (`requestAt`). */
  static client(
    options: Omit<TcpTransportOptions, "self" | "generation" | "listen" | "peers"> = {},
  ): TcpTransport {
    return new TcpTransport(
      {
        ...options,
        self: ANONYMOUS_NODE,
        generation: 0,
        listen: { host: "", port: 0 },
        peers: () => new Map(),
      },
      undefined,
    );
  }

  /** The port this node listens on (useful when it asked for port 0). */
  get port(): number {
    const address = this.server?.address();
    assert(address !== null && typeof address === "object", "the server listens on a TCP port");
    return address.port;
  }

  serve(service: number, handler: ServiceHandler): void {
    assert(!this.handlers.has(service), `service ${service} is served once`);
    this.handlers.set(service, handler);
  }

  send(to: NodeId, service: number, payload: Uint8Array): void {
    if (this.closed || to === ANONYMOUS_NODE) return;
    if (to === this.self) {
      setImmediate(() => this.handlers.get(service)?.onMessage(this.self, payload));
      return;
    }
    this.enqueue(
      this.peer(to),
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
    if (to === this.self && to !== ANONYMOUS_NODE) {
      const id = this.track(`node ${to}`, timeoutMs, done);
      setImmediate(() => {
        const handler = this.handlers.get(service);
        if (handler === undefined) return;
        handler.onRequest(this.self, payload, (response) =>
          setImmediate(() => this.finish(id, { ok: true, payload: response })),
        );
      });
      return;
    }
    this.ask(this.peer(to), `node ${to}`, service, payload, timeoutMs, done);
  }

  /** A request to whichever node listens at `address`, on a client connection (see the header). */
  requestAt(
    address: PeerAddress,
    service: number,
    payload: Uint8Array,
    timeoutMs: number,
    done: (outcome: RequestOutcome) => void,
  ): void {
    if (this.closed) return;
    const key = `${address.host}:${address.port}`;
    let peer = this.addresses.get(key);
    if (peer === undefined) {
      peer = this.newPeer(ANONYMOUS_NODE, address);
      this.addresses.set(key, peer);
    }
    this.ask(peer, key, service, payload, timeoutMs, done);
  }

  private ask(
    peer: Peer,
    name: string,
    service: number,
    payload: Uint8Array,
    timeoutMs: number,
    done: (outcome: RequestOutcome) => void,
  ): void {
    const id = this.track(name, timeoutMs, done);
    const frame = encodeEnvelope({ kind: "request", service, requestId: id, payload });
    if (!this.enqueue(peer, frame, id)) {
      this.finish(id, { ok: false, error: "unavailable", detail: `${name}: send queue full` });
    }
  }

  /** Registers a pending request that times out on its own; returns its id. */
  private track(name: string, timeoutMs: number, done: (outcome: RequestOutcome) => void): number {
    const id = this.nextRequest++;
    const timer = setTimeout(
      () =>
        this.finish(id, {
          ok: false,
          error: "timeout",
          detail: `${name}: no answer in ${timeoutMs} ms`,
        }),
      timeoutMs,
    );
    this.pending.set(id, { done, timer });
    return id;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const peer of [...this.peers.values(), ...this.addresses.values()]) {
      clearTimeout(peer.redial);
    }
    for (const socket of this.sockets) socket.destroy();
    for (const id of [...this.pending.keys()]) {
      this.finish(id, { ok: false, error: "unavailable", detail: "transport closed" });
    }
    const server = this.server;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // ---- sending ----

  private peer(id: NodeId): Peer {
    let peer = this.peers.get(id);
    if (peer === undefined) {
      peer = this.newPeer(id, undefined);
      this.peers.set(id, peer);
    }
    return peer;
  }

  private newPeer(id: NodeId, address: PeerAddress | undefined): Peer {
    return {
      id,
      address,
      connection: undefined,
      dialing: undefined,
      queue: [],
      queuedBytes: 0,
      backoffMs: this.backoffMin,
      redial: undefined,
    };
  }

  /** Writes now if a connection is usable, else queues and dials. False when the queue is full. */
  private enqueue(peer: Peer, frame: Uint8Array, request: number | undefined): boolean {
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
    const address = peer.address ?? this.options.peers().get(peer.id);
    if (address === undefined) {
      this.scheduleRedial(peer);
      return;
    }
    const tls = this.options.tls;
    const socket =
      tls === undefined
        ? connect(address.port, address.host)
        : connectTls({
            host: address.host,
            port: address.port,
            ...tls,
            minVersion: "TLSv1.2",
            // The peer's certificate must chain to the cluster's CA; its names are not checked.
            checkServerIdentity: () => undefined,
          });
    const connection = this.adopt(socket, peer);
    peer.dialing = connection;
    const hello =
      peer.address === undefined
        ? { node: this.self, generation: this.options.generation }
        : { node: ANONYMOUS_NODE, generation: 0 };
    const credentials = this.options.credentials;
    socket.once(tls === undefined ? "connect" : "secureConnect", () => {
      if (credentials === undefined) {
        socket.write(encodeHello(hello));
        return;
      }
      const nonce = ClusterCredentials.nonce();
      connection.auth = { role: "dialer", nonce, hello: encodeHello(hello) };
      socket.write(authEnvelope({ phase: "challenge", nonce }));
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

  /** An accepted connection: the transport's, or another protocol's by its first byte. */
  private accept(socket: Socket): void {
    const other = this.options.otherProtocol;
    if (other === undefined) {
      this.adoptAccepted(socket);
      return;
    }
    this.sockets.add(socket);
    // A connection that says nothing is closed, as one that does not authenticate in time.
    const silence = setTimeout(() => socket.destroy(), AUTH_TIMEOUT_MS);
    silence.unref();
    const ignore = (): void => undefined; // 'close' follows
    socket.on("error", ignore);
    socket.once("close", () => {
      clearTimeout(silence);
      this.sockets.delete(socket);
    });
    socket.once("data", (chunk: Buffer) => {
      clearTimeout(silence);
      socket.off("error", ignore);
      if (chunk[0]! < FIRST_BYTE_OF_NO_FRAME) {
        if (this.adoptAccepted(socket)) socket.emit("data", chunk);
        return;
      }
      // The other protocol's server closes it from now on.
      this.sockets.delete(socket);
      other(socket, chunk);
    });
  }

  /** A node-protocol connection accepted: with TLS, only from a peer whose certificate the CA signed. */
  private adoptAccepted(socket: Socket): boolean {
    const tls = socket as TLSSocket;
    if (this.options.tls !== undefined && !tls.authorized) {
      const { remoteAddress, remotePort } = socket;
      this.options.onRefused?.(
        `${remoteAddress ?? "?"}:${remotePort ?? "?"}`,
        `no certificate of the cluster's CA (${String(tls.authorizationError ?? "none presented")})`,
      );
      socket.destroy();
      return false;
    }
    this.adopt(socket, undefined);
    return true;
  }

  private adopt(socket: Socket, dialedFor: Peer | undefined): Connection {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_MS);
    const connection: Connection = {
      socket,
      decoder: new EnvelopeDecoder(this.frameBytesMax),
      dialedFor,
      peer: undefined,
      generation: 0,
      usable: false,
      requests: new Set(),
      corked: false,
      auth: undefined,
    };
    if (this.options.credentials !== undefined && dialedFor === undefined) {
      connection.auth = { role: "acceptor", expected: undefined };
      const timer = setTimeout(() => {
        if (connection.auth !== undefined) this.refuse(connection, "no handshake in time");
      }, AUTH_TIMEOUT_MS);
      timer.unref();
      socket.once("close", () => clearTimeout(timer));
    }
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
    if (connection.auth !== undefined) return this.authenticate(connection, envelope);
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
      case "auth":
        connection.socket.destroy(); // a second hello, or a handshake after it, is a protocol error
        return;
    }
  }

  /** One step of the handshake (see node_auth.ts); anything unexpected refuses the connection. */
  private authenticate(connection: Connection, envelope: Envelope): void {
    const credentials = this.options.credentials!;
    const auth = connection.auth!;
    let frame: AuthFrame;
    try {
      if (envelope.kind !== "auth") throw new DecodeError(`${envelope.kind} before the handshake`);
      frame = decodeAuthFrame(envelope.payload);
    } catch (error) {
      return this.refuse(connection, describeError(error));
    }
    if (auth.role === "dialer") {
      if (frame.phase !== "answer") return this.refuse(connection, `unexpected ${frame.phase}`);
      const expected = credentials.proof("acceptor", auth.nonce, frame.nonce);
      if (!ClusterCredentials.matches(frame.proof, expected))
        return this.refuse(connection, "the peer does not hold the cluster's credentials");
      connection.auth = undefined;
      connection.socket.write(
        authEnvelope({
          phase: "proof",
          proof: credentials.proof("dialer", auth.nonce, frame.nonce),
        }),
      );
      connection.socket.write(auth.hello);
      return;
    }
    if (auth.expected === undefined) {
      if (frame.phase !== "challenge") return this.refuse(connection, `unexpected ${frame.phase}`);
      const nonce = ClusterCredentials.nonce();
      connection.auth = {
        role: "acceptor",
        expected: credentials.proof("dialer", frame.nonce, nonce),
      };
      connection.socket.write(
        authEnvelope({
          phase: "answer",
          nonce,
          proof: credentials.proof("acceptor", frame.nonce, nonce),
        }),
      );
      return;
    }
    if (frame.phase !== "proof" || !ClusterCredentials.matches(frame.proof, auth.expected))
      return this.refuse(connection, "the peer does not hold the cluster's credentials");
    connection.auth = undefined;
  }

  private refuse(connection: Connection, reason: string): void {
    const { remoteAddress, remotePort } = connection.socket;
    this.options.onRefused?.(`${remoteAddress ?? "?"}:${remotePort ?? "?"}`, reason);
    connection.socket.destroy();
  }

  private onHello(connection: Connection, node: NodeId, generation: number): void {
    const dialed = connection.dialedFor;
    if (dialed !== undefined) return this.onDialedHello(connection, dialed, node, generation);
    connection.peer = node;
    connection.generation = generation;
    const hello = encodeHello({ node: this.self, generation: this.options.generation });
    if (node === ANONYMOUS_NODE) {
      // A client connection: answered, never the peer connection of a node.
      connection.socket.write(hello);
      connection.usable = true;
      return;
    }
    const peer = this.peer(node);
    const current = peer.connection;
    const restarted =
      current !== undefined && current.generation !== 0 && current.generation !== generation;
    const rival = current ?? peer.dialing;
    // Simultaneous dials: both sides keep the connection dialed by the lower node id.
    if (rival !== undefined && !restarted && Math.min(this.self, node) !== node) {
      connection.socket.destroy();
      return;
    }
    if (rival !== undefined) {
      if (peer.dialing === rival) peer.dialing = undefined;
      if (peer.connection === rival) peer.connection = undefined;
      rival.socket.destroy();
    }
    connection.socket.write(hello);
    this.use(peer, connection);
  }

  private onDialedHello(
    connection: Connection,
    peer: Peer,
    node: NodeId,
    generation: number,
  ): void {
    // A client connection reaches whichever node listens there; a node connection only its node.
    const wrongNode = peer.address === undefined ? node !== peer.id : node === ANONYMOUS_NODE;
    if (wrongNode) {
      connection.socket.destroy();
      return;
    }
    connection.peer = node;
    connection.generation = generation;
    peer.dialing = undefined;
    if (peer.connection !== undefined && peer.connection !== connection) {
      connection.socket.destroy(); // the peer's own dial won meanwhile
      return;
    }
    this.use(peer, connection);
  }

  private use(peer: Peer, connection: Connection): void {
    connection.usable = true;
    peer.connection = connection;
    peer.backoffMs = this.backoffMin;
    this.flushQueue(peer);
  }

  private onClose(connection: Connection): void {
    this.sockets.delete(connection.socket);
    // The connection is gone before its requests fail: a caller that asks again from its failure
    // callback (a sequencer re-sending its stores) must reach a new connection, not this one. On
    // this one the request would be failed by this very loop, and asked again, for ever.
    const wasUsable = connection.usable;
    connection.usable = false;
    const node = connection.peer;
    const peer =
      connection.dialedFor ??
      (node === undefined || node === ANONYMOUS_NODE ? undefined : this.peers.get(node));
    if (peer?.connection === connection) peer.connection = undefined;
    const failed = [...connection.requests];
    connection.requests.clear();
    for (const id of failed) {
      this.finish(id, {
        ok: false,
        error: "unavailable",
        detail: `connection to node ${connection.peer} closed`,
      });
    }
    if (this.closed || peer === undefined) return;
    if (peer.dialing === connection) {
      peer.dialing = undefined;
      // The peer cannot be reached now: its queued requests fail at once rather than wait for it
      // (their callers retry elsewhere or later); one-way messages stay queued for the redial.
      if (!wasUsable) this.failQueuedRequests(peer, `cannot connect to node ${peer.id}`);
    }
    if (peer.connection === undefined && peer.queue.length > 0) this.scheduleRedial(peer);
  }

  private failQueuedRequests(peer: Peer, detail: string): void {
    const failed = peer.queue.filter((queued) => queued.request !== undefined);
    if (failed.length === 0) return;
    peer.queue = peer.queue.filter((queued) => queued.request === undefined);
    peer.queuedBytes = peer.queue.reduce((bytes, queued) => bytes + queued.frame.length, 0);
    // Never written: the caller may send it again elsewhere, whatever it was.
    for (const { request } of failed)
      this.finish(request!, { ok: false, error: "unreachable", detail });
  }

  private finish(id: number, outcome: RequestOutcome): void {
    const request = this.pending.get(id);
    if (request === undefined) return;
    this.pending.delete(id);
    clearTimeout(request.timer);
    request.done(outcome);
  }
}

function authEnvelope(frame: AuthFrame): Uint8Array {
  return encodeEnvelope({
    kind: "auth",
    service: 0,
    requestId: 0,
    payload: encodeAuthFrame(frame),
  });
}
