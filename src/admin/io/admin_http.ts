/**
 * The admin API (port 9070), under Restate's paths: unversioned and with the `/v2`–`/v4` prefixes the
 * official CLI uses after `GET /version`. Errors use Restate's shape, `{"message", "restate_code"}`
 * (`/query` errors carry only `message`, as Restate's do). Bad input gets a 4xx naming what was wrong;
 * nothing a client sends can crash the node.
 *
 * `GET /version` reports the Restate version whose API Keel implements (clients choose their
 * queries by it) and Keel's own version beside it. Keel adds routes of its own: `GET /keel/status`
 * (node, partitions, logs), which the `keel` operator CLI reads, snapshots, and the log levels per
 * module (log_level_routes.ts); `GET /openapi` documents them all. The web UI is served at `/ui/`,
 * as Restate serves its own (web_ui.ts).
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Server as NetServer } from "node:net";
import { PartitionKey, KeelError, describeError, limits } from "../../core/index.js";
import type { ClusterDescription, KeelNode } from "../../node/index.js";
import type { Logger } from "../../platform/index.js";
import {
  AdminError,
  missingField,
  parseInvocationId,
  readJsonBody,
  queryStringError,
  stringField,
} from "./admin_common.js";
import { InvocationRoutes } from "./invocation_routes.js";
import { keelAdminOpenApi, type ClusterStatusJson, type NodeStatusJson } from "../index.js";
import { SchemaRoutes } from "./schema_routes.js";
import { KafkaClusterRoutes } from "./kafka_cluster_routes.js";
import { SubscriptionRoutes } from "./subscription_routes.js";
import type { KafkaCluster } from "../../schema/index.js";
import type { SubscriptionStatus } from "../../ingress/io/index.js";
import { LogLevelRoutes } from "./log_level_routes.js";
import { WebUi, isWebUiPath } from "./web_ui.js";
import { NO_METRICS, type KeelMetrics } from "../../observability/index.js";
import {
  HttpApiServer,
  UNAUTHORIZED_HEADERS,
  httpStatusOf,
  sendJson,
  type AccessToken,
  type LogLevels,
  type TlsCredentials,
} from "../../platform/io/index.js";
import { EndpointClient } from "../../invoker/io/index.js";
import type { SqlEngine, SqlEngineOptions } from "../../query/io/index.js";

export const KEEL_VERSION = "0.1.0";
/** The Restate release whose wire behaviour Keel implements; clients pick features by it. */
export const RESTATE_COMPATIBLE_VERSION = "1.7.12";

const ADMIN_API_VERSION_MIN = 2;
const ADMIN_API_VERSION_MAX = 4;
const ARROW_STREAM = "application/vnd.apache.arrow.stream";
/** The `mode` values Restate's `DELETE /invocations/{id}` accepts. */
const DELETION_MODES = ["Cancel", "cancel", "Kill", "kill", "Purge", "purge"];

/**
 * The SQL engine (and through it the SQL process, with DuckDB and Arrow) loads with the first query:
 * a node or a test that never queries need not pay for it at start-up.
 */
const loadSql = () => import("../../query/io/index.js");

interface RouteContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly params: string[];
  readonly url: URL;
  readonly apiVersion: number;
}

type Handler = (ctx: RouteContext) => Promise<void> | void;

interface Route {
  readonly method: string;
  readonly path: string;
  readonly pattern: RegExp;
  /** The names of the path's parameters, in order (as Restate names them in its errors). */
  readonly paramNames: string[];
  readonly handler: Handler;
  /** Listed in `GET /openapi` (Restate leaves its deprecated spellings out). */
  readonly documented: boolean;
}

