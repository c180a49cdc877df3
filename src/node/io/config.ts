/**
 * keel-server configuration: command-line flags, a TOML file (`--config FILE`) and `KEEL_*`
 * environment variables, with that precedence (flags win). Every bad value is reported with the
 * setting's name, where it came from, what was found and what is allowed.
 */

import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parse as parseToml } from "smol-toml";
import { parseDuration, limits } from "../../core/index.js";
import { parseObjectStoreUrl } from "../../object-store/index.js";
import type { LogFormat, LogLevel } from "../../platform/io/index.js";
import { parseReplication, type ReplicationProperty } from "../../bifrost/index.js";
import { NODE_ROLES, type NodeRole } from "../index.js";
import type { KafkaCluster } from "../../schema/index.js";

export interface ServerConfig {
  /** Kafka clusters subscriptions may consume from (`[[ingress.kafka-clusters]]` in the file). */
  readonly kafkaClusters?: readonly KafkaCluster[];
  readonly baseDir: string;
  readonly nodeName: string;
  readonly clusterName: string;
  readonly bindAddress: string;
  readonly ingressPort: number;
  readonly adminPort: number;
  readonly nodePort: number;
  readonly partitions: number;
  /** Whether the partition count was set (a flag, variable or file) rather than defaulted. */
  readonly partitionsSet?: boolean;
  /** Whether the snapshot destination was named rather than defaulted to the node's own directory. */
  readonly snapshotDestinationSet?: boolean;
  readonly logLevel: LogLevel;
  /** `text` (a line a human reads) or `json` (one object per line, for log collectors). */
  readonly logFormat: LogFormat;
  /** Turns off the Prometheus metrics (and the node port's `GET /metrics` of a single node). */
  readonly disableMetrics: boolean;
  /** An OTLP/HTTP collector (`http://collector:4318`) that receives invocation traces; "" for none. */
  readonly tracingEndpoint: string;
  readonly ingressBodyBytesMax: number;
  /** Invocation attempts running at once on the node (Restate's `concurrent-invocations-limit`). */
  readonly concurrentInvocationsLimit: number;
  /** One-way invocations' attempts in their first second at once (src/invoker/invoker.ts). */
  readonly oneWayStartingLimit: number;
  /**
   * Invocations waiting for an invoker slot above which Kafka subscriptions pause their partitions
   * (they resume at half of it), so records wait in Kafka rather than in the node's memory.
   */
  readonly kafkaPauseQueuedInvocations: number;
  /**
   * Inactivity and abort timeouts of services whose manifest sets none, taken at registration
   * (Restate's `worker.invoker.inactivity-timeout` and `abort-timeout`). 0 means what it means in
   * Restate: suspend at every await; abort as soon as the request is closed.
   */
  readonly inactivityTimeoutMs: number;
  readonly abortTimeoutMs: number;
  /** Benchmarks of upper layers only: skips fdatasync on the log. Never the default. */
  readonly unsafeNoFsync: boolean;
  /** Where partition snapshots go (`file:///dir`); default `file://<base-dir>/<node-name>/snapshots`. */
  readonly snapshotDestination: string;
  /** Applied records of a partition between automatic snapshots (0: on demand only). */
  readonly snapshotIntervalRecords: number;
  /** Snapshots kept per partition; logs are trimmed through the oldest one kept. */
  readonly snapshotsRetained: number;
  /** An S3 destination's endpoint other than AWS's ("" for AWS). */
  readonly snapshotS3Endpoint: string;
  /** An S3 destination's region ("" for the SDK's default: AWS_REGION, else us-east-1). */
  readonly snapshotS3Region: string;
  /** Path-style S3 addressing (MinIO and most self-hosted stores need it). */
  readonly snapshotS3PathStyle: boolean;
  /** Where other nodes reach this one (host:port of its node port); "" for bind address and port. */
  readonly advertisedAddress: string;
  /** `region.zone` (or `region`): the node's failure domains, for placing replicas. */
  readonly location: string;
  /**
   * The metadata members' node addresses (host:port). Empty: the single-node default (every role on
   * this node, its metadata in a file). Set: cluster mode (docs/cluster.md).
   */
  readonly metadataServers: readonly string[];
  /** Cluster mode: provision a new cluster when none exists yet (set on one metadata node only). */
  readonly autoProvision: boolean;
  /** The roles this node takes in cluster mode (default: all). */
  readonly roles: readonly NodeRole[];
  /** Copies of every partition's log and state in cluster mode, as given (`2`, `{zone: 2}`). */
  readonly replication: string;
  /** An Ed25519 private key (PEM) that signs every request to service endpoints (Restate's). */
  readonly requestIdentityPrivateKeyPemFile?: string;
  /** A certificate chain and its private key (PEM): the ingress and admin API serve HTTPS. */
  readonly tlsCertFile?: string;
  readonly tlsKeyFile?: string;
  /** Certificates (PEM) trusted for `https://` endpoints besides the system's. */
  readonly endpointCaFile?: string;
  /**
   * Cluster mode: TLS on the node port, this node's certificate chain and key and the cluster's CA
   * (PEM); every node presents a certificate the CA signed.
   */
  readonly nodeTlsCertFile?: string;
  readonly nodeTlsKeyFile?: string;
  readonly nodeTlsCaFile?: string;
  /** Where the bearer tokens came from; the tokens themselves are below. */
  readonly adminTokenFile?: string;
  /** Where the cluster secret came from (cluster mode: nodes prove it to each other). */
  readonly clusterSecretFile?: string;
  readonly clusterSecret?: string;
  readonly ingressTokenFile?: string;
  /** Bearer tokens the admin API and the ingress require (none: open). */
  readonly adminToken?: string;
  readonly ingressToken?: string;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

interface Setting {
  readonly flag: string;
  readonly env: string;
  readonly kind:
    | "string"
    | "port"
    | "count"
    | "amount"
    | "bytes"
    | "boolean"
    | "level"
    | "logFormat"
    | "httpUrl"
    | "duration"
    | "list";
}

/** The tokens come from a file setting or from the environment, never from a flag (`ps` shows flags). */
type TokenName = "adminToken" | "ingressToken" | "clusterSecret";
/** Settings derived while loading, not read from a source of their own. */
type DerivedName = "partitionsSet" | "snapshotDestinationSet" | "kafkaClusters";

const SETTINGS: Record<Exclude<keyof ServerConfig, TokenName | DerivedName>, Setting> = {
  baseDir: { flag: "base-dir", env: "KEEL_BASE_DIR", kind: "string" },
  nodeName: { flag: "node-name", env: "KEEL_NODE_NAME", kind: "string" },
  clusterName: { flag: "cluster-name", env: "KEEL_CLUSTER_NAME", kind: "string" },
  bindAddress: { flag: "bind-address", env: "KEEL_BIND_ADDRESS", kind: "string" },
  ingressPort: { flag: "ingress-port", env: "KEEL_INGRESS_PORT", kind: "port" },
  adminPort: { flag: "admin-port", env: "KEEL_ADMIN_PORT", kind: "port" },
  nodePort: { flag: "node-port", env: "KEEL_NODE_PORT", kind: "port" },
  partitions: { flag: "partitions", env: "KEEL_PARTITIONS", kind: "count" },
  logLevel: { flag: "log-level", env: "KEEL_LOG_LEVEL", kind: "level" },
  logFormat: { flag: "log-format", env: "KEEL_LOG_FORMAT", kind: "logFormat" },
  disableMetrics: { flag: "disable-metrics", env: "KEEL_DISABLE_METRICS", kind: "boolean" },
  tracingEndpoint: { flag: "tracing-endpoint", env: "KEEL_TRACING_ENDPOINT", kind: "httpUrl" },
  ingressBodyBytesMax: {
    flag: "ingress-body-limit",
    env: "KEEL_INGRESS_BODY_LIMIT",
    kind: "bytes",
  },
  concurrentInvocationsLimit: {
    flag: "concurrent-invocations-limit",
    env: "KEEL_CONCURRENT_INVOCATIONS_LIMIT",
    kind: "count",
  },
  oneWayStartingLimit: {
    flag: "one-way-starting-limit",
    env: "KEEL_ONE_WAY_STARTING_LIMIT",
    kind: "count",
  },
  kafkaPauseQueuedInvocations: {
    flag: "kafka-pause-queued-invocations",
    env: "KEEL_KAFKA_PAUSE_QUEUED_INVOCATIONS",
    kind: "amount",
  },
  inactivityTimeoutMs: {
    flag: "inactivity-timeout",
    env: "KEEL_INACTIVITY_TIMEOUT",
    kind: "duration",
  },
  abortTimeoutMs: { flag: "abort-timeout", env: "KEEL_ABORT_TIMEOUT", kind: "duration" },
  unsafeNoFsync: { flag: "unsafe-no-fsync", env: "KEEL_UNSAFE_NO_FSYNC", kind: "boolean" },
  snapshotDestination: {
    flag: "snapshot-destination",
    env: "KEEL_SNAPSHOT_DESTINATION",
    kind: "string",
  },
  snapshotIntervalRecords: {
    flag: "snapshot-interval-records",
    env: "KEEL_SNAPSHOT_INTERVAL_RECORDS",
    kind: "amount",
  },
  snapshotsRetained: { flag: "snapshots-retained", env: "KEEL_SNAPSHOTS_RETAINED", kind: "count" },
  snapshotS3Endpoint: {
    flag: "snapshot-s3-endpoint",
    env: "KEEL_SNAPSHOT_S3_ENDPOINT",
    kind: "string",
  },
  snapshotS3Region: { flag: "snapshot-s3-region", env: "KEEL_SNAPSHOT_S3_REGION", kind: "string" },
  snapshotS3PathStyle: {
    flag: "snapshot-s3-path-style",
    env: "KEEL_SNAPSHOT_S3_PATH_STYLE",
    kind: "boolean",
  },
  advertisedAddress: {
    flag: "advertised-address",
    env: "KEEL_ADVERTISED_ADDRESS",
    kind: "string",
  },
  location: { flag: "location", env: "KEEL_LOCATION", kind: "string" },
  metadataServers: { flag: "metadata-servers", env: "KEEL_METADATA_SERVERS", kind: "list" },
  autoProvision: { flag: "auto-provision", env: "KEEL_AUTO_PROVISION", kind: "boolean" },
  roles: { flag: "roles", env: "KEEL_ROLES", kind: "list" },
  replication: { flag: "replication", env: "KEEL_REPLICATION", kind: "string" },
  requestIdentityPrivateKeyPemFile: {
    flag: "request-identity-private-key-pem-file",
    env: "KEEL_REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE",
    kind: "string",
  },
  tlsCertFile: { flag: "tls-cert-file", env: "KEEL_TLS_CERT_FILE", kind: "string" },
  tlsKeyFile: { flag: "tls-key-file", env: "KEEL_TLS_KEY_FILE", kind: "string" },
  endpointCaFile: { flag: "endpoint-ca-file", env: "KEEL_ENDPOINT_CA_FILE", kind: "string" },
  nodeTlsCertFile: { flag: "node-tls-cert-file", env: "KEEL_NODE_TLS_CERT_FILE", kind: "string" },
  nodeTlsKeyFile: { flag: "node-tls-key-file", env: "KEEL_NODE_TLS_KEY_FILE", kind: "string" },
  nodeTlsCaFile: { flag: "node-tls-ca-file", env: "KEEL_NODE_TLS_CA_FILE", kind: "string" },
  adminTokenFile: { flag: "admin-token-file", env: "KEEL_ADMIN_TOKEN_FILE", kind: "string" },
  clusterSecretFile: {
    flag: "cluster-secret-file",
    env: "KEEL_CLUSTER_SECRET_FILE",
    kind: "string",
  },
  ingressTokenFile: { flag: "ingress-token-file", env: "KEEL_INGRESS_TOKEN_FILE", kind: "string" },
};

const TOKENS: Record<
  TokenName,
  { file: "adminTokenFile" | "ingressTokenFile" | "clusterSecretFile"; env: string }
> = {
  adminToken: { file: "adminTokenFile", env: "KEEL_ADMIN_TOKEN" },
  clusterSecret: { file: "clusterSecretFile", env: "KEEL_CLUSTER_SECRET" },
  ingressToken: { file: "ingressTokenFile", env: "KEEL_INGRESS_TOKEN" },
};

/** Every setting's default (a node started with no settings at all). */
export const SERVER_CONFIG_DEFAULTS: ServerConfig = {
  baseDir: "keel-data",
  nodeName: hostname().replace(/[^A-Za-z0-9._-]/g, "-") || "keel",
  clusterName: "localcluster",
  bindAddress: "0.0.0.0",
  ingressPort: 8080,
  adminPort: 9070,
  nodePort: 5122,
  partitions: limits.partitionsDefault,
  logLevel: "info",
  logFormat: "text",
  disableMetrics: false,
  tracingEndpoint: "",
  ingressBodyBytesMax: limits.ingressBodyBytesMax,
  concurrentInvocationsLimit: limits.invokerConcurrencyMax,
  oneWayStartingLimit: limits.invokerBackgroundStartingMax,
  kafkaPauseQueuedInvocations: limits.kafkaPauseQueuedInvocations,
  inactivityTimeoutMs: limits.inactivityTimeoutMsDefault,
  abortTimeoutMs: limits.abortTimeoutMsDefault,
  unsafeNoFsync: false,
  snapshotDestination: "",
  snapshotIntervalRecords: 100_000,
  snapshotsRetained: 2,
  snapshotS3Endpoint: "",
  snapshotS3Region: "",
  snapshotS3PathStyle: false,
  advertisedAddress: "",
  location: "",
  metadataServers: [],
  autoProvision: false,
  roles: NODE_ROLES,
  replication: "1",
};

export const USAGE = `Usage: keel-server [options]

Starts a Keel node: by default a single node with every role (ingress, admin, worker, log,
metadata); with --metadata-servers a node of a cluster.

Options (also settable as KEEL_<NAME> environment variables or in a TOML file):
  --base-dir DIR            data directory (default ./keel-data); data lives in DIR/<node-name>
  --node-name NAME          this node's name (default: the host name)
  --ingress-port N          HTTP ingress port (default 8080)
  --admin-port N            admin API port (default 9070)
  --node-port N             node-to-node port (default 5122)
  --bind-address ADDR       address to listen on (default 0.0.0.0)
  --cluster-name NAME       cluster name (default localcluster)
  --partitions N            partitions, fixed when the node is first provisioned (default 24)
  --log-level LEVEL         debug, info, warn or error (default info); per module at run
                            time through the admin API (PUT /keel/log-levels)
  --log-format FORMAT       text or json (one JSON object per line; default text)
  --disable-metrics         no Prometheus metrics (default: served at GET /metrics on
                            the node port)
  --tracing-endpoint URL    export OpenTelemetry traces of invocations over OTLP/HTTP
                            (protobuf) to this collector, e.g. http://localhost:4318
  --ingress-body-limit N    largest request body in bytes (default and most 33554432)
  --concurrent-invocations-limit N
                            invocation attempts running at once (default 1000)
  --one-way-starting-limit N
                            attempts of one-way invocations in their first second at
                            once; more wait, calls do not (default 128)
  --kafka-pause-queued-invocations N
                            invocations waiting for an invoker slot above which Kafka
                            subscriptions pause (records wait in Kafka; they resume
                            at half of it; default 10000; 0: pause whenever one waits)
  --inactivity-timeout D    how long an attempt may wait idle before it is asked to
                            suspend, for services that set none (default 1m; 0s:
                            suspend at every await)
  --abort-timeout D         how long a suspending attempt may take to end, for
                            services that set none (default 10m; 0s: abort at once)
  --snapshot-destination URL
                            where partition snapshots go: file:///dir or
                            s3://bucket/prefix (default file://<base-dir>/<node-name>/snapshots)
  --snapshot-s3-endpoint URL
                            an S3-compatible endpoint other than AWS's (MinIO, Ceph, R2);
                            credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
  --snapshot-s3-region R    the bucket's region (default $AWS_REGION, else us-east-1)
  --snapshot-s3-path-style  path-style addressing (most self-hosted S3 stores need it)
  --snapshot-interval-records N
                            applied records of a partition between snapshots; logs
                            are trimmed below them (default 100000; 0: only on demand)
  --snapshots-retained N    snapshots kept per partition (default 2)
  --advertised-address HOST:PORT
                            where other nodes reach this node's node port (default: the
                            bind address, loopback for a wildcard, and --node-port)
  --location REGION[.ZONE]  the node's failure domains (recorded in the nodes configuration)

Cluster mode (see docs/cluster.md):
  --metadata-servers HOST:PORT,...
                            the metadata members' node addresses; setting it starts
                            the node in cluster mode (default: a single node)
  --auto-provision          create the cluster if none exists yet (on one node only)
  --roles ROLE,...          http-ingress, admin, worker, log-server, metadata-server
                            (default: all)
  --cluster-secret-file FILE
                            a secret (16 characters at least) every node of the cluster
                            holds: nodes prove it to each other before they talk (or
                            KEEL_CLUSTER_SECRET)
  --replication N           copies of each partition's log and state: 2, {node: 2},
                            {zone: 2} or {region: 2} (default 1), fixed at provisioning
  --request-identity-private-key-pem-file FILE
                            an Ed25519 private key (PEM) that signs every request to
                            service endpoints, as Restate does ('keel keys generate')
  --tls-cert-file FILE      certificate chain (PEM): ingress and admin API serve HTTPS
  --tls-key-file FILE       the certificate's private key (PEM)
  --endpoint-ca-file FILE   certificates (PEM) trusted for https:// deployments,
                            besides the system's
  --node-tls-cert-file FILE, --node-tls-key-file FILE, --node-tls-ca-file FILE
                            cluster mode: TLS on the node port with this certificate
                            chain and key; peers must present a certificate of the CA
  --admin-token-file FILE   a bearer token the admin API requires (or KEEL_ADMIN_TOKEN)
  --ingress-token-file FILE a bearer token the ingress requires (or KEEL_INGRESS_TOKEN)
  --config FILE             a TOML file with the same settings (e.g. ingress-port = 8080)
  -h, --help                show this help
`;

/** The integers each kind of setting allows ("amount" may be 0: "none"). */
const INTEGER_RANGES = {
  amount: [0, 2 ** 31],
  port: [1, 65_535],
  count: [1, 65_535],
  bytes: [1, 2 ** 31],
} as const;

function parseValue(setting: Setting, raw: unknown, source: string): unknown {
  const where = `${setting.flag} (from ${source})`;
  switch (setting.kind) {
    case "string": {
      if (typeof raw !== "string" || raw.trim() === "")
        throw new ConfigError(
          `${where}: expected a non-empty string, found ${JSON.stringify(raw)}`,
        );
      return raw;
    }
    case "amount":
    case "port":
    case "count":
    case "bytes": {
      const n =
        typeof raw === "number"
          ? raw
          : typeof raw === "string" && /^\d+$/.test(raw.trim())
            ? Number(raw)
            : NaN;
      const [min, max] = INTEGER_RANGES[setting.kind];
      if (!Number.isInteger(n) || n < min || n > max) {
        throw new ConfigError(
          `${where}: expected an integer from ${min} to ${max}, found ${JSON.stringify(raw)}`,
        );
      }
      return n;
    }
    case "boolean": {
      if (typeof raw === "boolean") return raw;
      if (raw === "true" || raw === "1") return true;
      if (raw === "false" || raw === "0") return false;
      throw new ConfigError(`${where}: expected true or false, found ${JSON.stringify(raw)}`);
    }
    case "duration": {
      const ms = typeof raw === "string" ? parseDuration(raw) : undefined;
      if (ms === undefined || !Number.isFinite(ms) || ms < 0) {
        throw new ConfigError(
          `${where}: expected a duration such as 0s, 500ms, 1m or PT1M, found ${JSON.stringify(raw)}`,
        );
      }
      return ms;
    }
    case "list": {
      const items = Array.isArray(raw)
        ? raw
        : typeof raw === "string"
          ? raw
              .split(",")
              .map((item) => item.trim())
              .filter((item) => item !== "")
          : undefined;
      if (items === undefined || items.some((item) => typeof item !== "string"))
        throw new ConfigError(
          `${where}: expected a comma-separated list, found ${JSON.stringify(raw)}`,
        );
      return items;
    }
    case "level": {
      if (raw === "debug" || raw === "info" || raw === "warn" || raw === "error") return raw;
      throw new ConfigError(
        `${where}: expected debug, info, warn or error, found ${JSON.stringify(raw)}`,
      );
    }
    case "httpUrl": {
      let url: URL | undefined;
      try {
        url = typeof raw === "string" ? new URL(raw) : undefined;
      } catch {
        url = undefined;
      }
      if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:"))
        throw new ConfigError(
          `${where}: expected an http:// or https:// URL such as http://localhost:4318, found ${JSON.stringify(raw)}`,
        );
      return raw;
    }
    case "logFormat": {
      if (raw === "text" || raw === "json") return raw;
      throw new ConfigError(`${where}: expected text or json, found ${JSON.stringify(raw)}`);
    }
  }
}

/** Parses argv and the environment into a config; throws ConfigError with a clear message. */
export function loadConfig(
  argv: string[],
  env: NodeJS.ProcessEnv,
): { config: ServerConfig; help: boolean } {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    config: { type: "string" },
    help: { type: "boolean", short: "h" },
  };
  for (const setting of Object.values(SETTINGS))
    options[setting.flag] = { type: setting.kind === "boolean" ? "boolean" : "string" };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new ConfigError((error as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ""));
  }
  if (values["help"] === true) return { config: SERVER_CONFIG_DEFAULTS, help: true };

  let file: Record<string, unknown> = {};
  const configPath = (values["config"] as string | undefined) ?? env["KEEL_CONFIG"];
  if (configPath !== undefined) {
    let text: string;
    try {
      text = readFileSync(configPath, "utf8");
    } catch (error) {
      throw new ConfigError(
        `cannot read the config file ${configPath}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
    }
    try {
      file = parseToml(text);
    } catch (error) {
      throw new ConfigError(
        `the config file ${configPath} is not valid TOML: ${(error as Error).message.split("\n")[0]}`,
      );
    }
    const known = new Set(Object.values(SETTINGS).map((s) => s.flag));
    known.add("ingress");
    for (const key of Object.keys(file)) {
      if (!known.has(key))
        throw new ConfigError(
          `the config file ${configPath} has an unknown setting '${key}'; known settings: ${[...known].join(", ")}`,
        );
    }
  }

  const config: Record<string, unknown> = { ...SERVER_CONFIG_DEFAULTS };
  for (const [name, setting] of Object.entries(SETTINGS)) {
    const fromFlag = values[setting.flag];
    const fromEnv = env[setting.env];
    const fromFile = file[setting.flag];
    if (fromFlag !== undefined) config[name] = parseValue(setting, fromFlag, `--${setting.flag}`);
    else if (fromEnv !== undefined && fromEnv !== "")
      config[name] = parseValue(setting, fromEnv, setting.env);
    else if (fromFile !== undefined) config[name] = parseValue(setting, fromFile, configPath!);
  }
  const result = config as unknown as ServerConfig;
  if (!/^[A-Za-z0-9._-]+$/.test(result.nodeName)) {
    throw new ConfigError(
      `node-name: expected letters, digits, '.', '_' or '-', found ${JSON.stringify(result.nodeName)}`,
    );
  }
  const ports = [result.ingressPort, result.adminPort, result.nodePort];
  if (new Set(ports).size !== ports.length) {
    throw new ConfigError(
      `ingress-port, admin-port and node-port must differ, found ${ports.join(", ")}`,
    );
  }
  if (result.ingressBodyBytesMax > limits.messageBytesMax) {
    throw new ConfigError(
      `ingress-body-limit: at most ${limits.messageBytesMax} bytes (Keel's message limit: a larger body could not be delivered to a service), found ${result.ingressBodyBytesMax}`,
    );
  }
  if ((result.tlsCertFile === undefined) !== (result.tlsKeyFile === undefined)) {
    throw new ConfigError(
      `tls-cert-file and tls-key-file go together, found only ${result.tlsCertFile === undefined ? "tls-key-file" : "tls-cert-file"}`,
    );
  }
  const nodeTls = [result.nodeTlsCertFile, result.nodeTlsKeyFile, result.nodeTlsCaFile];
  if (nodeTls.some((file) => file !== undefined)) {
    if (nodeTls.some((file) => file === undefined))
      throw new ConfigError(
        "node-tls-cert-file, node-tls-key-file and node-tls-ca-file go together, found only some of them",
      );
    if (result.metadataServers.length === 0)
      throw new ConfigError(
        "node-tls-cert-file: TLS on the node port is for cluster mode; set metadata-servers",
      );
  }
  const tokens: Partial<Record<TokenName, string>> = {};
  for (const [name, { file, env: variable }] of Object.entries(TOKENS) as [
    TokenName,
    (typeof TOKENS)[TokenName],
  ][]) {
    const token = readToken(result[file], env[variable], SETTINGS[file].flag, variable);
    if (token !== undefined) tokens[name] = token;
  }
  const baseDir = resolve(result.baseDir);
  const snapshotDestination =
    result.snapshotDestination === ""
      ? `file://${join(baseDir, result.nodeName, "snapshots")}`
      : result.snapshotDestination;
  try {
    parseObjectStoreUrl(snapshotDestination);
  } catch (error) {
    throw new ConfigError(`snapshot-destination: ${(error as Error).message}`);
  }
  if (result.advertisedAddress !== "" && !/^[^\s:/]+:\d{1,5}$/.test(result.advertisedAddress)) {
    throw new ConfigError(
      `advertised-address: expected host:port, found '${result.advertisedAddress}'`,
    );
  }
  if (result.location !== "" && !/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)?$/.test(result.location)) {
    throw new ConfigError(
      `location: expected region or region.zone (letters, digits, '_' and '-'), found '${result.location}'`,
    );
  }
  if (result.snapshotS3Endpoint !== "" && !/^https?:\/\/[^/]+/.test(result.snapshotS3Endpoint)) {
    throw new ConfigError(
      `snapshot-s3-endpoint: expected an http:// or https:// URL, found '${result.snapshotS3Endpoint}'`,
    );
  }
  checkClusterSettings(result);
  const kafkaClusters =
    file["ingress"] === undefined ? [] : kafkaClustersOf(file["ingress"], configPath!);
  const partitionsSet =
    values["partitions"] !== undefined ||
    (env["KEEL_PARTITIONS"] ?? "") !== "" ||
    file["partitions"] !== undefined;
  return {
    config: {
      ...result,
      ...tokens,
      baseDir,
      snapshotDestination,
      snapshotDestinationSet: result.snapshotDestination !== "",
      partitionsSet,
      kafkaClusters,
    },
    help: false,
  };
}

