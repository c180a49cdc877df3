/**
 * Kafka clusters (`/kafka-clusters`), as Restate's admin API has them: registered clusters live in the
 * schema (so every node's subscriptions consume with the same options, and a change restarts their
 * consumers); clusters of the configuration file are listed too, marked deprecated as Restate marks
 * them, and cannot be changed here. Secrets among the properties are answered as `***`.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import type { KeelNode } from "../../node/index.js";
import {
  AdminError,
  bodyError,
  booleanQueryParameter,
  describeJson,
  invalidField,
  missingField,
  noContent,
  readJsonBody,
} from "./admin_common.js";
import { limits } from "../../core/index.js";
import { isoMillis, sendJson } from "../../platform/io/index.js";
import {
  addKafkaCluster,
  hasBrokerProperty,
  kafkaClusterNameProblem,
  kafkaClusterSubscriptions,
  listKafkaClusters,
  redactKafkaProperties,
  registeredKafkaClusters,
  removeKafkaCluster,
  replaceKafkaClusterProperties,
  resolveKafkaCluster,
  subscriptionJson,
  timestampNanos,
  type KafkaCluster,
  type ResolvedKafkaCluster,
  type Schema,
} from "../../schema/index.js";

const CONFIGURED_INFO =
  "This Kafka cluster was configured in the static cluster configuration, this is deprecated. Please register it using the new Kafka Admin functionalities.";
const SHADOWS_CONFIGURED_INFO =
  "A Kafka cluster with the same name exists in the static cluster configuration, please remove it from the static configuration as it's deprecated.";

export class KafkaClusterRoutes {
  constructor(
    private readonly node: KeelNode,
    private readonly configured: readonly KafkaCluster[],
  ) {}

  list(res: ServerResponse): void {
    const clusters = listKafkaClusters(this.schema(), this.configured);
    sendJson(res, 200, { clusters: clusters.map(clusterJson) });
  }

  /** GET /kafka-clusters/{name}[?include_subscriptions=true] */
  get(res: ServerResponse, name: string, url: URL): void {
    const include = booleanQueryParameter(url, "include_subscriptions") ?? false;
    const schema = this.schema();
    const cluster = resolveKafkaCluster(schema, this.configured, name);
    if (cluster === undefined)
      throw new AdminError(404, `The requested Kafka cluster '${name}' does not exist`);
    const subscriptions = include ? kafkaClusterSubscriptions(schema, name) : [];
    sendJson(res, 200, {
      ...clusterJson(cluster),
      subscriptions: subscriptions.map(subscriptionJson),
      ...infoJson(cluster),
    });
  }

  /** POST /kafka-clusters: `{name, properties}`, 201 with the cluster. */
  async create(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJsonBody(req, limits.adminSubscriptionBodyBytesMax);
    let name: string | undefined;
    let properties: Record<string, string> | undefined;
    // Fields are checked in the order they appear in the body, as a streaming deserializer does.
    for (const [field, value] of Object.entries(body)) {
      if (field === "name") name = nameField(value);
      else if (field === "properties") properties = propertiesField(value);
    }
    if (name === undefined) throw missingField("name");
    if (properties === undefined) throw missingField("properties");
    checkBrokers(name, properties);
    const created = { name, properties, createdAtMs: Date.now() };
    const configured = this.configured.some((c) => c.name === name);
    await this.node.updateSchema((schema) => {
      if (registeredKafkaClusters(schema).some((c) => c.name === name))
        throw new AdminError(409, `kafka cluster '${name}' already exists in schema registry`);
      if (configured)
        throw new AdminError(
          409,
          `kafka cluster '${name}' conflicts with static configuration. Cluster names in schema registry cannot override statically configured clusters.`,
        );
      return { schema: addKafkaCluster(schema, created), result: undefined };
    });
    res.setHeader("location", `kafka-clusters/${name}`);
    sendJson(res, 201, clusterJson({ ...created, configured: false, shadowsConfigured: false }));
  }

  /** PATCH /kafka-clusters/{name}: `{properties}` replaces the registered cluster's properties. */
  async update(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    const body = await readJsonBody(req, limits.adminSubscriptionBodyBytesMax);
    let properties: Record<string, string> | undefined;
    for (const [field, value] of Object.entries(body))
      if (field === "properties") properties = propertiesField(value);
    if (properties === undefined) throw missingField("properties");
    // Restate reads the body before it looks at the name.
    checkNameParameter(name);
    checkBrokers(name, properties);
    const changed = properties;
    const updated = await this.node.updateSchema((schema) => {
      this.requireRegistered(schema, name, `kafka cluster '${name}'`);
      const next = replaceKafkaClusterProperties(schema, name, changed);
      return { schema: next, result: resolveKafkaCluster(next, this.configured, name)! };
    });
    sendJson(res, 200, clusterJson(updated));
  }

  /** DELETE /kafka-clusters/{name}[?force=true]: refused while subscriptions use it, unless forced. */
  async delete(res: ServerResponse, name: string, url: URL): Promise<void> {
    const force = booleanQueryParameter(url, "force") ?? false;
    checkNameParameter(name);
    await this.node.updateSchema((schema) => {
      this.requireRegistered(schema, name, `kafka cluster named '${name}'`);
      const using = kafkaClusterSubscriptions(schema, name);
      if (using.length > 0 && !force)
        throw new AdminError(
          409,
          `Removing the kafka cluster '${name}' leads to subscription '${using[0]!.id}' being orphan. Remove the subscription first, or use the 'force' flag.`,
        );
      return { schema: removeKafkaCluster(schema, name), result: undefined };
    });
    noContent(res, 202);
  }

  private requireRegistered(schema: Schema, name: string, described: string): void {
    if (registeredKafkaClusters(schema).some((c) => c.name === name)) return;
    if (this.configured.some((c) => c.name === name))
      throw new AdminError(
        409,
        `kafka cluster '${name}' cannot be updated, because it was defined in the restate configuration file. Update the configuration file directly, or remove the configuration file`,
      );
    throw new AdminError(404, `not found in the schema registry: ${described}`);
  }

  private schema(): Schema {
    return this.node.schema().schema;
  }
}

