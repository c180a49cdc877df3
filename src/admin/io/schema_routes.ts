/**
 * Admin routes over the schema: deployments (list, get, register, update, delete) and services
 * (list, get, handlers, modify options). Changes go through `KeelNode.updateSchema` (compare-and-swap
 * on the metadata store), so concurrent admin requests never lose each other's changes.
 */

import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { describeError, formatDeploymentId, limits } from "../../core/index.js";
import type { KeelNode } from "../../node/index.js";
import {
  parseManifest,
  type EndpointManifest,
  findDeployment,
  modifyService,
  registerDeployment,
  removeDeployment,
  updateDeployment,
  type RegistrationResult,
  serviceOpenApi,
  deploymentJson,
  handlerJson,
  serviceJson,
  type ServiceSchema,
} from "../../schema/index.js";
import {
  AdminError,
  bodyError,
  booleanField,
  deploymentNotFound,
  durationField,
  headerMap,
  invalidField,
  missingField,
  noContent,
  readJsonBody,
  parseHttpUri,
  parseResourceIdParam,
  booleanQueryParameter,
  serviceNotFound,
  stringField,
  stringMap,
} from "./admin_common.js";
import { fetchDiscovery, type EndpointClient } from "../../invoker/io/index.js";
import { isoMillis, sendJson } from "../../platform/io/index.js";

interface Discovered {
  readonly uri: string;
  readonly manifest: EndpointManifest;
  readonly sdkVersion: string | undefined;
}

export class SchemaRoutes {
  constructor(
    private readonly node: KeelNode,
    private readonly endpointClient: EndpointClient,
  ) {}

  // ---- services ----

  service(name: string): ServiceSchema {
    const service = this.node.schema().service(name);
    if (service === undefined) throw serviceNotFound(name);
    return service;
  }

  listServices(res: ServerResponse): void {
    sendJson(res, 200, { services: this.node.schema().services.map((s) => serviceJson(s)) });
  }

  getService(res: ServerResponse, name: string): void {
    sendJson(res, 200, serviceJson(this.service(name)));
  }

  /** GET /services/{name}/openapi: the service's own OpenAPI document, pointing at the ingress. */
  serviceOpenApi(res: ServerResponse, name: string, ingressUrl: string): void {
    sendJson(res, 200, serviceOpenApi(this.service(name), ingressUrl));
  }

  listHandlers(res: ServerResponse, name: string): void {
    sendJson(res, 200, { handlers: this.service(name).handlers.map(handlerJson) });
  }

  getHandler(res: ServerResponse, serviceName: string, handlerName: string): void {
    const handler = this.service(serviceName).handlers.find((h) => h.name === handlerName);
    if (handler === undefined) {
      throw new AdminError(
        404,
        `The requested handler '${handlerName}' on service '${serviceName}' does not exist`,
      );
    }
    sendJson(res, 200, handlerJson(handler));
  }

  /** PATCH /services/{name}: public, retentions and timeouts; absent or null fields stay. */
  async modifyService(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    const body = await readJsonBody(req, limits.adminBodyBytesMax);
    const change = {
      public: booleanField(body["public"], "public"),
      idempotencyRetentionMs: durationField(body["idempotency_retention"], "idempotency_retention"),
      workflowCompletionRetentionMs: durationField(
        body["workflow_completion_retention"],
        "workflow_completion_retention",
      ),
      journalRetentionMs: durationField(body["journal_retention"], "journal_retention"),
      inactivityTimeoutMs: durationField(body["inactivity_timeout"], "inactivity_timeout"),
      abortTimeoutMs: durationField(body["abort_timeout"], "abort_timeout"),
    };
    if (Object.values(change).every((v) => v === undefined)) return this.getService(res, name);
    const outcome = await this.node.updateSchema((schema) => {
      const result = modifyService(schema, name, change);
      return {
        schema: typeof result === "object" ? result.schema : undefined,
        result,
      };
    });
    if (outcome === undefined) throw serviceNotFound(name);
    if (typeof outcome === "string") throw invalidField("workflow_completion_retention", outcome);
    sendJson(res, 200, serviceJson(outcome.service));
  }

  // ---- deployments ----

  listDeployments(res: ServerResponse): void {
    const deployments = this.node
      .schema()
      .schema.deployments.map((d) => deploymentJson(d, isoMillis, undefined));
    sendJson(res, 200, { deployments });
  }

  getDeployment(res: ServerResponse, id: string): void {
    parseResourceIdParam("deployment", id, "dp");
    sendJson(res, 200, this.detailedDeployment(id));
  }

  private detailedDeployment(id: string): Record<string, unknown> {
    const schema = this.node.schema();
    const deployment = schema.deployment(id);
    if (deployment === undefined) throw deploymentNotFound(id);
    const services = schema.servicesOf(id).map((s) => serviceJson(s));
    return deploymentJson(deployment, isoMillis, services);
  }