export interface AdminOptions {
  readonly ingressUrl: string;
  readonly sql?: Partial<SqlEngineOptions>;
  /** Serve HTTPS with these credentials (else HTTP/1.1 and h2c). */
  readonly tls?: TlsCredentials;
  /** A bearer token every request but `GET /health` must carry. */
  readonly accessToken?: AccessToken;
  /** How discovery requests identify Keel and whom they trust. */
  readonly endpointClient?: EndpointClient;
  /** Where SQL queries are counted and timed (default: nowhere). */
  readonly metrics?: Pick<KeelMetrics, "sql" | "startTimer">;
  /** The node logger's levels, which `PUT /keel/log-levels/{module}` changes at run time. */
  readonly logLevels?: LogLevels;
  /** Where the built web UI is (default: `dist/ui` of this installation). */
  readonly webUiDirectory?: string;
  /** The Kafka clusters of the configuration, which subscriptions may name besides registered ones. */
  readonly kafkaClusters?: readonly KafkaCluster[];
  /** The subscriptions consumed on this node, with their lag (for `GET /keel/status`). */
  readonly subscriptionStatus?: () => readonly SubscriptionStatus[];
}

export class AdminApi {
  private readonly http: HttpApiServer;
  private readonly routes: Route[] = [];
  private readonly schemaRoutes: SchemaRoutes;
  private readonly invocationRoutes: InvocationRoutes;
  private readonly subscriptionRoutes: SubscriptionRoutes;
  private readonly kafkaClusterRoutes: KafkaClusterRoutes;
  private readonly logLevelRoutes: LogLevelRoutes;
  private readonly webUi: WebUi;
  private sql: Promise<SqlEngine> | undefined;

  constructor(
    private readonly node: KeelNode,
    private readonly logger: Logger,
    private readonly options: AdminOptions,
  ) {
    this.http = new HttpApiServer(
      "admin",
      (req, res) => this.handle(req, res),
      undefined,
      {},
      options.tls,
    );
    this.schemaRoutes = new SchemaRoutes(node, options.endpointClient ?? new EndpointClient());
    this.invocationRoutes = new InvocationRoutes(node);
    this.subscriptionRoutes = new SubscriptionRoutes(node, options.kafkaClusters ?? []);
    this.kafkaClusterRoutes = new KafkaClusterRoutes(node, options.kafkaClusters ?? []);
    this.logLevelRoutes = new LogLevelRoutes(options.logLevels, logger);
    this.webUi = new WebUi(options.webUiDirectory);
    this.defineRoutes();
  }

  private defineRoutes(): void {
    const route = (method: string, path: string, handler: Handler, documented = true): void => {
      // As Restate's router: no trailing slash; a parameter may be empty but at the end of the path.
      const pattern = new RegExp(
        `^${path.replace(/\{[a-z_]+\}(\/)?/g, (_, slash?: string) => (slash === undefined ? "([^/]+)" : "([^/]*)/"))}$`,
      );
      const paramNames = [...path.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1]!);
      this.routes.push({ method, path, pattern, paramNames, handler, documented });
    };
    const schema = this.schemaRoutes;
    const invocations = this.invocationRoutes;
    const subscriptions = this.subscriptionRoutes;
    route("GET", "/health", ({ res }) => {
      const readiness = this.node.readiness();
      if (readiness.ready) emptyOk(res);
      else throw new AdminError(503, readiness.reason);
    });
    route("GET", "/version", ({ res }) => this.version(res));
    route("GET", "/cluster-health", ({ res }) =>
      sendJson(res, 200, {
        cluster_name: this.node.config.clusterName,
        metadata_cluster_health: { members: [1] },
      }),
    );
    route("GET", "/openapi", ({ res }) => sendJson(res, 200, keelAdminOpenApi(KEEL_VERSION)));
    route("GET", "/keel/status", async ({ res }) => sendJson(res, 200, await this.status()));
    route("GET", "/keel/snapshots", async ({ res }) => sendJson(res, 200, await this.snapshots()));
    route("GET", "/keel/log-levels", ({ res }) => this.logLevelRoutes.list(res));
    route("PUT", "/keel/log-levels/{module}", ({ req, res, params }) =>
      this.logLevelRoutes.set(req, res, params[0]!),
    );
    route("DELETE", "/keel/log-levels/{module}", ({ res, params }) =>
      this.logLevelRoutes.reset(res, params[0]!),
    );
    route("POST", "/keel/snapshots", async ({ res, url }) =>
      sendJson(res, 200, {
        snapshots: await this.node.createSnapshots(partitionParameter(url)),
      }),
    );

