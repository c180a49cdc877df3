/**
 * A node for a real process: configuration (flags, KEEL_* variables, TOML), the data directory's
 * layout and lock, and the composition of a node with its HTTP servers (keel-server and the test kit).
 */

export { ConfigError, SERVER_CONFIG_DEFAULTS, USAGE, loadConfig, replicationOf } from "./config.js";
export type { ServerConfig } from "./config.js";
export { dataDirLayout } from "./data_dir.js";
export { lockDirectory } from "./dir_lock.js";
export { startNodeServer } from "./node_server.js";
export type { RunningNodeServer } from "./node_server.js";
