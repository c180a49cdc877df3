/**
 * Offline replay of a stopped node's data directory, store digests, and the repairs of a damaged
 * log's tail (`keel-replay`).
 */

export { acceptDamagedTail, digestStore, replayDataDir } from "./offline_replay.js";
