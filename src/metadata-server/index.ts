/**
 * The replicated metadata store: a Raft group (raft/: pure tick/step/ready/advance with
 * pre-vote, read-index, membership changes and snapshots), its members and the key-value state
 * machine they replicate, the client with exactly-once sessions, provisioning, and the drivers that
 * pump them through ports.
 */

export { DEFAULT_CLIENT_LIMITS, MetadataClientCore } from "./client.js";
export type { ClientLimits, Completion, Outcome } from "./client.js";
export { MetadataClientDriver } from "./client_driver.js";
export { MetadataMember } from "./member.js";
export type { MemberObserver } from "./member.js";
export { MetadataMemberDriver } from "./member_driver.js";
export type { MetadataTransport, RaftStorage, Ticker } from "./ports.js";
export {
  NODES_CONFIG_KEY,
  decodeNodesConfiguration,
  provisionedState,
  registerNode,
} from "./provisioning.js";
export type { NodeIdentity, NodeRecord, NodesConfiguration } from "./provisioning.js";
export { bootstrapState, recoveredMembership } from "./raft/bootstrap.js";
export { DEFAULT_RAFT_LIMITS } from "./raft/config.js";
export type { RaftLimits, TestOnlyFaults } from "./raft/config.js";
export { isMember, isVoter } from "./raft/membership.js";
export type { RaftRecovered, RaftStatus } from "./raft/raft.js";
export { StoragePlanner, recoverStorage } from "./raft/storage_format.js";
export type { PersistWork } from "./raft/storage_format.js";
export { LogIndex, MemberId } from "./raft/types.js";
export type { Entry, Membership, Term } from "./raft/types.js";
export { ReplicatedMetadataStore } from "./replicated_store.js";
export { DEFAULT_STATE_MACHINE_LIMITS } from "./state_machine.js";
export { decodeEnvelope, encodeEnvelope } from "./wire.js";
export type { Envelope } from "./wire.js";
