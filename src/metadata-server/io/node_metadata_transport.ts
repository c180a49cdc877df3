/**
 * The metadata store's traffic on the node transport (service `NodeService.metadata` on the node
 * port), behind the MetadataTransport port. Addresses stay what the metadata layer knows: a member's
 * address is its node port's host:port (as written in the Raft membership), a client's is a name.
 *
 * - Raft messages go one-way to the member's node: a member id is its plain node id, and the member's
 *   address, learned from the membership as messages are routed, is where the transport dials it.
 * - A client's request is a node-transport request to the address (a client connection, see
 *   net/io/tcp_transport.ts), and the member's response travels back on it. So a member answers
 *   clients it could never address: a node before its registration, a tool, a benchmark.
 */

import { NodeId, limits } from "../../core/index.js";
import { NodeService } from "../../net/index.js";
import type { PeerAddress, TcpTransport } from "../../net/io/index.js";
import { decodeEnvelope, encodeEnvelope, type Envelope, type MetadataTransport } from "../index.js";

/** How long a client waits for a response before its request counts as lost (the core retries sooner). */
const CLIENT_REQUEST_TIMEOUT_MS = 10_000;

/** "host:port" as a dialable address; undefined for anything else (a client's name). */
export function peerAddressOf(address: string): PeerAddress | undefined {
  const separator = address.lastIndexOf(":");
  const port = Number(address.slice(separator + 1));
  if (separator <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) return undefined;
  return { host: address.slice(0, separator), port };
}

function decodeOrUndefined(payload: Uint8Array): Envelope | undefined {
  try {
    return decodeEnvelope(payload);
  } catch {
    return undefined; // a confused peer's bytes: dropped, as the network may drop anything
  }
}

/** A client of the metadata store: asks members by address. */
export class ClientMetadataTransport implements MetadataTransport {
  private handler: (envelope: Envelope) => void = () => {};
  private closed = false;
  /** Requests dropped before they were sent (an address that is no host:port). */
  dropped = 0;

  constructor(
    readonly address: string,
    private readonly node: TcpTransport,
    private readonly ownsNode: boolean,
  ) {}

  onReceive(handler: (envelope: Envelope) => void): void {
    this.handler = handler;
  }

  send(to: string, envelope: Envelope): void {
    const target = peerAddressOf(to);
    if (this.closed || target === undefined || envelope.message.kind !== "request") {
      this.dropped++;
      return;
    }
    this.node.requestAt(
      target,
      NodeService.metadata,
      encodeEnvelope(envelope),
      CLIENT_REQUEST_TIMEOUT_MS,
      (outcome) => {
        if (this.closed || !outcome.ok) return; // the client core retries by its own timers
        const response = decodeOrUndefined(outcome.payload);
        if (response !== undefined) this.handler(response);
      },
    );
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsNode) void this.node.close();
  }
}

/** A member of the metadata store: Raft with the other members, answers to clients. */
export class MemberMetadataTransport implements MetadataTransport {
  private handler: (envelope: Envelope) => void = () => {};
  private closed = false;
  /** Clients' requests awaiting this member's response, by client address and request id. */
  private readonly awaiting = new Map<
    string,
    { readonly respond: (payload: Uint8Array) => void; readonly since: number }
  >();
  /** Messages dropped: to an unknown member address, or a response nobody waits for. */
  dropped = 0;

  /**
   * `memberAddresses` is where the node transport looks up its peers: this transport fills it with
   * the address of every member it sends Raft messages to.
   */
  constructor(
    readonly address: string,
    private readonly node: TcpTransport,
    private readonly memberAddresses: Map<NodeId, PeerAddress>,
    private readonly ownsNode = true,
  ) {
    node.serve(NodeService.metadata, {
      onMessage: (_from, payload) => {
        const envelope = decodeOrUndefined(payload);
        if (envelope?.message.kind === "raft" && !this.closed) this.handler(envelope);
      },
      onRequest: (_from, payload, respond) => {
        const envelope = decodeOrUndefined(payload);
        if (envelope?.message.kind !== "request" || this.closed) return;
        if (!this.await(`${envelope.from}\n${envelope.message.requestId}`, respond)) return;
        this.handler(envelope);
      },
    });
  }

  onReceive(handler: (envelope: Envelope) => void): void {
    this.handler = handler;
  }

  send(to: string, envelope: Envelope): void {
    if (this.closed) return;
    const message = envelope.message;
    switch (message.kind) {
      case "raft": {
        const target = peerAddressOf(to);
        if (target === undefined) break;
        const member = NodeId(message.message.to);
        this.memberAddresses.set(member, target);
        this.node.send(member, NodeService.metadata, encodeEnvelope(envelope));
        return;
      }
      case "response": {
        const key = `${to}\n${message.requestId}`;
        const waiting = this.awaiting.get(key);
        if (waiting === undefined) break;
        this.awaiting.delete(key);
        waiting.respond(encodeEnvelope(envelope));
        return;
      }
      case "request":
        break; // members never ask
    }
    this.dropped++;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.awaiting.clear();
    if (this.ownsNode) void this.node.close();
  }

  /** Holds a client's request open; false when too many are (the client retries). */
  private await(key: string, respond: (payload: Uint8Array) => void): boolean {
    const now = Date.now();
    // Insertion order is age order: what its client stopped waiting for goes first.
    for (const [oldKey, { since }] of this.awaiting) {
      if (now - since < CLIENT_REQUEST_TIMEOUT_MS) break;
      this.awaiting.delete(oldKey);
    }
    if (this.awaiting.size >= limits.metadataRequestsOpenMax) {
      this.dropped++;
      return false;
    }
    this.awaiting.set(key, { respond, since: now });
    return true;
  }
}