  async deleteDeployment(res: ServerResponse, id: string, url: URL): Promise<void> {
    parseResourceIdParam("deployment", id, "dp");
    // Like Restate: only forced deletion exists; anything else is 501 with an empty body.
    if (booleanQueryParameter(url, "force") !== true) return noContent(res, 501);
    const removed = await this.node.updateSchema((schema) => {
      const next = removeDeployment(schema, id);
      return { schema: next, result: next !== undefined };
    });
    if (!removed)
      throw new AdminError(404, `not found in the schema registry: deployment with id '${id}'`);
    noContent(res, 202);
  }

  /** POST /deployments: discover the endpoint and register (or dry-run) its services. */
  async register(req: IncomingMessage, res: ServerResponse, apiVersion: number): Promise<void> {
    const body = await readJsonBody(req, limits.adminBodyBytesMax);
    if (body["arn"] !== undefined)
      throw new AdminError(400, "Lambda deployments are not supported by Keel", "META0003");
    const uriText = stringField(body["uri"], "uri");
    if (uriText === undefined) throw missingField("uri");
    // Restate reads the body as one of two shapes (an endpoint's URI or a Lambda's ARN): a `uri`
    // that is no `http::Uri` fits neither, and it says only that.
    if (typeof parseHttpUri(uriText) === "string")
      throw bodyError("data did not match any variant of untagged enum RegisterDeploymentRequest");
    const additionalHeaders =
      headerMap(body["additional_headers"], "RegisterDeploymentRequest") ?? {};
    const useHttp11 = booleanField(body["use_http_11"], "use_http_11") ?? false;
    const force = booleanField(body["force"], "force") ?? apiVersion <= 2;
    const breaking = booleanField(body["breaking"], "breaking") ?? false;
    const dryRun = booleanField(body["dry_run"], "dry_run") ?? false;
    const metadata = stringMap(body["metadata"], "metadata") ?? {};
    // Without force, an endpoint registered before answers as it is, without asking it again.
    const known = force
      ? undefined
      : findDeployment(this.node.schema().schema, normalizedUri(uriText));
    if (known !== undefined) {
      return this.answerRegistration(res, apiVersion, {
        kind: "unchanged",
        schema: this.node.schema().schema,
        deployment: known,
        services: this.node.schema().servicesOf(known.id),
      });
    }
    const discovered = await discover(uriText, useHttp11, additionalHeaders, this.endpointClient);
    const request = {
      uri: discovered.uri,
      useHttp11,
      additionalHeaders,
      metadata,
      force,
      breaking,
      manifest: discovered.manifest,
      sdkVersion: discovered.sdkVersion,
      nowMs: Date.now(),
      newDeploymentId: formatDeploymentId(randomBytes(16)),
      timeoutDefaults: this.node.config.timeoutDefaults,
    };
    const result = await this.node.updateSchema((schema) => {
      const outcome = registerDeployment(schema, request);
      const store = outcome.kind === "created" || outcome.kind === "overwritten";
      return { schema: store && !dryRun ? outcome.schema : undefined, result: outcome };
    });
    this.answerRegistration(res, apiVersion, result);
  }

  /** 201 for a new deployment; 200 for an existing one (before API v3: 201 overwritten, 409 unchanged). */
  private answerRegistration(
    res: ServerResponse,
    apiVersion: number,
    result: RegistrationResult,
  ): void {
    const accepted = acceptedRegistration(result);
    if (accepted.kind === "unchanged" && apiVersion < 3)
      throw new AdminError(409, `deployment ${accepted.deployment.id} already exists`);
    const payload: Record<string, unknown> = {
      id: accepted.deployment.id,
      services: accepted.services.map((s) => serviceJson(s)),
      min_protocol_version: accepted.deployment.minProtocolVersion,
      max_protocol_version: accepted.deployment.maxProtocolVersion,
    };
    if (accepted.deployment.sdkVersion !== undefined)
      payload["sdk_version"] = accepted.deployment.sdkVersion;
    const created =
      accepted.kind === "created" || (accepted.kind === "overwritten" && apiVersion < 3);
    sendJson(res, created ? 201 : 200, payload, {
      location: `deployments/${accepted.deployment.id}`,
    });
  }

