/**
 * Identifiers in Restate's text formats, so that the official SDK, clients and CLI can parse them.
 *
 * An invocation id is 24 raw bytes: the u64 partition key big-endian, then a 16-byte uuid. Its text is
 * `inv_1` + base62(partition key bytes read little-endian, 11 chars) + base62(uuid bytes read
 * little-endian, 22 chars). The little-endian reading is a quirk of the reference implementation that
 * clients depend on. Awakeable (signal) ids are `sign_1` + base64url(raw id ‖ u32 BE signal index).
 */

import { BASE62_U128_WIDTH, BASE62_U64_WIDTH, decodeBase62, encodeBase62LE } from "./base62.js";
import { PartitionKey } from "./brand.js";
import { hash128 } from "./hash.js";
import {
  bytesEqual,
  fromBase64Url,
  fromHex,
  toHex,
  readU32BE,
  readU64BE,
  toBase64Url,
  writeU32BE,
  writeU64BE,
  writeUintLE,
} from "./bytes.js";
import { partitionKeyOf } from "./partitioning.js";

export const INVOCATION_ID_BYTES = 24;
const INVOCATION_PREFIX = "inv_1";
const SIGNAL_PREFIX = "sign_1";
const DEPLOYMENT_PREFIX = "dp_1";
const INVOCATION_TEXT_LENGTH = INVOCATION_PREFIX.length + BASE62_U64_WIDTH + BASE62_U128_WIDTH;

export class InvocationId {
  private cachedText: string | undefined;
  private cachedHex: string | undefined;

  private constructor(readonly bytes: Uint8Array) {}

  static fromParts(partitionKey: PartitionKey, uuid: Uint8Array): InvocationId {
    if (uuid.length !== 16) throw new RangeError("an invocation uuid has 16 bytes");
    const bytes = new Uint8Array(INVOCATION_ID_BYTES);
    writeU64BE(bytes, 0, partitionKey);
    bytes.set(uuid, 8);
    return new InvocationId(bytes);
  }

  static fromBytes(bytes: Uint8Array): InvocationId {
    if (bytes.length !== INVOCATION_ID_BYTES) {
      throw new RangeError(
        `an invocation id has ${INVOCATION_ID_BYTES} bytes, got ${bytes.length}`,
      );
    }
    return new InvocationId(bytes.slice());
  }

  /** Parses the text form; undefined when it is not a well-formed invocation id. */
  static parse(text: string): InvocationId | undefined {
    if (text.length !== INVOCATION_TEXT_LENGTH || !text.startsWith(INVOCATION_PREFIX))
      return undefined;
    const keyPart = text.slice(
      INVOCATION_PREFIX.length,
      INVOCATION_PREFIX.length + BASE62_U64_WIDTH,
    );
    const uuidPart = text.slice(INVOCATION_PREFIX.length + BASE62_U64_WIDTH);
    const key = decodeBase62(keyPart);
    const uuid = decodeBase62(uuidPart);
    if (key === undefined || uuid === undefined) return undefined;
    if (key >= 1n << 64n || uuid >= 1n << 128n) return undefined;
    const bytes = new Uint8Array(INVOCATION_ID_BYTES);
    writeUintLE(bytes, 0, 8, key);
    writeUintLE(bytes, 8, 16, uuid);
    const id = new InvocationId(bytes);
    id.cachedText = text;
    return id;
  }

  /**
   * The raw bytes in hex: how partition-store keys name an invocation. Much cheaper than the text
   * form, which only clients and the SDK need.
   */
  get hex(): string {
    this.cachedHex ??= toHex(this.bytes);
    return this.cachedHex;
  }

  /** Parses the hex form of `hex`; undefined when malformed. */
  static fromHex(hex: string): InvocationId | undefined {
    const bytes = fromHex(hex);
    return bytes?.length === INVOCATION_ID_BYTES ? new InvocationId(bytes) : undefined;
  }

  get partitionKey(): PartitionKey {
    return PartitionKey(readU64BE(this.bytes, 0));
  }

