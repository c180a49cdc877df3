/**
 * The OpenAPI 3.1 document of Keel's admin API (`GET /openapi`): Restate's routes that Keel serves,
 * with their request and response shapes, and Keel's own `/keel/...` routes. Every route also exists
 * under `/v2`, `/v3` and `/v4`. Kept beside the router; `admin_http.test.ts` checks that the two list
 * the same routes.
 *
 * Why one file of this length: it is one document, an entry per route in the router's order, checked
 * against the router as a whole.
 */

type Json = Record<string, unknown>;

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Json): Json => ({ content: { "application/json": { schema } } });
const error = (description: string): Json => ({ description, ...json(ref("ErrorDescription")) });
const pathParam = (name: string, description: string): Json => ({
  name,
  in: "path",
  required: true,
  schema: { type: "string" },
  description,
});
const queryParam = (
  name: string,
  description: string,
  schema: Json = { type: "string" },
): Json => ({
  name,
  in: "query",
  required: false,
  schema,
  description,
});
const invocationId = pathParam("invocation_id", "Invocation id (`inv_1…`).");
const serviceName = pathParam("service", "Service name.");
const deploymentId = pathParam("deployment", "Deployment id (`dp_1…`).");
const subscriptionId = pathParam("subscription", "Subscription id (`sub_1…`).");
const kafkaClusterName = pathParam(
  "name",
  "Kafka cluster name (a URI authority, e.g. `my-cluster`).",
);
const kafkaProperties = {
  type: "object",
  description:
    "librdkafka client options; `bootstrap.servers` or `metadata.broker.list` required. Secrets are answered as `***`.",
  additionalProperties: { type: "string" },
};
const kafkaCluster = {
  type: "object",
  properties: {
    name: { type: "string" },
    properties: kafkaProperties,
    created_at: { type: "string", format: "date-time" },
    subscriptions: { type: "array", items: { type: "object" } },
    info: { type: "array", items: { type: "object" } },
  },
};
const logModule = pathParam(
  "module",
  "`default`, or one of node, ingress, admin, invoker, partition, cluster, snapshots, endpoint.",
);
/** Keel's own routes answer errors with a code and a message. */
const keelError = (description: string): Json => ({ description, ...json(ref("KeelError")) });
const deploymentChoice = queryParam(
  "deployment",
  "`Keep` (default), `Latest`, or a deployment id; it must speak the pinned protocol version.",
);

interface Operation {
  readonly method: "get" | "post" | "put" | "patch" | "delete";
  readonly path: string;
  readonly summary: string;
  readonly parameters?: Json[];
  readonly body?: Json;
  readonly responses: Record<string, Json>;
}

const ok = (description: string, schema?: Json): Json =>
  schema === undefined ? { description } : { description, ...json(schema) };