  /**
   * PATCH /deployments/{id}: a new address or headers; `overwrite` may change its services.
   * `deprecatedPut`: the request was a PUT that Restate refuses (405) once it has read the body.
   */
  async updateDeployment(
    req: IncomingMessage,
    res: ServerResponse,
    id: string,
    deprecatedPut = false,
  ): Promise<void> {
    parseResourceIdParam("deployment", id, "dp");
    const body = await readJsonBody(req, limits.adminBodyBytesMax);
    // The body's fields are Restate's extractor's: read before the handler's own checks.
    const uri = stringField(body["uri"], "uri");
    const headers = headerMap(body["additional_headers"], "UpdateDeploymentRequest");
    const useHttp11 = booleanField(body["use_http_11"], "use_http_11");
    const overwrite = booleanField(body["overwrite"], "overwrite") ?? false;
    const dryRun = booleanField(body["dry_run"], "dry_run") ?? false;
    if (deprecatedPut) throw new AdminError(405, "PUT deployment is deprecated, use PATCH instead");
    const existing = this.node.schema().deployment(id);
    if (existing === undefined) throw deploymentNotFound(id);
    if (body["arn"] !== undefined)
      throw new AdminError(400, "Lambda deployments are not supported by Keel", "META0003");
    if (uri === undefined && headers === undefined && useHttp11 === undefined)
      return sendJson(res, 200, this.detailedDeployment(id));
    const nextHeaders = headers ?? existing.additionalHeaders;
    const nextHttp11 = useHttp11 ?? existing.useHttp11;
    const discovered = await discover(
      uri ?? existing.uri,
      nextHttp11,
      nextHeaders,
      this.endpointClient,
    );
    const result = await this.node.updateSchema((schema) => {
      const outcome = updateDeployment(schema, id, {
        uri: discovered.uri,
        useHttp11: nextHttp11,
        additionalHeaders: nextHeaders,
        manifest: discovered.manifest,
        sdkVersion: discovered.sdkVersion,
        overwrite,
        timeoutDefaults: this.node.config.timeoutDefaults,
      });
      const store = outcome !== undefined && outcome.kind !== "rejected" && !dryRun;
      return { schema: store ? outcome.schema : undefined, result: outcome };
    });
    if (result === undefined) throw deploymentNotFound(id);
    const accepted = acceptedRegistration(result);
    sendJson(
      res,
      200,
      deploymentJson(
        accepted.deployment,
        isoMillis,
        accepted.services.map((s) => serviceJson(s)),
      ),
    );
  }
}

function acceptedRegistration(
  result: RegistrationResult,
): Exclude<RegistrationResult, { kind: "rejected" }> {
  if (result.kind === "rejected")
    throw new AdminError(result.status, result.message, result.restateCode);
  return result;
}

/** The endpoint's URI as deployments store it; a 400 if it is not an absolute URI. */
function normalizedUri(uriText: string): string {
  try {
    return new URL(uriText).toString();
  } catch {
    throw invalidField(
      "uri",
      `The provided uri ${uriText} is not absolute, only absolute URIs can be used.`,
    );
  }
}

/** Why an endpoint may refuse Keel (SDKs answer 401 to requests whose identity they do not accept). */
function refusalHint(status: number, client: EndpointClient): string {
  if (status !== 401 && status !== 403) return "";
  const signer = client.signer;
  return signer === undefined
    ? ". The endpoint may require signed requests: start Keel with --request-identity-private-key-pem-file and give the endpoint its public key (identityKeys)"
    : `. The endpoint may not accept Keel's request identity key ${signer.publicKeyId}: add it to the endpoint's identityKeys`;
}

/** Fetches and validates an endpoint's manifest, with Restate's META0003 on every failure. */
async function discover(
  uriText: string,
  useHttp11: boolean,
  additionalHeaders: Record<string, string>,
  client: EndpointClient,
): Promise<Discovered> {
  const normalized = normalizedUri(uriText);
  const uri = new URL(normalized);
  const unreachable = (reason: string): AdminError =>
    new AdminError(
      500,
      `[META0003] [META0003] error when calling '${normalized}': ${reason}`,
      "META0003",
    );
  if (uri.protocol !== "http:" && uri.protocol !== "https:")
    throw unreachable(`unsupported scheme ${uri.protocol.replace(/:$/, "")}`);
  let discovery;
  try {
    discovery = await fetchDiscovery(normalized, useHttp11, additionalHeaders, client);
  } catch (error) {
    throw unreachable(describeError(error));
  }
  if (discovery.status !== 200) {
    throw new AdminError(
      500,
      `bad deployment: discovery at ${normalized} answered HTTP ${discovery.status}: ${discovery.body.toString("utf8").slice(0, 500)}${refusalHint(discovery.status, client)}`,
      "META0003",
    );
  }
  const contentType = String(discovery.headers["content-type"] ?? "");
  if (!/^application\/vnd\.restate\.endpointmanifest\.v[234]\+json/.test(contentType)) {
    throw new AdminError(
      500,
      `bad deployment: discovery answered content-type '${contentType}', expected an endpoint manifest v2 to v4`,
      "META0003",
    );
  }
  let manifestJson: unknown;
  try {
    manifestJson = JSON.parse(discovery.body.toString("utf8"));
  } catch {
    throw new AdminError(
      500,
      "bad deployment: the endpoint manifest is not valid JSON",
      "META0003",
    );
  }
  const parsed = parseManifest(manifestJson);
  if (!parsed.ok) throw new AdminError(400, `bad deployment: ${parsed.message}`, "META0003");
  if (useHttp11 && parsed.manifest.protocolMode === "BidiStream") {
    throw new AdminError(
      400,
      "bad deployment: a BIDI_STREAM endpoint cannot be used over HTTP/1.1",
      "META0003",
    );
  }
  const server = discovery.headers["x-restate-server"];
  return {
    uri: normalized,
    manifest: parsed.manifest,
    sdkVersion: typeof server === "string" ? server : undefined,
  };
}
