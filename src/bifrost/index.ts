/**
 * The log: the loglet contract every provider passes, chains of segments (seal and extend) that
 * make one virtual log per partition, the in-memory loglet, the store format shared by the local
 * loglet and log servers, and the replicated loglet (replicated/: sequencer, seal and find-tail by
 * ballots, readers, the protocol its nodes speak, and the driver and provider over a node transport).
 */

export { Bifrost, chainKey } from "./bifrost.js";
export type { LogChain, SegmentConfig, VirtualLog } from "./bifrost.js";
export type { Loglet, LogletConfig, LogletEntry, LogletProvider, LogletTail } from "./loglet.js";
export {
  EMPTY_META,
  InMemoryLogStoreIndex,
  LogStoreIndex,
  decodeStoreWrite,
  encodeStoreWrite,
  sliceRecords,
} from "./loglet_store.js";
export type { LogletMeta, RecoveredLoglet, StoreWrite } from "./loglet_store.js";
export { decodeLogletMessage, encodeLogletMessage, isStoreRequest } from "./replicated/codec.js";
export { DEFAULT_LOGLET_LIMITS, checkLogletLimits } from "./replicated/limits.js";
export type { ReplicatedLogletLimits } from "./replicated/limits.js";
export { LogletNode } from "./replicated/loglet_node.js";
export { ReplicatedLogletProvider } from "./replicated/provider.js";
export type { LogletObserver, Result } from "./replicated/loglet_node.js";
export type {
  AcceptRequest,
  GetRecordsRequest,
  LogServerNotice,
  LogServerRequest,
  LogServerResponse,
  LogletMessage,
  PrepareRequest,
  ServerHeader,
  StoreRequest,
  StoreStatus,
  StoredRecord,
  TrimRequest,
} from "./replicated/messages.js";
export { nodesetSizeFor, selectNodeset } from "./replicated/nodeset.js";
export {
  copiesOf,
  domainOf,
  formatReplication,
  isWriteQuorum,
  parseLocation,
  parseReplication,
  replicationToJson,
  shuffled,
} from "./replicated/replication.js";
export type {
  NodeLocation,
  ReplicationProperty,
  Scope,
  Topology,
} from "./replicated/replication.js";
export type { SequencerOptions } from "./replicated/sequencer.js";
export {
  addRange,
  compareBallots,
  dropBelow,
  formatLogletParams,
  logletIdOf,
  parseLogletParams,
  rangeContaining,
} from "./replicated/types.js";
export type { LogletId, LogletParams, OffsetRange } from "./replicated/types.js";
