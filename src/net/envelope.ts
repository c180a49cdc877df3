/**
 * The envelope of node-to-node traffic (port 5122): length-prefixed binary frames on one multiplexed
 * connection per peer pair. The envelope is generic — a service tag and opaque bytes — so that the
 * replicated loglet, the Raft metadata store, partition RPCs and ingress forwarding share it.
 *
 * Frame: `u32 length` (of everything after it) | `u8 kind` | `u16 service` | `u64 request id` |
 * payload. Kinds: hello (first frame on a connection: payload = u32 node id, u32 generation), one-way
 * message, request, response. A response carries the id of its request; one-way frames carry id 0.
 * A hello from node 0 (`ANONYMOUS_NODE`) opens a client connection: a process that has no node id
 * yet (a node before its registration, a tool) asks requests on it and is answered on it.
 *
 * The decoder is incremental (chunks may split frames anywhere) and refuses frames above a size
 * limit, so a confused or hostile peer cannot make a node buffer without bound.
 */

import { NodeId, concatBytes, readU32BE, writeU32BE } from "../core/index.js";
import { ByteReader, ByteWriter, DecodeError } from "../wire/index.js";

/** Service tags: one per protocol carried between nodes. Never renumber. */
export const NodeService = {
  /** Replicated loglets' sequencers (appends, tails). */
  loglet: 1,
  metadata: 2,
  partition: 3,
  ingress: 4,
  /** Log servers (stores, seals, reads of replicated loglets). */
  logServer: 5,
  /**
   * A node's notice that a metadata key changed (the schema, the placement) with its new version,
   * answered once the peer has read it.
   */
  metadataChanged: 6,
  /** What a node's partition replicas are doing (for the cluster's status), as JSON. */
  status: 7,
  /** `keel provision`: a metadata node that waits for a cluster to exist creates it. */
  provision: 8,
  /** The controller's heartbeat: answered at once with the node's generation. */
  heartbeat: 9,
  /**
   * How many invocations wait for an invoker slot on the node (a Kafka consumer on another node
   * pauses while a leader it feeds is saturated). A node that predates it does not answer.
   */
  invokerQueue: 10,
} as const;

/** Names no node (plain ids start at 1): the hello of a client connection. */
export const ANONYMOUS_NODE = NodeId(0);

/** `auth`: the handshake that proves the cluster's credentials before the hello (net/io/node_auth.ts). */
export type EnvelopeKind = "hello" | "message" | "request" | "response" | "auth";
const KINDS: readonly EnvelopeKind[] = ["hello", "message", "request", "response", "auth"];

export interface Envelope {
  readonly kind: EnvelopeKind;
  readonly service: number;
  readonly requestId: number;
  readonly payload: Uint8Array;
}

const LENGTH_BYTES = 4;
const ENVELOPE_HEADER_BYTES = 1 + 2 + 8;

export function encodeEnvelope(envelope: Envelope): Uint8Array {
  const body = new Uint8Array(ENVELOPE_HEADER_BYTES + envelope.payload.length);
  const header = new ByteWriter()
    .u8(KINDS.indexOf(envelope.kind))
    .u16(envelope.service)
    .u53(envelope.requestId)
    .finish();
  body.set(header, 0);
  body.set(envelope.payload, ENVELOPE_HEADER_BYTES);
  const frame = new Uint8Array(LENGTH_BYTES + body.length);
  writeU32BE(frame, 0, body.length);
  frame.set(body, LENGTH_BYTES);
  return frame;
}

export interface Hello {
  readonly node: number;
  readonly generation: number;
}

export function encodeHello(hello: Hello): Uint8Array {
  return encodeEnvelope({
    kind: "hello",
    service: 0,
    requestId: 0,
    payload: new ByteWriter().u32(hello.node).u32(hello.generation).finish(),
  });
}

export function decodeHello(envelope: Envelope): Hello {
  if (envelope.kind !== "hello") throw new DecodeError(`expected hello, found ${envelope.kind}`);
  const r = new ByteReader(envelope.payload);
  const hello = { node: r.u32(), generation: r.u32() };
  r.end();
  return hello;
}

/** Splits a byte stream into envelopes. */
export class EnvelopeDecoder {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;

  constructor(private readonly frameBytesMax: number) {}

  /** Adds a chunk and returns every envelope it completed. Throws DecodeError on a bad frame. */
  push(chunk: Uint8Array): Envelope[] {
    if (chunk.length > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
    }
    const out: Envelope[] = [];
    if (this.pendingBytes < LENGTH_BYTES) return out;
    const buffer = this.pending.length === 1 ? this.pending[0]! : concatBytes(this.pending);
    let at = 0;
    while (buffer.length - at >= LENGTH_BYTES) {
      const length = readU32BE(buffer, at);
      if (length < ENVELOPE_HEADER_BYTES || length > this.frameBytesMax) {
        throw new DecodeError(`frame of ${length} bytes is outside 11..${this.frameBytesMax}`);
      }
      if (buffer.length - at - LENGTH_BYTES < length) break;
      const body = buffer.subarray(at + LENGTH_BYTES, at + LENGTH_BYTES + length);
      const r = new ByteReader(body.subarray(0, ENVELOPE_HEADER_BYTES));
      const kindIndex = r.u8();
      const kind = KINDS[kindIndex];
      if (kind === undefined) throw new DecodeError(`unknown envelope kind ${kindIndex}`);
      out.push({
        kind,
        service: r.u16(),
        requestId: r.u53(),
        payload: body.slice(ENVELOPE_HEADER_BYTES),
      });
      at += LENGTH_BYTES + length;
    }
    const rest = buffer.subarray(at);
    this.pending = rest.length > 0 ? [rest.slice()] : [];
    this.pendingBytes = rest.length;
    return out;
  }
}
