/**
 * Node implementations of the platform: the system clock, entropy and the node's logger (text or
 * JSON lines, levels per module), the
 * node ticker, heap-growth settings, HTTP helpers shared by the ingress and admin servers (HTTP/1.1 and
 * h2c on one port, or HTTPS with HTTP/2 by ALPN), bearer tokens, and the segment-file engine with durable writes (frames with checksums, group
 * commit, torn-tail recovery) that the local loglet and the log servers' stores are built on.
 */

export { AccessToken, UNAUTHORIZED_HEADERS } from "./access_token.js";
export { limitHeapGrowth } from "./heap_growth.js";
export {
  HttpApiServer,
  type TlsCredentials,
  httpStatusOf,
  isoMillis,
  isoNanos,
  isoOffset,
  listenOn,
  readBody,
  sendJson,
} from "./http_util.js";
export { nodeTicker } from "./node_ticker.js";
export { SegmentFiles, describeDamagedTail, framedBytes } from "./segment_files.js";
export { fsyncDir, readJsonFile, readNumberFile, writeFileDurably } from "./durable_files.js";
export type { DamagedTail, SegmentFilesOptions } from "./segment_files.js";
export { systemClock, systemEntropy } from "./system.js";
export {
  LOG_LEVELS,
  LOG_MODULES,
  LogLevels,
  consoleLogger,
  isLogLevel,
  isLogModule,
  logLevelsOf,
  moduleLogger,
} from "./logger.js";
export type { LogFormat, LogLevel, LogModule, NodeLogger } from "./logger.js";
