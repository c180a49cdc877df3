/**
 * Keel's operator CLI (`keel`): status, invocations, SQL, deployments, against the admin API.
 */

export {
  CliError,
  EXIT_USAGE,
  invocationsCommand,
  registerCommand,
  sqlCommand,
  statusCommand,
} from "./keel_cli.js";
export type { CliContext } from "./keel_cli.js";