  get uuid(): Uint8Array {
    return this.bytes.subarray(8);
  }

  toString(): string {
    if (this.cachedText === undefined) {
      this.cachedText =
        INVOCATION_PREFIX +
        encodeBase62LE(this.bytes, 0, 8, BASE62_U64_WIDTH) +
        encodeBase62LE(this.bytes, 8, 16, BASE62_U128_WIDTH);
    }
    return this.cachedText;
  }

  equals(other: InvocationId): boolean {
    return bytesEqual(this.bytes, other.bytes);
  }
}

export interface AwakeableRef {
  readonly invocationId: InvocationId;
  readonly signalIndex: number;
}

export function formatAwakeableId(invocationId: InvocationId, signalIndex: number): string {
  const raw = new Uint8Array(INVOCATION_ID_BYTES + 4);
  raw.set(invocationId.bytes, 0);
  writeU32BE(raw, INVOCATION_ID_BYTES, signalIndex);
  return SIGNAL_PREFIX + toBase64Url(raw);
}

/** Parses a `sign_1…` awakeable id; undefined when malformed. */
export function parseAwakeableId(text: string): AwakeableRef | undefined {
  if (!text.startsWith(SIGNAL_PREFIX)) return undefined;
  const raw = fromBase64Url(text.slice(SIGNAL_PREFIX.length));
  if (raw?.length !== INVOCATION_ID_BYTES + 4) return undefined;
  return {
    invocationId: InvocationId.fromBytes(raw.subarray(0, INVOCATION_ID_BYTES)),
    signalIndex: readU32BE(raw, INVOCATION_ID_BYTES),
  };
}

/** Formats a deployment id (`dp_1` + 22 base62 chars) from 16 bytes. */
export function formatDeploymentId(raw16: Uint8Array): string {
  if (raw16.length !== 16) throw new RangeError("a deployment id has 16 bytes");
  return DEPLOYMENT_PREFIX + encodeBase62LE(raw16, 0, 16, BASE62_U128_WIDTH);
}

/** A subscription id (`sub_1` then 22 base62 characters), from 16 random bytes. */
export function formatSubscriptionId(raw16: Uint8Array): string {
  if (raw16.length !== 16) throw new RangeError("a subscription id has 16 bytes");
  return "sub_1" + encodeBase62LE(raw16, 0, 16, BASE62_U128_WIDTH);
}

export function isDeploymentId(text: string): boolean {
  return (
    text.length === DEPLOYMENT_PREFIX.length + BASE62_U128_WIDTH &&
    text.startsWith(DEPLOYMENT_PREFIX) &&
    decodeBase62(text.slice(DEPLOYMENT_PREFIX.length)) !== undefined
  );
}

/** Why a resource id's text (`dp_1…`, `sub_1…`) is not one, in Restate's words. */
export type ResourceIdProblem =
  | "bad length"
  | "bad format"
  | "base62 decode error"
  | "unrecognized codec version"
  | "id doesn't match the expected type"
  | `unrecognized resource type: ${string}`;

/** The resource types Restate's ids name (the part before `_`). */
const RESOURCE_TYPES = new Set(["inv", "dp", "sub", "prom", "sign", "snap", "mut", "vq"]);

/**
 * Checks an id of a resource identified by a 128-bit value (deployments, subscriptions): `<prefix>_1`
 * then 22 base62 characters. Undefined when it is well formed, else the problem as Restate names it.
 */
export function resourceIdProblem(text: string, prefix: string): ResourceIdProblem | undefined {
  if (text === "") return "bad length";
  const separator = text.indexOf("_");
  if (separator < 0) return "bad format";
  const type = text.slice(0, separator);
  if (!RESOURCE_TYPES.has(type)) return `unrecognized resource type: ${type}`;
  const rest = text.slice(separator + 1);
  if (rest === "") return "bad length";
  if (rest[0] !== "1") return "unrecognized codec version";
  if (type !== prefix) return "id doesn't match the expected type";
  const encoded = rest.slice(1);
  if (encoded.length < BASE62_U128_WIDTH) return "bad length";
  const value = decodeBase62(encoded.slice(0, BASE62_U128_WIDTH).replace(/^0+/, "") || "0");
  if (value === undefined || value >= 1n << 128n) return "base62 decode error";
  if (encoded.length > BASE62_U128_WIDTH) return "bad length";
  return undefined;
}