/**
 * The `[ingress]` table of the file: only `kafka-clusters`, as Restate names it (`[[ingress.kafka-clusters]]`
 * with `name`, `brokers` and any further librdkafka options, passed through as they are).
 */
function kafkaClustersOf(ingress: unknown, configPath: string): KafkaCluster[] {
  const where = `the config file ${configPath}`;
  if (typeof ingress !== "object" || ingress === null || Array.isArray(ingress))
    throw new ConfigError(`${where}: 'ingress' must be a table`);
  for (const key of Object.keys(ingress)) {
    if (key !== "kafka-clusters")
      throw new ConfigError(
        `${where} has an unknown setting 'ingress.${key}'; known: ingress.kafka-clusters`,
      );
  }
  const list = (ingress as Record<string, unknown>)["kafka-clusters"];
  if (list === undefined) return [];
  if (!Array.isArray(list))
    throw new ConfigError(`${where}: 'ingress.kafka-clusters' must be an array of tables`);
  const clusters: KafkaCluster[] = [];
  for (const [index, entry] of list.entries()) {
    const at = `${where}: ingress.kafka-clusters[${index}]`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry))
      throw new ConfigError(`${at} must be a table`);
    const { name, brokers, ...rest } = entry as Record<string, unknown>;
    if (typeof name !== "string" || !/^[A-Za-z0-9._-]+$/.test(name))
      throw new ConfigError(
        `${at}.name: expected letters, digits, '.', '_' or '-', found ${JSON.stringify(name)}`,
      );
    if (clusters.some((c) => c.name === name))
      throw new ConfigError(`${at}.name: the cluster '${name}' is named twice`);
    if (
      !Array.isArray(brokers) ||
      brokers.length === 0 ||
      !brokers.every((b) => typeof b === "string" && b !== "")
    )
      throw new ConfigError(`${at}.brokers: expected a list of host:port strings`);
    // As Restate: the brokers become `metadata.broker.list` (librdkafka's older name of `bootstrap.servers`).
    const properties: Record<string, string> = { "metadata.broker.list": brokers.join(",") };
    for (const [key, value] of Object.entries(rest)) {
      if (typeof value !== "string")
        throw new ConfigError(
          `${at}.${key}: client options are strings (as librdkafka takes them), found ${JSON.stringify(value)}`,
        );
      properties[key] = value;
    }
    clusters.push({ name, properties });
  }
  return clusters;
}

