#!/usr/bin/env node
/**
 * keel: the operator CLI of a Keel node. Talks to the admin API (`--admin`, else `KEEL_ADMIN_URL`,
 * else `RESTATE_ADMIN_URL`, else http://localhost:9070); prints human tables, or JSON with `--json`.
 *
 *   keel status                      the node, its partitions (role, leader, applied LSN, log tail)
 *   keel invocations [filters]       active invocations (or --all, --status S, --target T)
 *   keel sql "<query>"               SQL over Restate's introspection tables
 *   keel deployments register <uri>  discover an SDK endpoint and register its services
 *   keel snapshot create|list        partition snapshots (and the logs trimmed below them)
 *   keel keys generate [--out FILE]  a request-identity key pair (keel-server signs with it)
 *   keel provision --node HOST:PORT  create the cluster a waiting metadata node belongs to
 *
 * Exit codes: 0 done, 1 the server failed the request, 2 bad usage, 3 the server is unreachable.
 */

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  CliError,
  EXIT_USAGE,
  invocationsCommand,
  registerCommand,
  keysGenerateCommand,
  provisionCommand,
  snapshotCreateCommand,
  snapshotListCommand,
  sqlCommand,
  statusCommand,
  type CliContext,
} from "../cli/io/index.js";
import type { NodeTls } from "../net/io/index.js";

const USAGE = `Usage: keel <command> [options]

Commands:
  status                        The node and its partitions: role, leader, epoch, applied LSN, log tail
  invocations                   Invocations that are not completed, newest first
      --all                     include completed ones
      --status <status>         only this status (pending, scheduled, ready, running, backing-off,
                                suspended, paused, completed)
      --target <target>         only this service, Service/handler, Object/key or Object/key/handler
      --limit <n>               at most n rows (default 50)
  sql "<query>"                 Run SQL over sys_invocation, sys_journal, state, sys_inbox, …
  deployments register <uri>    Discover an SDK endpoint and register its services
      --force                   overwrite an existing deployment with the same URI
      --dry-run                 show what would be registered
      --use-http-11             talk HTTP/1.1 to the endpoint (request-response mode)
  snapshot create               Snapshot every partition led here now; logs are trimmed below
      --partition <n>           only partition n
  snapshot list                 The snapshots kept of each partition, and the logs' trim points
  keys generate                 A request-identity key pair: the private key (PEM) for
                                keel-server --request-identity-private-key-pem-file, the
                                public key (publickeyv1_…) for the SDK's identityKeys
      --out <file>              write the private key to this new file (mode 600) and print
                                the public key; without it the PEM goes to stdout
  provision                     Create the cluster: a metadata node started with
                                --metadata-servers naming itself and without
                                --auto-provision waits for this
      --node <host:port>        that node's node port (its --advertised-address)
      --cluster-name <name>     refuse unless the node is started for this cluster
      --cluster-secret-file <f> the cluster's secret, when its nodes require one (or
                                $KEEL_CLUSTER_SECRET)
      --node-tls-cert-file <f>, --node-tls-key-file <f>, --node-tls-ca-file <f>
                                a certificate of the cluster's CA, its key and the CA,
                                when the node ports require TLS (or $KEEL_NODE_TLS_*)

Options:
  --admin <url>                 admin API (default: $KEEL_ADMIN_URL, $RESTATE_ADMIN_URL or
                                http://localhost:9070)
  --json                        print JSON instead of tables
  --timeout <ms>                give up on a request after this long (default 30000)
  An admin API that requires a token gets $KEEL_ADMIN_TOKEN (else $RESTATE_AUTH_TOKEN).
  -h, --help                    show this help
`;

const DEFAULT_TIMEOUT_MS = 30_000;

/** The cluster secret from its file or KEEL_CLUSTER_SECRET, as keel-server reads it. */
function readClusterSecret(file: string | undefined): string | undefined {
  if (file === undefined) return process.env["KEEL_CLUSTER_SECRET"] || undefined;
  try {
    return readFileSync(file, "utf8").trim();
  } catch (error) {
    throw usage(`--cluster-secret-file: cannot read ${file}: ${(error as Error).message}`);
  }
}
/** The node port's TLS files, from the options or KEEL_NODE_TLS_*_FILE as keel-server reads them. */
function readNodeTls(values: Record<string, unknown>): NodeTls | undefined {
  const files = (["cert", "key", "ca"] as const).map((part) => {
    const given = values[`node-tls-${part}-file`];
    return typeof given === "string"
      ? given
      : process.env[`KEEL_NODE_TLS_${part.toUpperCase()}_FILE`] || undefined;
  });
  if (files.every((file) => file === undefined)) return undefined;
  if (files.some((file) => file === undefined))
    throw usage("--node-tls-cert-file, --node-tls-key-file and --node-tls-ca-file go together");
  const [cert, key, ca] = files.map((file) => {
    try {
      return readFileSync(file!, "utf8");
    } catch (error) {
      throw usage(`cannot read ${file!}: ${(error as Error).message}`);
    }
  }) as [string, string, string];
  return { cert, key, ca };
}
const DEFAULT_LIMIT = 50;

