/**
 * Kafka subscriptions (`/subscriptions`), stored in the schema: created after the checks Restate makes
 * (the body, the source and sink URIs, the sink's service and handler, the Kafka cluster among the
 * registered and configured ones), with Restate's default client options; consumed by the node's Kafka ingress
 * (`ingress/io/kafka_ingress.ts`), which stops consuming one deleted.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import type { KeelNode } from "../../node/index.js";
import {
  AdminError,
  bodyError,
  describeJson,
  missingField,
  noContent,
  readJsonBody,
  parseHttpUri,
  parseResourceIdParam,
  type HttpUri,
} from "./admin_common.js";
import { formatSubscriptionId, limits } from "../../core/index.js";
import { sendJson } from "../../platform/io/index.js";
import {
  addSubscription,
  isKafkaTopicName,
  listKafkaClusters,
  removeSubscription,
  resolveKafkaCluster,
  subscriptionJson,
  subscriptionOptions,
  subscriptionSink,
  subscriptionSource,
  subscriptionsOf,
  type KafkaCluster,
  type SubscriptionSchema,
} from "../../schema/index.js";

export class SubscriptionRoutes {
  constructor(
    private readonly node: KeelNode,
    private readonly configuredClusters: readonly KafkaCluster[],
  ) {}

  /** GET /subscriptions[?sink=…&source=…]: exact-match filters, as Restate's. */
  list(res: ServerResponse, url: URL): void {
    const sink = url.searchParams.get("sink");
    const source = url.searchParams.get("source");
    const subscriptions = subscriptionsOf(this.node.schema().schema).filter(
      (s) =>
        (sink === null || subscriptionSink(s) === sink) &&
        (source === null || subscriptionSource(s) === source),
    );
    sendJson(res, 200, { subscriptions: subscriptions.map(subscriptionJson) });
  }

  get(res: ServerResponse, id: string): void {
    parseResourceIdParam("subscription", id, "sub");
    const found = subscriptionsOf(this.node.schema().schema).find((s) => s.id === id);
    if (found === undefined)
      throw new AdminError(404, `The requested subscription '${id}' does not exist`);
    sendJson(res, 200, subscriptionJson(found));
  }

  async delete(res: ServerResponse, id: string): Promise<void> {
    parseResourceIdParam("subscription", id, "sub");
    const removed = await this.node.updateSchema((schema) => {
      const next = removeSubscription(schema, id);
      return { schema: next, result: next !== undefined };
    });
    if (!removed)
      throw new AdminError(404, `not found in the schema registry: subscription with id '${id}'`);
    noContent(res, 202);
  }

  /** POST /subscriptions: Restate's checks, then the subscription stored in the schema (201). */
  async create(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJsonBody(req, limits.adminSubscriptionBodyBytesMax);
    const fields: Partial<Record<"source" | "sink", HttpUri>> = {};
    let options: Record<string, string> = {};
    // Fields are checked in the order they appear in the body, as a streaming deserializer does.
    for (const [name, value] of Object.entries(body)) {
      if (name === "source" || name === "sink") fields[name] = uriField(value, name);
      else if (name === "options") options = checkOptions(value);
    }
    const { source, sink } = fields;
    if (source === undefined) throw missingField("source");
    if (sink === undefined) throw missingField("sink");
    if (source.scheme !== "kafka") throw invalidUri("source", source, "kafka");
    if (sink.scheme !== "service") throw invalidUri("sink", sink, "service");
    const service = this.node.schema().service(sink.authority);
    const handlerName = sink.path.slice(1);
    if (service === undefined || !service.handlers.some((h) => h.name === handlerName)) {
      throw new AdminError(
        400,
        `[META0009] invalid sink URI '${sink.display}': cannot find service/handler specified in the sink URI.`,
        "META0009",
      );
    }
    const schema = this.node.schema().schema;
    const cluster = resolveKafkaCluster(schema, this.configuredClusters, source.authority);
    if (cluster === undefined) {
      const names = listKafkaClusters(schema, this.configuredClusters).map((c) => c.name);
      const known = `[${names.map((n) => JSON.stringify(n)).join(", ")}]`;
      throw new AdminError(
        400,
        `Kafka cluster '${source.authority}' not found. Available clusters: ${known}`,
      );
    }
    const topic = source.path.slice(1);
    if (!isKafkaTopicName(topic))
      throw new AdminError(
        400,
        `[META0009] invalid source URI '${source.display}': the path must name a Kafka topic (letters, digits, '.', '_' and '-', at most 249).`,
        "META0009",
      );
    const id = formatSubscriptionId(randomBytes(16));
    const subscription: SubscriptionSchema = {
      id,
      cluster: cluster.name,
      topic,
      service: service.name,
      handler: handlerName,
      options: subscriptionOptions(id, options, cluster),
    };
    await this.node.updateSchema((schema) => ({
      schema: addSubscription(schema, subscription),
      result: undefined,
    }));
    res.setHeader("location", `subscriptions/${id}`);
    sendJson(res, 201, subscriptionJson(subscription));
  }
}

function invalidUri(field: "source" | "sink", uri: HttpUri, scheme: string): AdminError {
  return new AdminError(
    400,
    `[META0009] invalid ${field} URI '${uri.display}': must have a scheme segment, with supported schemes: [${scheme}].`,
    "META0009",
  );
}

function checkOptions(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value))
    throw bodyError(`options: invalid type: ${describeJson(value, "options")}, expected a map`);
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry !== "string")
      throw bodyError(
        `options.${key}: invalid type: ${describeJson(entry, `options.${key}`)}, expected a string`,
      );
  }
  return value as Record<string, string>;
}

function uriField(value: unknown, name: "source" | "sink"): HttpUri {
  if (typeof value !== "string")
    throw bodyError(`${name}: invalid type: ${describeJson(value, name)}, expected a string`);
  const parsed = parseHttpUri(value);
  if (typeof parsed === "string") throw bodyError(`${name}: ${parsed}`);
  return parsed;
}