function checkClusterSettings(config: ServerConfig): void {
  for (const server of config.metadataServers) {
    if (!/^[^\s:/]+:\d{1,5}$/.test(server))
      throw new ConfigError(`metadata-servers: expected host:port entries, found '${server}'`);
  }
  const unknown = config.roles.filter((role) => !(NODE_ROLES as readonly string[]).includes(role));
  if (unknown.length > 0 || config.roles.length === 0)
    throw new ConfigError(
      `roles: expected some of ${NODE_ROLES.join(", ")}, found '${config.roles.join(",")}'`,
    );
  try {
    replicationOf(config);
  } catch (error) {
    throw new ConfigError(`replication: ${(error as Error).message}`);
  }
  if (config.metadataServers.length === 0 && config.roles.length < NODE_ROLES.length)
    throw new ConfigError(
      "roles: a single node (no metadata-servers) takes every role; set metadata-servers for cluster mode",
    );
}

/** The replication property the setting names: `2` is `{node: 2}`; `{zone: 2}` and the like. */
export function replicationOf(config: Pick<ServerConfig, "replication">): ReplicationProperty {
  const text = config.replication.trim();
  if (/^\d+$/.test(text)) return parseReplication(Number(text));
  const match = /^\{(.*)\}$/.exec(text);
  if (match === null) throw new TypeError(`expected 2 or {node: 2}, found '${text}'`);
  const counts: Record<string, number> = {};
  for (const part of match[1]!.split(",").filter((p) => p.trim() !== "")) {
    const pair = /^\s*"?([a-z]+)"?\s*:\s*(\d+)\s*$/.exec(part);
    if (pair === null) throw new TypeError(`expected scope: count, found '${part.trim()}'`);
    counts[pair[1]!] = Number(pair[2]);
  }
  return parseReplication(counts);
}

/** A bearer token from its file or its environment variable (one of them), without line breaks. */
function readToken(
  file: string | undefined,
  fromEnv: string | undefined,
  flag: string,
  variable: string,
): string | undefined {
  const given = fromEnv !== undefined && fromEnv !== "";
  if (file !== undefined && given)
    throw new ConfigError(`${flag} and ${variable} are both set; set one of them`);
  let token: string;
  let where: string;
  if (file !== undefined) {
    try {
      token = readFileSync(file, "utf8").trim();
    } catch (error) {
      throw new ConfigError(
        `${flag}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
    }
    where = `${flag} (${file})`;
  } else if (given) {
    token = fromEnv.trim();
    where = variable;
  } else {
    return undefined;
  }
  // A bearer token is one HTTP header value: visible ASCII without spaces (RFC 6750's token68 and more).
  if (!/^[\x21-\x7e]+$/.test(token))
    throw new ConfigError(
      `${where}: expected a token of visible ASCII characters without spaces, found ${token === "" ? "nothing" : "other characters"}`,
    );
  return token;
}