/** Restate's `SimpleKafkaClusterResponse`. */
function clusterJson(cluster: ResolvedKafkaCluster): Record<string, unknown> {
  return {
    name: cluster.name,
    properties: redactKafkaProperties(cluster.properties),
    created_at:
      cluster.createdAtMs === 0
        ? "1970-01-01T00:00:00Z"
        : timestampNanos(cluster.createdAtMs, isoMillis),
    ...infoJson(cluster),
  };
}

function infoJson(cluster: ResolvedKafkaCluster): { info?: { message: string }[] } {
  if (cluster.configured) return { info: [{ message: CONFIGURED_INFO }] };
  if (cluster.shadowsConfigured) return { info: [{ message: SHADOWS_CONFIGURED_INFO }] };
  return {};
}

function nameField(value: unknown): string {
  if (typeof value !== "string")
    throw bodyError(`name: invalid type: ${describeJson(value, "name")}, expected a string`);
  const problem = kafkaClusterNameProblem(value);
  if (problem !== undefined) throw bodyError(`name: ${problem}`);
  return value;
}

function propertiesField(value: unknown): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw bodyError(
      `properties: invalid type: ${describeJson(value, "properties")}, expected a map`,
    );
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry !== "string")
      throw bodyError(
        `properties.${key}: invalid type: ${describeJson(entry, `properties.${key}`)}, expected a string`,
      );
  }
  return { ...(value as Record<string, string>) };
}

function checkBrokers(name: string, properties: Record<string, string>): void {
  if (!hasBrokerProperty(properties))
    throw new AdminError(
      400,
      `kafka cluster '${name}' properties must contain either 'bootstrap.servers' or 'metadata.broker.list'`,
    );
}

function checkNameParameter(name: string): void {
  const problem = kafkaClusterNameProblem(name);
  if (problem !== undefined) throw invalidField("cluster_name", problem);
}