const CROCKFORD_BASE32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/**
 * A ULID (26 characters of Crockford base32: 48 bits of milliseconds, then 80 random bits), the
 * idempotency key Restate's ingress gives requests that carry none.
 */
export function formatUlid(timeMs: number, random10: Uint8Array): string {
  if (!Number.isSafeInteger(timeMs) || timeMs < 0 || timeMs >= 2 ** 48)
    throw new RangeError(`a ULID's time is 48 bits of milliseconds, got ${timeMs}`);
  if (random10.length !== 10) throw new RangeError("a ULID has 10 random bytes");
  let value = BigInt(timeMs);
  for (const byte of random10) value = (value << 8n) | BigInt(byte);
  let text = "";
  for (let i = 0; i < 26; i++) {
    text = CROCKFORD_BASE32[Number(value & 31n)]! + text;
    value >>= 5n;
  }
  return text;
}

// ---- deterministic invocation ids ----
// Keel's own scheme (only the text format must match Restate): a hash of what makes the invocation
// unique, with the partition key of its target so that it lands where its key's state lives.

export interface InvocationTargetRef {
  readonly service: string;
  readonly handler: string;
  /** The object or workflow key; empty for services without keys. */
  readonly key: string;
  /** Objects and workflows: their key, even the empty one, chooses the partition. */
  readonly keyed: boolean;
}

function partitionKeyFor(target: InvocationTargetRef, fallback: string | Uint8Array): PartitionKey {
  if (target.keyed) return partitionKeyOf(target.key);
  return typeof fallback === "string"
    ? partitionKeyOf(fallback)
    : PartitionKey(readU64BE(hash128(["pk", fallback]), 0));
}

/** The id of a request carrying an idempotency key: the same request always gets the same id. */
export function idempotentInvocationId(
  target: InvocationTargetRef,
  idempotencyKey: string,
): InvocationId {
  const uuid = hash128(["ik", target.service, target.key, target.handler, idempotencyKey]);
  return InvocationId.fromParts(partitionKeyFor(target, idempotencyKey), uuid);
}

/** The id of a workflow's `run` invocation: one per workflow id. */
export function workflowRunInvocationId(service: string, key: string): InvocationId {
  return InvocationId.fromParts(partitionKeyOf(key), hash128(["wf", service, key]));
}

/** The id of an invocation created by a Call/OneWayCall command, unique per parent and command. */
export function childInvocationId(
  parent: InvocationId,
  commandIndex: number,
  target: InvocationTargetRef,
): InvocationId {
  const index = new Uint8Array(4);
  writeU32BE(index, 0, commandIndex);
  const uuid = hash128(["call", parent.bytes, index, target.service, target.handler, target.key]);
  return InvocationId.fromParts(partitionKeyFor(target, uuid), uuid);
}

/**
 * The id of the invocation a Kafka record becomes: the same record (producer = subscription, topic
 * and partition; its offset) always gets the same id, so a record delivered again lands on the
 * partition that has its dedup entry, even for a service without keys.
 */
export function kafkaRecordInvocationId(
  target: InvocationTargetRef,
  producer: string,
  offset: number,
): InvocationId {
  const uuid = hash128(["kafka", producer, String(offset)]);
  return InvocationId.fromParts(partitionKeyFor(target, uuid), uuid);
}

/** The id of a fresh, unkeyed invocation: `random` must hold 16 random bytes. */
export function freshInvocationId(target: InvocationTargetRef, random: Uint8Array): InvocationId {
  return InvocationId.fromParts(partitionKeyFor(target, random), random);
}
