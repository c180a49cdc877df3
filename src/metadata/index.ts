/**
 * The metadata store contract (linearizable get and compare-and-swap put on versioned keys)
 * with its single-node providers: in memory and, in io/, a durable file. The replicated provider is
 * src/metadata-server.
 */

export { getJson, putJson } from "./json.js";
export { MemoryMetadataStore } from "./memory_store.js";
export {
  ANY_VERSION,
  MUST_NOT_EXIST,
  PreconditionFailed,
  matchesVersion,
  preconditionHolds,
} from "./store.js";
export type { MetadataStore, Precondition, VersionedValue } from "./store.js";
