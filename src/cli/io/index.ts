/**
 * Keel's operator CLI (`keel`): status, invocations, SQL, deployments, snapshots, against the admin
 * API, and request-identity keys.
 */

export {
  CliError,
  EXIT_USAGE,
  invocationsCommand,
  registerCommand,
  snapshotCreateCommand,
  snapshotListCommand,
  sqlCommand,
  statusCommand,
} from "./keel_cli.js";
export type { CliContext } from "./keel_cli.js";
export { keysGenerateCommand } from "./keys.js";
