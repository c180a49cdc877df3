/**
 * Keel's vocabulary, used by every other folder: assertions, branded ids (LSNs, offsets,
 * partitions, nodes), invocation and deployment ids in Restate's text formats, partitioning of the key
 * space, typed errors, bytes, hashes (MurmurHash3, SHA-256), base62, base58, durations, the seeded PRNG, a FIFO
 * ring and every named limit. Pure: no I/O, no clock, no randomness of its own.
 */

export { AssertionFailure, assert, assertNever, defined } from "./assert.js";
export { LogletOffset, Lsn, OFFSET_OLDEST, PartitionId, PartitionKey, Version } from "./brand.js";
export type { Brand } from "./brand.js";
export {
  bytesEqual,
  compareBytes,
  concatBytes,
  fromHex,
  fromUtf8,
  fromUtf8Strict,
  readU32BE,
  toBase64Url,
  toHex,
  utf8,
  writeU32BE,
  writeU64BE,
} from "./bytes.js";
export { decodeBase58, encodeBase58 } from "./base58.js";
export { formatDurationFriendly, parseDuration } from "./duration.js";
export { KeelError, describeError } from "./errors.js";
export type { ErrorCode } from "./errors.js";
export { Fifo } from "./fifo.js";
export { hash128, murmur3x86_128 } from "./hash.js";
export {
  InvocationId,
  childInvocationId,
  formatDeploymentId,
  formatSubscriptionId,
  formatUlid,
  kafkaRecordInvocationId,
  freshInvocationId,
  idempotentInvocationId,
  isDeploymentId,
  parseAwakeableId,
  resourceIdProblem,
  workflowRunInvocationId,
} from "./ids.js";
export type { InvocationTargetRef } from "./ids.js";
export { limits } from "./limits.js";
export {
  NodeId,
  formatGenerationalNodeId,
  generationalNodeId,
  parseGenerationalNodeId,
  sameIncarnation,
} from "./node_id.js";
export type { GenerationalNodeId } from "./node_id.js";
export { PartitionTable, partitionKeyOf } from "./partitioning.js";
export { seededPrng } from "./prng.js";
export type { Prng } from "./prng.js";
export { Sha256, sha256 } from "./sha256.js";
export { crc32 } from "./crc32.js";
export { presentFields } from "./objects.js";
