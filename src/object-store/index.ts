/**
 * Object stores: where partition snapshots go (and, later, anything else kept off the nodes). The port
 * is small: objects put atomically (streamed a part at a time), read back (whole or a part at a time),
 * listed by prefix, deleted. Destinations are URLs
 * (`file:///dir`, `s3://bucket/prefix`). The directory and S3 implementations live in io/; the memory
 * one serves tests.
 */

export { MemoryObjectStore } from "./memory_object_store.js";
export { parseObjectStoreUrl, validObjectKey } from "./object_store.js";
export type { ObjectData, ObjectStore, ObjectStoreLocation } from "./object_store.js";