/** Every operation the admin API serves, in the router's order. */
export const ADMIN_OPERATIONS: readonly Operation[] = [
  { method: "get", path: "/health", summary: "Health check", responses: { "200": ok("Healthy") } },
  {
    method: "get",
    path: "/version",
    summary: "Admin API versions, the Restate version Keel implements, and Keel's own version",
    responses: { "200": ok("Version information", ref("VersionInformation")) },
  },
  {
    method: "get",
    path: "/cluster-health",
    summary: "Cluster name and metadata members",
    responses: { "200": ok("Cluster health", { type: "object" }) },
  },
  {
    method: "get",
    path: "/openapi",
    summary: "This document",
    responses: { "200": ok("OpenAPI 3.1 document", { type: "object" }) },
  },
  {
    method: "get",
    path: "/keel/status",
    summary: "Keel: the node, its partitions (role, leader, epoch, applied LSN) and their logs",
    responses: { "200": ok("Node status", ref("KeelStatus")) },
  },
  {
    method: "get",
    path: "/keel/snapshots",
    summary: "Keel: the snapshots kept of each partition, newest first, and where they are",
    responses: { "200": ok("Snapshots", ref("KeelSnapshots")) },
  },
  {
    method: "post",
    path: "/keel/snapshots",
    summary: "Keel: take a snapshot of every partition this node leads (or of one), then trim logs",
    parameters: [queryParam("partition", "Only this partition.", { type: "integer", minimum: 0 })],
    responses: {
      "200": ok("The snapshots taken", ref("KeelSnapshotsTaken")),
      "400": error("The node has no snapshot destination, or a bad partition"),
      "404": error("No such partition"),
      "503": error("The snapshot could not be written"),
    },
  },
  {
    method: "get",
    path: "/keel/log-levels",
    summary: "Keel: the log level in force for each module of the node, and the default",
    responses: { "200": ok("Log levels", ref("KeelLogLevels")) },
  },
  {
    method: "put",
    path: "/keel/log-levels/{module}",
    summary: "Keel: give a module its own log level now (`default`: the node's default level)",
    parameters: [logModule],
    body: json({
      type: "object",
      required: ["level"],
      properties: { level: { type: "string", enum: ["debug", "info", "warn", "error"] } },
    }),
    responses: {
      "200": ok("The levels now in force", ref("KeelLogLevels")),
      "400": keelError("Not a level, or not a JSON body"),
      "404": keelError("No such module"),
    },
  },
  {
    method: "delete",
    path: "/keel/log-levels/{module}",
    summary: "Keel: the module follows the default log level again",
    parameters: [logModule],
    responses: {
      "200": ok("The levels now in force", ref("KeelLogLevels")),
      "400": keelError("The default level cannot be removed"),
      "404": keelError("No such module"),
    },
  },
  {
    method: "get",
    path: "/deployments",
    summary: "List deployments",
    responses: {
      "200": ok("Deployments", {
        type: "object",
        properties: { deployments: { type: "array", items: ref("Deployment") } },
      }),
    },
  },
  {
    method: "post",
    path: "/deployments",
    summary: "Discover an endpoint and register its services",
    body: json(ref("RegisterDeploymentRequest")),
    responses: {
      "201": ok("Registered", ref("RegisterDeploymentResponse")),
      "200": ok("Already registered, unchanged (or a dry run)", ref("RegisterDeploymentResponse")),
      "400": error("Bad request or manifest"),
      "409": error("Conflicts with the registered services; use force or breaking"),
      "500": error("Discovery failed"),
    },
  },
  {
    method: "get",
    path: "/deployments/{deployment}",
    summary: "Get a deployment with its services",
    parameters: [deploymentId],
    responses: { "200": ok("Deployment", ref("Deployment")), "404": error("No such deployment") },
  },
  {
    method: "patch",
    path: "/deployments/{deployment}",
    summary: "Change a deployment's address or headers; `overwrite` may replace its services",
    parameters: [deploymentId],
    body: json(ref("UpdateDeploymentRequest")),
    responses: {
      "200": ok("Updated deployment", ref("Deployment")),
      "404": error("No such deployment"),
      "409": error("The endpoint exposes different services and overwrite is not set"),
    },
  },
  {
    method: "delete",
    path: "/deployments/{deployment}",
    summary: "Remove a deployment (force=true only)",
    parameters: [deploymentId, queryParam("force", "Must be true", { type: "boolean" })],
    responses: {
      "202": ok("Removed"),
      "404": error("No such deployment"),
      "501": error("Graceful removal is not supported"),
    },
  },
  {
    method: "get",
    path: "/services",
    summary: "List services",
    responses: {
      "200": ok("Services", {
        type: "object",
        properties: { services: { type: "array", items: ref("Service") } },
      }),
    },
  },
  {
    method: "get",
    path: "/services/{service}",
    summary: "Get a service",
    parameters: [serviceName],
    responses: { "200": ok("Service", ref("Service")), "404": error("No such service") },
  },
  {
    method: "patch",
    path: "/services/{service}",
    summary: "Change a service's visibility, retentions and timeouts",
    parameters: [serviceName],
    body: json(ref("ModifyServiceRequest")),
    responses: {
      "200": ok("The changed service", ref("Service")),
      "400": error("Bad field"),
      "404": error("No such service"),
    },
  },
  {
    method: "get",
    path: "/services/{service}/openapi",
    summary:
      "The service's OpenAPI 3.1 document: its handlers at the ingress, with their JSON schemas",
    parameters: [serviceName],
    responses: {
      "200": ok("OpenAPI document", { type: "object" }),
      "404": error("No such service"),
    },
  },
  {
    method: "get",
    path: "/services/{service}/handlers",
    summary: "List a service's handlers",
    parameters: [serviceName],
    responses: { "200": ok("Handlers", { type: "object" }), "404": error("No such service") },
  },
  {
    method: "get",
    path: "/services/{service}/handlers/{handler}",
    summary: "Get a handler",
    parameters: [serviceName, pathParam("handler", "Handler name.")],
    responses: { "200": ok("Handler", ref("Handler")), "404": error("No such service or handler") },
  },
  {
    method: "post",
    path: "/services/{service}/state",
    summary:
      "Replace the state of a key; applied after the invocations holding or waiting for its lock, dropped if `version` no longer matches",
    parameters: [serviceName],
    body: json(ref("ModifyServiceStateRequest")),
    responses: {
      "202": ok("Accepted"),
      "400": error("Bad request, or the service has no state"),
      "404": error("No such service"),
    },
  },
  ...(
    [
      [
        "cancel",
        "Cancel an invocation",
        {
          "200": ok("Cancelled at once (inboxed or scheduled)"),
          "202": ok("Cancel signal appended"),
        },
      ],
      ["kill", "Kill an invocation and its children", { "200": ok("Killed") }],
      ["purge", "Forget a completed invocation", { "200": ok("Purged") }],
      ["purge-journal", "Delete a completed invocation's journal", { "200": ok("Journal purged") }],
      [
        "pause",
        "Pause a running or suspended invocation",
        { "200": ok("Already paused"), "202": ok("Pausing") },
      ],
    ] as const
  ).map(([action, summary, responses]): Operation => ({
    method: "patch",
    path: `/invocations/{invocation_id}/${action}`,
    summary,
    parameters: [invocationId],
    responses: {
      ...responses,
      "400": error("Bad invocation id"),
      "404": error("No such invocation"),
      "409": error("Not in a state that allows it"),
    },
  })),
  {
    method: "patch",
    path: "/invocations/{invocation_id}/resume",
    summary: "Resume a paused or suspended invocation, or retry a backing-off one now",
    parameters: [invocationId, deploymentChoice],
    responses: {
      "200": ok("Resumed"),
      "404": error("No such invocation"),
      "409": error("Completed, or the deployment cannot change now"),
      "425": error("Inboxed or scheduled"),
    },
  },
  {
    method: "patch",
    path: "/invocations/{invocation_id}/restart-as-new",
    summary:
      "Start a completed invocation again under a new id, from its input or a journal prefix",
    parameters: [
      invocationId,
      queryParam("from", "Copy the journal up to this index (inclusive); 0 = the input", {
        type: "integer",
        minimum: 0,
      }),
      deploymentChoice,
    ],
    responses: {
      "200": ok("Restarted", {
        type: "object",
        properties: { new_invocation_id: { type: "string" } },
      }),
      "400": error("Bad index or prefix"),
      "404": error("No such invocation"),
      "409": error("Still running"),
      "410": error("The journal is gone"),
      "422": error("Workflows cannot be restarted"),
      "425": error("Not started"),
    },
  },
  {
    method: "delete",
    path: "/invocations/{invocation_id}",
    summary: "Deprecated: cancel, kill or purge (mode=Cancel|Kill|Purge)",
    parameters: [invocationId, queryParam("mode", "Cancel (default), Kill or Purge")],
    responses: { "202": ok("Accepted"), "404": error("No such invocation") },
  },
  {
    method: "get",
    path: "/subscriptions",
    summary: "List Kafka subscriptions",
    parameters: [
      queryParam("sink", "Only subscriptions with this sink URI"),
      queryParam("source", "Only subscriptions with this source URI"),
    ],
    responses: { "200": ok("Subscriptions", { type: "object" }) },
  },
  {
    method: "post",
    path: "/subscriptions",
    summary: "Create a Kafka subscription on a registered or configured Kafka cluster",
    body: json({
      type: "object",
      required: ["source", "sink"],
      properties: {
        source: { type: "string", description: "`kafka://{cluster}/{topic}`" },
        sink: { type: "string", description: "`service://{service}/{handler}`" },
        options: { type: "object", additionalProperties: { type: "string" } },
      },
    }),
    responses: {
      "201": ok("Created", { type: "object" }),
      "400": error("Bad source or sink URI, unknown sink, or unknown Kafka cluster"),
      "422": ok("The body is not a subscription request"),
    },
  },
  {
    method: "get",
    path: "/subscriptions/{subscription}",
    summary: "Get a Kafka subscription",
    parameters: [subscriptionId],
    responses: { "404": error("No such subscription") },
  },
  {
    method: "delete",
    path: "/subscriptions/{subscription}",
    summary: "Delete a Kafka subscription",
    parameters: [subscriptionId],
    responses: { "404": error("No such subscription") },
  },
  {
    method: "get",
    path: "/kafka-clusters",
    summary: "List Kafka clusters: registered ones, then those of the configuration file",
    responses: {
      "200": ok("Kafka clusters", {
        type: "object",
        properties: { clusters: { type: "array", items: kafkaCluster } },
      }),
    },
  },
  {
    method: "post",
    path: "/kafka-clusters",
    summary: "Register a Kafka cluster that subscriptions can name",
    body: json({
      type: "object",
      required: ["name", "properties"],
      properties: { name: { type: "string" }, properties: kafkaProperties },
    }),
    responses: {
      "201": ok("Registered", kafkaCluster),
      "400": error("No broker among the properties"),
      "409": error("The name is taken (registered or configured)"),
      "422": ok("The body is not a Kafka cluster"),
    },
  },
  {
    method: "get",
    path: "/kafka-clusters/{name}",
    summary: "Get a Kafka cluster",
    parameters: [
      kafkaClusterName,
      queryParam("include_subscriptions", "Also list the subscriptions that use it", {
        type: "boolean",
      }),
    ],
    responses: { "200": ok("The cluster", kafkaCluster), "404": error("No such cluster") },
  },
  {
    method: "patch",
    path: "/kafka-clusters/{name}",
    summary:
      "Replace a registered Kafka cluster's properties (its subscriptions' consumers restart)",
    parameters: [kafkaClusterName],
    body: json({
      type: "object",
      required: ["properties"],
      properties: { properties: kafkaProperties },
    }),
    responses: {
      "200": ok("Updated", kafkaCluster),
      "400": error("Bad name or no broker among the properties"),
      "404": error("No such cluster"),
      "409": error("The cluster is from the configuration file"),
    },
  },
  {
    method: "delete",
    path: "/kafka-clusters/{name}",
    summary:
      "Delete a registered Kafka cluster (refused while subscriptions use it, unless forced)",
    parameters: [
      kafkaClusterName,
      queryParam("force", "Delete even if subscriptions use it (they stop consuming)", {
        type: "boolean",
      }),
    ],
    responses: {
      "202": ok("Deleted"),
      "404": error("No such cluster"),
      "409": error("Subscriptions use it, or it is from the configuration file"),
    },
  },
  {
    method: "post",
    path: "/query",
    summary:
      "SQL over Restate's introspection tables; JSON rows with `accept: application/json`, else an Arrow IPC stream",
    body: json({ type: "object", required: ["query"], properties: { query: { type: "string" } } }),
    responses: {
      "200": {
        description: "Rows",
        content: {
          "application/json": {
            schema: { type: "object", properties: { rows: { type: "array" } } },
          },
          "application/vnd.apache.arrow.stream": { schema: { type: "string", format: "binary" } },
        },
      },
      "413": error("The query reads or returns too many rows"),
      "500": error("The query failed"),
      "503": error("Too many queries at once"),
      "504": error("The query timed out"),
    },
  },
];

