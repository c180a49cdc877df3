/**
 * Kafka subscriptions (`/subscriptions`). Keel has no Kafka ingress and no Kafka clusters, so no
 * subscription can exist: creating one is validated as Restate validates it (the body, the source and
 * sink URIs, the sink's service and handler) and then refused as Restate refuses a subscription on
 * an unknown cluster; listing answers an empty list and lookups of an id answer 404.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import type { KeelNode } from "../../node/index.js";
import {
  AdminError,
  bodyError,
  describeJson,
  missingField,
  parseJsonBody,
  parseResourceIdParam,
} from "./admin_common.js";
import { limits } from "../../core/index.js";
import { readBody, sendJson } from "../../platform/io/index.js";

/** The Kafka clusters Keel knows: none (Restate lists those of its configuration). */
const KAFKA_CLUSTERS: readonly string[] = [];

/** The parts of a URI that subscriptions use, as the `http` crate splits them. */
interface SubscriptionUri {
  readonly scheme: string | undefined;
  readonly authority: string;
  readonly path: string;
  /** How Restate prints the URI in its messages. */
  readonly display: string;
}

export class SubscriptionRoutes {
  constructor(private readonly node: KeelNode) {}

  list(res: ServerResponse): void {
    sendJson(res, 200, { subscriptions: [] });
  }

  get(id: string): never {
    parseResourceIdParam("subscription", id, "sub");
    throw new AdminError(404, `The requested subscription '${id}' does not exist`);
  }

  delete(id: string): never {
    parseResourceIdParam("subscription", id, "sub");
    throw new AdminError(404, `not found in the schema registry: subscription with id '${id}'`);
  }

  /** POST /subscriptions: every check Restate makes before it looks the Kafka cluster up. */
  async create(req: IncomingMessage): Promise<never> {
    const body = parseJsonBody(await readBody(req, limits.adminSubscriptionBodyBytesMax));
    const fields: Partial<Record<"source" | "sink", SubscriptionUri>> = {};
    // Fields are checked in the order they appear in the body, as a streaming deserializer does.
    for (const [name, value] of Object.entries(body)) {
      if (name === "source" || name === "sink") fields[name] = uriField(value, name);
      else if (name === "options") checkOptions(value);
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
    const known = `[${KAFKA_CLUSTERS.map((c) => JSON.stringify(c)).join(", ")}]`;
    throw new AdminError(
      400,
      `Kafka cluster '${source.authority}' not found. Available clusters: ${known}`,
    );
  }
}

function invalidUri(field: "source" | "sink", uri: SubscriptionUri, scheme: string): AdminError {
  return new AdminError(
    400,
    `[META0009] invalid ${field} URI '${uri.display}': must have a scheme segment, with supported schemes: [${scheme}].`,
    "META0009",
  );
}

function checkOptions(value: unknown): void {
  if (value === undefined || value === null) return;
  if (typeof value !== "object" || Array.isArray(value))
    throw bodyError(`options: invalid type: ${describeJson(value)}, expected a map`);
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry !== "string")
      throw bodyError(`options.${key}: invalid type: ${describeJson(entry)}, expected a string`);
  }
}

/** Characters a URI may hold (RFC 3986's unreserved, reserved and `%`). */
const URI_CHARACTERS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/?#[\]%]*$/;
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*$/;

function uriField(value: unknown, name: "source" | "sink"): SubscriptionUri {
  if (typeof value !== "string")
    throw bodyError(`${name}: invalid type: ${describeJson(value)}, expected a string`);
  const parsed = parseUri(value);
  if (typeof parsed === "string") throw bodyError(`${name}: ${parsed}`);
  return parsed;
}

/** Splits a URI as `http::Uri` does, or names why it is not one in that crate's words. */
function parseUri(text: string): SubscriptionUri | string {
  if (text === "") return "empty string";
  if (!URI_CHARACTERS.test(text)) return "invalid uri character";
  const noScheme = { scheme: undefined, authority: "", path: text, display: text };
  if (text === "*" || text.startsWith("/")) return noScheme;
  const schemeEnd = text.indexOf("://");
  if (schemeEnd < 0) {
    // Only an authority (`host[:port]`) may stand alone.
    return /[/?#]/.test(text) ? "invalid format" : noScheme;
  }
  const scheme = text.slice(0, schemeEnd);
  if (!SCHEME.test(scheme)) return "invalid format";
  const afterScheme = text.slice(schemeEnd + 3);
  const authorityEnd = afterScheme.search(/[/?#]/);
  const authority = authorityEnd < 0 ? afterScheme : afterScheme.slice(0, authorityEnd);
  if (authority === "") return "invalid format";
  const rest = authorityEnd < 0 ? "" : afterScheme.slice(authorityEnd);
  const pathEnd = rest.search(/[?#]/);
  const path = pathEnd < 0 ? rest : rest.slice(0, pathEnd);
  const query = pathEnd < 0 || rest[pathEnd] !== "?" ? "" : rest.slice(pathEnd).replace(/#.*$/, "");
  return {
    scheme,
    authority,
    path: path === "" ? "/" : path,
    display: `${scheme}://${authority}${path === "" ? "/" : path}${query}`,
  };
}
