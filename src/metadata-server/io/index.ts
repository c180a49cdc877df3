/**
 * Metadata members for real processes: Raft storage on files with fsync, the metadata protocol on the node
 * transport, and starting a member or connecting a client.
 */

export { connectMetadataStore, runMetadataMember, startMetadataNode } from "./metadata_node.js";
export type { RunningMember } from "./metadata_node.js";
export { FileRaftStorage } from "./raft_file_storage.js";
export { peerAddressOf } from "./node_metadata_transport.js";