    route("GET", "/deployments", ({ res }) => schema.listDeployments(res));
    route("POST", "/deployments", ({ req, res, apiVersion }) =>
      schema.register(req, res, apiVersion),
    );
    route("GET", "/deployments/{deployment}", ({ res, params }) =>
      schema.getDeployment(res, params[0]!),
    );
    route("PATCH", "/deployments/{deployment}", ({ req, res, params }) =>
      schema.updateDeployment(req, res, params[0]!),
    );
    // Restate keeps PUT as the deprecated spelling of PATCH: from API v3 on, it only says so.
    route(
      "PUT",
      "/deployments/{deployment}",
      ({ req, res, params, apiVersion }) =>
        schema.updateDeployment(req, res, params[0]!, apiVersion >= 3),
      false,
    );
    route("DELETE", "/deployments/{deployment}", ({ res, params, url }) =>
      schema.deleteDeployment(res, params[0]!, url),
    );

    route("GET", "/services", ({ res }) => schema.listServices(res));
    route("GET", "/services/{service}", ({ res, params }) => schema.getService(res, params[0]!));
    route("PATCH", "/services/{service}", ({ req, res, params }) =>
      schema.modifyService(req, res, params[0]!),
    );
    route("GET", "/services/{service}/openapi", ({ res, params }) =>
      schema.serviceOpenApi(res, params[0]!, this.options.ingressUrl),
    );
    route("GET", "/services/{service}/handlers", ({ res, params }) =>
      schema.listHandlers(res, params[0]!),
    );
    route("GET", "/services/{service}/handlers/{handler}", ({ res, params }) =>
      schema.getHandler(res, params[0]!, params[1]!),
    );
    route("POST", "/services/{service}/state", ({ req, res, params }) =>
      invocations.patchState(req, res, params[0]!),
    );

    route("PATCH", "/invocations/{invocation_id}/cancel", ({ res, params }) =>
      invocations.terminate(res, params[0]!, "cancel"),
    );
    route("PATCH", "/invocations/{invocation_id}/kill", ({ res, params }) =>
      invocations.terminate(res, params[0]!, "kill"),
    );
    route("PATCH", "/invocations/{invocation_id}/purge", ({ res, params }) =>
      invocations.purge(res, params[0]!, false),
    );
    route("PATCH", "/invocations/{invocation_id}/purge-journal", ({ res, params }) =>
      invocations.purge(res, params[0]!, true),
    );
    route("PATCH", "/invocations/{invocation_id}/pause", ({ res, params }) =>
      invocations.pause(res, params[0]!),
    );
    route("PATCH", "/invocations/{invocation_id}/resume", ({ res, params, url }) =>
      invocations.resume(res, params[0]!, url),
    );
    route("PATCH", "/invocations/{invocation_id}/restart-as-new", ({ res, params, url }) =>
      invocations.restartAsNew(res, params[0]!, url),
    );
    route("DELETE", "/invocations/{invocation_id}", ({ res, params, url }) =>
      this.deleteInvocation(res, params[0]!, url),
    );

