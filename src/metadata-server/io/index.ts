/**
 * Metadata members for real processes: Raft storage on files with fsync, the metadata protocol on the node
 * transport, and starting a member or connecting a client.
 */

export { startMetadataNode } from "./metadata_node.js";