const SCHEMAS: Record<string, Json> = {
  ErrorDescription: {
    type: "object",
    required: ["message"],
    properties: { message: { type: "string" }, restate_code: { type: ["string", "null"] } },
  },
  VersionInformation: {
    type: "object",
    properties: {
      version: { type: "string" },
      min_admin_api_version: { type: "integer" },
      max_admin_api_version: { type: "integer" },
      ingress_endpoint: { type: "string" },
      features: { type: "object" },
      keel_version: { type: "string" },
    },
  },
  SnapshotManifest: {
    type: "object",
    properties: {
      formatVersion: { type: "integer" },
      snapshotId: { type: "string" },
      clusterName: { type: "string" },
      nodeName: { type: "string" },
      partitionId: { type: "integer" },
      keyRange: {
        type: "object",
        properties: { from: { type: "string" }, to: { type: "string" } },
      },
      appliedLsn: { type: "integer", description: "The snapshot holds the log's records to here" },
      createdAtMs: { type: "integer" },
      entries: { type: "integer" },
      bytes: { type: "integer" },
      sha256: { type: "string" },
    },
  },
  KeelLogLevels: {
    type: "object",
    properties: {
      default: { type: "string", enum: ["debug", "info", "warn", "error"] },
      modules: {
        type: "object",
        description: "Each module's level in force (its own, else the default)",
        additionalProperties: { type: "string", enum: ["debug", "info", "warn", "error"] },
      },
      own: {
        type: "array",
        items: { type: "string" },
        description: "The modules with a level of their own",
      },
    },
  },
  KeelError: {
    type: "object",
    properties: { code: { type: "string" }, message: { type: "string" } },
  },
  KeelSnapshots: {
    type: "object",
    properties: {
      destination: { type: ["string", "null"], description: "null: the node takes no snapshots" },
      partitions: {
        type: "array",
        items: {
          type: "object",
          properties: {
            id: { type: "integer" },
            trim_point: { type: ["integer", "null"] },
            snapshots: { type: "array", items: ref("SnapshotManifest") },
          },
        },
      },
    },
  },
  KeelSnapshotsTaken: {
    type: "object",
    properties: { snapshots: { type: "array", items: ref("SnapshotManifest") } },
  },
  KeelStatus: {
    type: "object",
    properties: {
      node: { type: "string" },
      node_id: {
        type: ["string", "null"],
        description: "This incarnation of the node: plain id and generation (`N1:3`)",
      },
      ready: { type: "boolean" },
      storage_problem: {
        type: ["string", "null"],
        description: "Why writes to the node's disk fail now (the last write failed), if they do",
      },
      snapshot_destination: {
        type: ["string", "null"],
        description: "Where snapshots go (null: none)",
      },
      snapshot_problem: {
        type: ["string", "null"],
        description: "Why snapshots fail now (the last one failed), if they do",
      },
      partitions: {
        type: "array",
        items: {
          type: "object",
          properties: {
            id: { type: "integer" },
            role: { type: "string" },
            leader: { type: ["string", "null"] },
            epoch: { type: "integer" },
            applied_lsn: { type: "integer" },
            log_tail: {
              type: ["integer", "null"],
              description: "null: the log's servers did not answer in time (a failover)",
            },
            trim_point: { type: ["integer", "null"] },
            snapshot_lsn: { type: ["integer", "null"] },
            snapshot_created_at_ms: { type: ["integer", "null"] },
            append_latency_ms: {
              type: ["number", "null"],
              description:
                "The leader's recent time for an append to become durable (ms); null on a follower",
            },
          },
        },
      },
    },
  },
  Deployment: {
    type: "object",
    properties: {
      id: { type: "string" },
      uri: { type: "string" },
      protocol_type: { enum: ["BidiStream", "RequestResponse"] },
      http_version: { type: "string" },
      created_at: { type: "string", format: "date-time" },
      min_protocol_version: { type: "integer" },
      max_protocol_version: { type: "integer" },
      sdk_version: { type: "string" },
      services: { type: "array" },
    },
  },
  RegisterDeploymentRequest: {
    type: "object",
    required: ["uri"],
    properties: {
      uri: { type: "string" },
      additional_headers: { type: "object", additionalProperties: { type: "string" } },
      use_http_11: { type: "boolean" },
      force: { type: "boolean" },
      breaking: { type: "boolean" },
      dry_run: { type: "boolean" },
      metadata: { type: "object", additionalProperties: { type: "string" } },
    },
  },
  RegisterDeploymentResponse: {
    type: "object",
    properties: {
      id: { type: "string" },
      services: { type: "array", items: ref("Service") },
      min_protocol_version: { type: "integer" },
      max_protocol_version: { type: "integer" },
      sdk_version: { type: "string" },
    },
  },
  UpdateDeploymentRequest: {
    type: "object",
    properties: {
      uri: { type: "string" },
      additional_headers: { type: "object", additionalProperties: { type: "string" } },
      use_http_11: { type: "boolean" },
      overwrite: { type: "boolean" },
      dry_run: { type: "boolean" },
    },
  },
  Service: {
    type: "object",
    properties: {
      name: { type: "string" },
      ty: { enum: ["Service", "VirtualObject", "Workflow"] },
      handlers: { type: "array", items: ref("Handler") },
      deployment_id: { type: "string" },
      revision: { type: "integer" },
      public: { type: "boolean" },
      idempotency_retention: { type: "string" },
      workflow_completion_retention: { type: "string" },
      journal_retention: { type: "string" },
      inactivity_timeout: { type: "string" },
      abort_timeout: { type: "string" },
      enable_lazy_state: { type: "boolean" },
      retry_policy: { type: "object" },
    },
  },
  Handler: {
    type: "object",
    properties: {
      name: { type: "string" },
      ty: { enum: ["Exclusive", "Shared", "Workflow"] },
      public: { type: "boolean" },
      input_description: { type: "string" },
      output_description: { type: "string" },
    },
  },
  ModifyServiceRequest: {
    type: "object",
    description:
      "Durations in friendly (`2m`, `1 day`) or ISO 8601 form; null leaves a field as it is",
    properties: {
      public: { type: ["boolean", "null"] },
      idempotency_retention: { type: ["string", "null"] },
      workflow_completion_retention: { type: ["string", "null"] },
      journal_retention: { type: ["string", "null"] },
      inactivity_timeout: { type: ["string", "null"] },
      abort_timeout: { type: ["string", "null"] },
    },
  },
  ModifyServiceStateRequest: {
    type: "object",
    required: ["object_key", "new_state"],
    properties: {
      object_key: { type: "string" },
      new_state: {
        type: "object",
        additionalProperties: {
          type: "array",
          items: { type: "integer", minimum: 0, maximum: 255 },
        },
      },
      version: {
        type: ["string", "null"],
        description: "Restate's state version token: apply only if the state still has it",
      },
    },
  },
};

export function keelAdminOpenApi(keelVersion: string): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const op of ADMIN_OPERATIONS) {
    const item: Json = { summary: op.summary, responses: op.responses };
    if (op.parameters !== undefined) item["parameters"] = op.parameters;
    if (op.body !== undefined) item["requestBody"] = { required: true, ...op.body };
    (paths[op.path] ??= {})[op.method] = item;
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Keel admin API",
      version: keelVersion,
      description:
        "Restate's admin API as Keel serves it (also under /v2, /v3 and /v4), plus Keel's /keel/status.",
    },
    paths,
    components: { schemas: SCHEMAS },
  };
}
