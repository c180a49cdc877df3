/**
 * The `local` loglet provider: every loglet of a node in one stream of segment files, one
 * durable write per group commit.
 */

export { LocalLogletProvider } from "../local/io/local_loglet.js";