    route("GET", "/subscriptions", ({ res, url }) => subscriptions.list(res, url));
    route("POST", "/subscriptions", ({ req, res }) => subscriptions.create(req, res));
    route("GET", "/subscriptions/{subscription}", ({ res, params }) =>
      subscriptions.get(res, params[0]!),
    );
    route("DELETE", "/subscriptions/{subscription}", ({ res, params }) =>
      subscriptions.delete(res, params[0]!),
    );
    const kafkaClusters = this.kafkaClusterRoutes;
    route("GET", "/kafka-clusters", ({ res }) => kafkaClusters.list(res));
    route("POST", "/kafka-clusters", ({ req, res }) => kafkaClusters.create(req, res));
    route("GET", "/kafka-clusters/{cluster_name}", ({ res, params, url }) =>
      kafkaClusters.get(res, params[0]!, url),
    );
    route("PATCH", "/kafka-clusters/{cluster_name}", ({ req, res, params }) =>
      kafkaClusters.update(req, res, params[0]!),
    );
    route("DELETE", "/kafka-clusters/{cluster_name}", ({ res, params, url }) =>
      kafkaClusters.delete(res, params[0]!, url),
    );
    route("POST", "/query", ({ req, res }) => this.query(req, res));
  }

  /** Every documented route as `METHOD /path/{param}` (the OpenAPI document must list the same). */
  describeRoutes(): string[] {
    return this.routes.filter((r) => r.documented).map((r) => `${r.method} ${r.path}`);
  }

  listen(port: number, host: string): Promise<NetServer> {
    return this.http.listen(port, host);
  }

  async close(): Promise<void> {
    const sql = this.sql;
    this.sql = undefined;
    if (sql !== undefined) (await sql.catch(() => undefined))?.close();
    await this.http.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? "/", "http://admin");
      // Routes match the path as it was sent, as Restate's do: `..` and `%2e%2e` are no dot segments.
      const target = req.url ?? "/";
      let path = target.startsWith("/") ? target.replace(/[?#].*$/s, "") : url.pathname;
      // The web UI's files hold no data (the page calls the routes below): served without a token.
      if (isWebUiPath(path)) return await this.webUi.serve(req, res, path, url);
      let apiVersion = ADMIN_API_VERSION_MAX;
      // Restate nests its routes under /v2 to /v4 and answers /v1 with 400; any other /vN is a path.
      const versioned = /^\/v([1-9])(\/.*)?$/.exec(path);
      if (versioned !== null && Number(versioned[1]) <= ADMIN_API_VERSION_MAX) {
        apiVersion = Number(versioned[1]);
        if (apiVersion < ADMIN_API_VERSION_MIN) {
          const text = `Unsupported Admin API version V${apiVersion}. This server supports versions between V${ADMIN_API_VERSION_MIN} and V${ADMIN_API_VERSION_MAX}.`;
          res.writeHead(400, {
            "content-type": "text/plain; charset=utf-8",
            "content-length": Buffer.byteLength(text),
          });
          res.end(text);
          return;
        }
        path = versioned[2] ?? "/";
      }
      // A GET route answers HEAD too (Node leaves the body out), as Restate's router does.
      const method = req.method === "HEAD" ? "GET" : (req.method ?? "GET");
      // Health checks stay open: probes carry no credentials, and the answer is only readiness.
      const token = this.options.accessToken;
      if (token !== undefined && path !== "/health" && !token.admits(req)) {
        return sendJson(
          res,
          401,
          { message: "unauthorized: this admin API requires 'Authorization: Bearer <token>'" },
          UNAUTHORIZED_HEADERS,
        );
      }
      let matchedPath = false;
      for (const route of this.routes) {
        const match = route.pattern.exec(path);
        if (match === null) continue;
        matchedPath = true;
        if (route.method !== method) continue;
        const params = match.slice(1).map((p, i) => decodePathParameter(p, route.paramNames[i]!));
        await route.handler({ req, res, params, url, apiVersion });
        return;
      }
      // Like Restate's HTTP layer: unknown paths and methods get an empty answer.
      emptyAnswer(res, matchedPath ? 405 : 404);
    } catch (error) {
      this.fail(res, error);
    }
  }

  private fail(res: ServerResponse, error: unknown): void {
    if (error instanceof AdminError && error.plainText) {
      res.writeHead(error.status, {
        "content-type": "text/plain; charset=utf-8",
        "content-length": Buffer.byteLength(error.message),
      });
      res.end(error.message);
      return;
    }
    if (error instanceof AdminError)
      return sendJson(res, error.status, {
        message: error.message,
        restate_code: error.restateCode,
      });
    if (error instanceof KeelError)
      return sendJson(res, httpStatusOf(error), { message: error.message, restate_code: null });
    this.logger.error("admin request failed", { error: describeError(error) });
    sendJson(res, 500, { message: describeError(error), restate_code: null });
  }

  private version(res: ServerResponse): void {
    sendJson(res, 200, {
      version: RESTATE_COMPATIBLE_VERSION,
      min_admin_api_version: ADMIN_API_VERSION_MIN,
      max_admin_api_version: ADMIN_API_VERSION_MAX,
      ingress_endpoint: this.options.ingressUrl,
      features: {
        protocol_v7: false,
        vqueues: false,
        scoped_virtual_objects: false,
        kafka_scope: false,
      },
      keel_version: KEEL_VERSION,
    });
  }

  private async status(): Promise<NodeStatusJson> {
    const [node, cluster] = await Promise.all([this.node.describe(), this.node.describeCluster()]);
    return {
      keel_version: KEEL_VERSION,
      restate_compatible_version: RESTATE_COMPATIBLE_VERSION,
      node: node.nodeName,
      node_id: node.nodeId ?? null,
      cluster_name: node.clusterName,
      ready: node.ready,
      schema_version: node.schemaVersion,
      running_attempts: node.runningAttempts,
      storage_problem: node.storageProblem ?? null,
      snapshot_destination: node.snapshots?.destination ?? null,
      snapshot_problem: node.snapshots?.problem ?? null,
      partitions: node.partitions.map((p, i) => ({
        id: p.partitionId,
        role: p.role,
        leader: p.leaderNode === "" ? null : p.leaderNode,
        epoch: p.epoch,
        applied_lsn: p.appliedLsn,
        log_tail: p.logTail ?? null,
        trim_point: p.trimPoint ?? null,
        segments: p.segments,
        timers: p.timers,
        append_latency_ms: p.appendLatencyMs ?? null,
        snapshot_lsn: node.snapshots?.latest[i]?.appliedLsn ?? null,
        snapshot_created_at_ms: node.snapshots?.latest[i]?.createdAtMs ?? null,
      })),
      subscriptions: (this.options.subscriptionStatus?.() ?? []).map((s) => ({
        id: s.id,
        state: s.state,
        problem: s.problem ?? null,
        records: s.records,
        lag: s.partitions.reduce((sum, p) => sum + p.lag, 0),
        partitions: s.partitions.map((p) => ({
          topic: p.topic,
          partition: p.partition,
          next_offset: p.nextOffset ?? null,
          high_watermark: p.high,
          lag: p.lag,
        })),
      })),
      ...(cluster === undefined ? {} : { cluster: clusterStatus(cluster) }),
    };
  }

  private async snapshots(): Promise<Record<string, unknown>> {
    const snapshots = this.node.snapshots;
    const node = await this.node.describe();
    return {
      destination: snapshots?.description ?? null,
      partitions: await Promise.all(
        node.partitions.map(async (p) => ({
          id: p.partitionId,
          trim_point: p.trimPoint ?? null,
          snapshots: snapshots === undefined ? [] : await snapshots.list(p.partitionId),
        })),
      ),
    };
  }

  /**
   * The deprecated `DELETE /invocations/{id}?mode=Cancel|Kill|Purge`: 202 like Restate's, which only
   * appends the command and never says whether the invocation exists.
   */
  private async deleteInvocation(res: ServerResponse, text: string, url: URL): Promise<void> {
    const modeText = url.searchParams.get("mode") ?? "Cancel";
    if (!DELETION_MODES.includes(modeText))
      throw queryStringError(
        "mode",
        `unknown variant \`${modeText}\`, expected one of ${DELETION_MODES.map((m) => `\`${m}\``).join(", ")}`,
      );
    const mode = modeText.toLowerCase();
    const id = parseInvocationId(text);
    if (mode === "purge") await this.node.purge(id, false);
    else await this.node.terminate(id, mode === "kill" ? "kill" : "cancel");
    res.writeHead(202, { "content-length": "0" });
    res.end();
  }

  /** POST /query: JSON rows when asked for `application/json`, else an Arrow IPC stream. */
  private async query(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJsonBody(req, limits.adminQueryBodyBytesMax);
    const sql = stringField(body["query"], "query");
    if (sql === undefined) throw missingField("query");
    const json = String(req.headers.accept ?? "").includes("application/json");
    const { SqlError } = await loadSql();
    const metrics = this.options.metrics ?? NO_METRICS;
    const started = metrics.startTimer();
    try {
      const engine = await this.sqlEngine();
      const { body } = await engine.query(sql, json ? "json" : "arrow");
      metrics.sql.queryAnswered(true, started);
      res.writeHead(200, {
        "content-type": json ? "application/json" : ARROW_STREAM,
        "content-length": typeof body === "string" ? Buffer.byteLength(body) : body.byteLength,
      });
      res.end(body);
    } catch (error) {
      metrics.sql.queryAnswered(false, started);
      if (!(error instanceof SqlError)) throw error;
      sendJson(res, error.status, { message: error.message });
    }
  }

  private async sqlEngine(): Promise<SqlEngine> {
    // The engine reads every partition's store: it is built once the node has opened them all.
    await this.node.whenOpened();
    const node = this.node;
    this.sql ??= loadSql().then(({ SqlEngine }) =>
      SqlEngine.create(
        {
          // Where partitions are led changes in a cluster: read where they are now, query by query.
          get partitions() {
            return node.sqlPartitions();
          },
          schema: () => this.node.schema(),
          partitionOf: (key) => this.node.partitionTable.partitionOf(PartitionKey(key)),
          restateVersion: RESTATE_COMPATIBLE_VERSION,
        },
        this.options.sql,
      ),
    );
    return this.sql;
  }
}

function emptyOk(res: ServerResponse): void {
  emptyAnswer(res, 200);
}

function emptyAnswer(res: ServerResponse, status: number): void {
  res.writeHead(status, { "content-length": "0" });
  res.end();
}

/** The `partition` query parameter: absent, or a partition number. */
function partitionParameter(url: URL): number | undefined {
  const text = url.searchParams.get("partition");
  if (text === null) return undefined;
  if (!/^\d{1,9}$/.test(text)) {
    throw new KeelError("bad_request", `partition: expected a partition number, found '${text}'`);
  }
  return Number(text);
}

/** The cluster section of `GET /keel/status`, in the API's snake case. */
function clusterStatus(cluster: ClusterDescription): ClusterStatusJson {
  return {
    nodes: cluster.nodes.map((n) => ({
      name: n.name,
      node_id: n.nodeId,
      address: n.address,
      location: n.location,
      roles: n.roles,
      alive: n.alive,
    })),
    partitions: cluster.partitions.map((p) => ({
      id: p.id,
      leader: p.leader,
      replicas: p.replicas.map((r) => ({
        node: r.node,
        role: r.role ?? null,
        epoch: r.epoch ?? null,
        applied_lsn: r.appliedLsn ?? null,
        log_tail: r.logTail ?? null,
        trim_point: r.trimPoint ?? null,
        append_latency_ms: r.appendLatencyMs ?? null,
      })),
    })),
    logs: cluster.logs.map((l) => ({
      log_id: l.logId,
      segments: l.segments.map((s) => ({
        index: s.index,
        base_lsn: s.baseLsn,
        provider: s.provider,
        sealed: s.sealed,
        sequencer: s.sequencer ?? null,
        nodeset: s.nodeset ?? null,
        replication: s.replication ?? null,
      })),
    })),
    metadata_members: cluster.metadataMembers.map((m) => ({
      node: `N${m.node}`,
      address: m.address,
      role: m.role,
      term: m.term,
      leader: m.leader === 0 ? null : `N${m.leader}`,
      commit_index: m.commitIndex,
      applied_index: m.appliedIndex,
      voters: m.voters?.map((v) => `N${v}`) ?? null,
      learners: m.learners?.map((l) => `N${l}`) ?? null,
      problem: m.problem ?? null,
    })),
  };
}

/**
 * Percent-decodes a path parameter as Restate's router does: an escape that is not two hex digits
 * stays as it is, and bytes that are not UTF-8 are refused with Restate's 400 (they once made a 500).
 */
export function decodePathParameter(raw: string, name: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < raw.length;) {
    const escape = raw.slice(i + 1, i + 3);
    if (raw[i] === "%" && /^[0-9A-Fa-f]{2}$/.test(escape)) {
      bytes.push(parseInt(escape, 16));
      i += 3;
    } else {
      const char = String.fromCodePoint(raw.codePointAt(i)!);
      bytes.push(...Buffer.from(char, "utf8"));
      i += char.length;
    }
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(bytes));
  } catch {
    throw new AdminError(400, `Invalid URL: Invalid UTF-8 in \`${name}\``, null, true);
  }
}