function usage(message: string): CliError {
  return new CliError(`${message}\n\n${USAGE}`, EXIT_USAGE);
}

function positiveInteger(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0)
    throw usage(`--${name} needs a positive integer, got '${text}'`);
  return value;
}

async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        admin: { type: "string" },
        json: { type: "boolean", default: false },
        timeout: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
        all: { type: "boolean", default: false },
        status: { type: "string" },
        target: { type: "string" },
        limit: { type: "string" },
        force: { type: "boolean", default: false },
        "dry-run": { type: "boolean", default: false },
        "use-http-11": { type: "boolean", default: false },
        partition: { type: "string" },
        out: { type: "string" },
        node: { type: "string" },
        "cluster-name": { type: "string" },
        "cluster-secret-file": { type: "string" },
        "node-tls-cert-file": { type: "string" },
        "node-tls-key-file": { type: "string" },
        "node-tls-ca-file": { type: "string" },
      },
    });
  } catch (error) {
    throw usage(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === "help") {
    process.stdout.write(USAGE);
    return;
  }
  const admin =
    values.admin ??
    process.env["KEEL_ADMIN_URL"] ??
    process.env["RESTATE_ADMIN_URL"] ??
    "http://localhost:9070";
  const interactive = process.stderr.isTTY;
  const token = process.env["KEEL_ADMIN_TOKEN"] || process.env["RESTATE_AUTH_TOKEN"] || undefined;
  const ctx: CliContext = {
    admin,
    json: values.json,
    timeoutMs: positiveInteger(values.timeout, "timeout", DEFAULT_TIMEOUT_MS),
    ...(token === undefined ? {} : { token }),
    out: (text) => process.stdout.write(`${text}\n`),
    progress: (text) => {
      if (!interactive) return;
      process.stderr.write(text === undefined ? "\r\x1b[K" : `\r\x1b[K${text}`);
    },
  };
  switch (command) {
    case "status":
      return statusCommand(ctx);
    case "invocations":
      return invocationsCommand(ctx, {
        status: values.status,
        target: values.target,
        all: values.all,
        limit: positiveInteger(values.limit, "limit", DEFAULT_LIMIT),
      });
    case "sql": {
      const sql = rest.join(" ").trim();
      if (sql === "")
        throw usage('keel sql needs a query, e.g. keel sql "SELECT * FROM sys_service"');
      return sqlCommand(ctx, sql);
    }
    case "deployments": {
      const [action, uri] = rest;
      if (action !== "register" || uri === undefined)
        throw usage("usage: keel deployments register <uri>");
      return registerCommand(ctx, {
        uri,
        force: values.force,
        dryRun: values["dry-run"],
        useHttp11: values["use-http-11"],
      });
    }
    case "snapshot": {
      const [action] = rest;
      if (action === "list") return snapshotListCommand(ctx);
      if (action === "create") {
        const partition = values.partition;
        if (partition !== undefined && !/^\d{1,9}$/.test(partition))
          throw usage(`--partition needs a partition number, got '${partition}'`);
        return snapshotCreateCommand(ctx, partition === undefined ? undefined : Number(partition));
      }
      throw usage("usage: keel snapshot create [--partition N] | keel snapshot list");
    }
    case "keys": {
      const [action] = rest;
      if (action !== "generate") throw usage("usage: keel keys generate [--out FILE]");
      return keysGenerateCommand(
        {
          out: (text) => process.stdout.write(`${text}\n`),
          note: (text) => process.stderr.write(`${text}\n`),
        },
        values.out,
      );
    }
    case "provision": {
      if (values.node === undefined) throw usage("usage: keel provision --node HOST:PORT");
      return provisionCommand(
        (text) => process.stdout.write(`${text}\n`),
        values.node,
        values["cluster-name"],
        positiveInteger(values.timeout, "timeout", DEFAULT_TIMEOUT_MS),
        readClusterSecret(values["cluster-secret-file"]),
        readNodeTls(values),
      );
    }
    default:
      throw usage(`unknown command '${command}'`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof CliError) {
    process.stderr.write(`keel: ${error.message}\n`);
    process.exit(error.exitCode);
  }
  process.stderr.write(`keel: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
