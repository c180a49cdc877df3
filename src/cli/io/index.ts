/**
 * Keel's operator CLI (`keel`): status, invocations, SQL, deployments, snapshots, against the admin
 * API, request-identity keys, and provisioning a new cluster.
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
export { provisionCommand } from "./provision.js";
