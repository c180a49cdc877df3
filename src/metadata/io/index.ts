/**
 * The metadata store in one durable file (write, fsync, rename): the single-node default.
 */

export { FileMetadataStore } from "./file_metadata_store.js";
