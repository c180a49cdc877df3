/**
 * The admin API (port 9070), under Restate's paths: unversioned and with the `/v2`–`/v4` prefixes the
 * official CLI uses after `GET /version`. Errors use Restate's shape: `{"message", "restate_code"}`.
 */

import { randomBytes } from "node:crypto";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { KeelError, describeError } from "../core/errors.js";
import { formatDeploymentId, InvocationId } from "../protocol/ids.js";
import type { KeelNode } from "../runtime/node.js";
import type { Logger } from "../runtime/ports.js";
import { parseManifest } from "../schema/manifest.js";
import { registerDeployment, removeDeployment } from "../schema/registration.js";
import { deploymentJson, handlerJson, serviceJson } from "../schema/render.js";
import type { Outcome } from "../partition/actions.js";
import { fetchDiscovery } from "./endpoint_transport.js";
import { HttpApiServer, isoMillis, readBody, sendJson } from "./http_util.js";

export const KEEL_VERSION = "0.1.0";
const ADMIN_BODY_BYTES_MAX = 8 * 1024 * 1024;

class AdminError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly restateCode: string | null = null,
  ) {
    super(message);
  }
}

type Handler = (ctx: {
  req: IncomingMessage;
  res: ServerResponse;
  params: string[];
  url: URL;
  apiVersion: number;
}) => Promise<void> | void;

interface Route {
  readonly method: string;
  readonly pattern: RegExp;
  readonly handler: Handler;
}

export interface AdminOptions {
  readonly ingressUrl: string;
}

export class AdminApi {
  private readonly http = new HttpApiServer("admin", (req, res) => this.handle(req, res));
  private readonly routes: Route[] = [];

  constructor(
    private readonly node: KeelNode,
    private readonly logger: Logger,
    private readonly options: AdminOptions,
  ) {
    const route = (method: string, path: string, handler: Handler): void => {
      const pattern = new RegExp(`^${path.replace(/\{[a-z_]+\}/g, "([^/]+)")}/?$`);
      this.routes.push({ method, pattern, handler });
    };
    route("GET", "/health", ({ res }) => {
      res.writeHead(200, { "content-length": "0" });
      res.end();
    });
    route("GET", "/version", ({ res }) => this.version(res));
    route("GET", "/deployments", ({ res }) => this.listDeployments(res));
    route("POST", "/deployments", (ctx) => this.register(ctx.req, ctx.res, ctx.apiVersion));
    route("GET", "/deployments/{id}", ({ res, params }) => this.getDeployment(res, params[0]!));
    route("DELETE", "/deployments/{id}", ({ res, params, url }) =>
      this.deleteDeployment(res, params[0]!, url),
    );
    route("GET", "/services", ({ res }) => this.listServices(res));
    route("GET", "/services/{name}", ({ res, params }) =>
      sendJson(res, 200, serviceJson(this.service(params[0]!))),
    );
    route("GET", "/services/{name}/handlers", ({ res, params }) =>
      sendJson(res, 200, { handlers: this.service(params[0]!).handlers.map(handlerJson) }),
    );
    route("GET", "/services/{name}/handlers/{handler}", ({ res, params }) => {
      const handler = this.service(params[0]!).handlers.find((h) => h.name === params[1]);
      if (handler === undefined)
        throw new AdminError(
          404,
          `handler '${params[1]!}' of service '${params[0]!}' not found`,
          "META0004",
        );
      sendJson(res, 200, handlerJson(handler));
    });
    route("PATCH", "/invocations/{id}/cancel", ({ res, params }) =>
      this.terminate(res, params[0]!, "cancel"),
    );
    route("PATCH", "/invocations/{id}/kill", ({ res, params }) =>
      this.terminate(res, params[0]!, "kill"),
    );
    route("PATCH", "/invocations/{id}/purge", ({ res, params }) =>
      this.purge(res, params[0]!, false),
    );
    route("PATCH", "/invocations/{id}/purge-journal", ({ res, params }) =>
      this.purge(res, params[0]!, true),
    );
    route("DELETE", "/invocations/{id}", ({ res, params, url }) => {
      const mode = (url.searchParams.get("mode") ?? "Cancel").toLowerCase();
      if (mode === "kill") return this.terminate(res, params[0]!, "kill");
      if (mode === "purge") return this.purge(res, params[0]!, false);
      return this.terminate(res, params[0]!, "cancel");
    });
    route("GET", "/subscriptions", ({ res }) => sendJson(res, 200, { subscriptions: [] }));
  }

  listen(port: number, host: string): Promise<Server> {
    return this.http.listen(port, host);
  }

  close(): Promise<void> {
    return this.http.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? "/", "http://admin");
      let path = url.pathname;
      let apiVersion = 4;
      const versioned = /^\/v(\d+)(\/.*)?$/.exec(path);
      if (versioned !== null) {
        apiVersion = Number(versioned[1]);
        if (apiVersion < 2 || apiVersion > 4) {
          const text = `Unsupported Admin API version V${apiVersion}. This server supports versions between V2 and V4.`;
          res.writeHead(400, {
            "content-type": "text/plain; charset=utf-8",
            "content-length": Buffer.byteLength(text),
          });
          res.end(text);
          return;
        }
        path = versioned[2] ?? "/";
      }
      const method = req.method ?? "GET";
      let matchedPath = false;
      for (const route of this.routes) {
        const match = route.pattern.exec(path);
        if (match === null) continue;
        matchedPath = true;
        if (route.method !== method) continue;
        const params = match.slice(1).map((p) => decodeURIComponent(p));
        await route.handler({ req, res, params, url, apiVersion });
        return;
      }
      if (matchedPath) throw new AdminError(405, `method ${method} not allowed on ${path}`);
      throw new AdminError(404, `no such path: ${path}`);
    } catch (error) {
      this.fail(res, error);
    }
  }

  private fail(res: ServerResponse, error: unknown): void {
    if (error instanceof AdminError)
      return sendJson(res, error.status, {
        message: error.message,
        restate_code: error.restateCode,
      });
    if (error instanceof KeelError)
      return sendJson(res, error.status, { message: error.message, restate_code: null });
    this.logger.error("admin request failed", { error: describeError(error) });
    sendJson(res, 500, { message: describeError(error), restate_code: null });
  }

  private version(res: ServerResponse): void {
    sendJson(res, 200, {
      version: KEEL_VERSION,
      min_admin_api_version: 2,
      max_admin_api_version: 4,
      ingress_endpoint: this.options.ingressUrl,
      features: {
        protocol_v7: false,
        vqueues: false,
        scoped_virtual_objects: false,
        kafka_scope: false,
      },
    });
  }

  private service(name: string) {
    const service = this.node.schema().service(name);
    if (service === undefined) throw new AdminError(404, `service '${name}' not found`, "META0005");
    return service;
  }

  private listServices(res: ServerResponse): void {
    sendJson(res, 200, { services: this.node.schema().schema.services.map((s) => serviceJson(s)) });
  }

  private listDeployments(res: ServerResponse): void {
    const deployments = this.node
      .schema()
      .schema.deployments.map((d) => deploymentJson(d, isoMillis, undefined));
    sendJson(res, 200, { deployments });
  }

  private getDeployment(res: ServerResponse, id: string): void {
    const schema = this.node.schema();
    const deployment = schema.deployment(id);
    if (deployment === undefined)
      throw new AdminError(404, `deployment '${id}' not found`, "META0004");
    const services = schema.schema.services
      .filter((s) => s.deploymentId === id)
      .map((s) => serviceJson(s));
    sendJson(res, 200, deploymentJson(deployment, isoMillis, services));
  }

  private async deleteDeployment(res: ServerResponse, id: string, url: URL): Promise<void> {
    if (url.searchParams.get("force") !== "true") {
      throw new AdminError(
        501,
        "graceful deployment deletion is not supported; use force=true",
        null,
      );
    }
    const removed = await this.node.updateSchema((schema) => {
      const next = removeDeployment(schema, id);
      return { schema: next, result: next !== undefined };
    });
    if (!removed) throw new AdminError(404, `deployment '${id}' not found`, "META0004");
    res.writeHead(202, { "content-length": "0" });
    res.end();
  }

  private async register(
    req: IncomingMessage,
    res: ServerResponse,
    apiVersion: number,
  ): Promise<void> {
    const body = parseJsonBody(await readBody(req, ADMIN_BODY_BYTES_MAX));
    if (body["arn"] !== undefined)
      throw new AdminError(400, "Lambda deployments are not supported by Keel", "META0003");
    const uriText = body["uri"];
    if (typeof uriText !== "string")
      throw new AdminError(400, "the request body needs a string 'uri'", "META0003");
    let uri: URL;
    try {
      uri = new URL(uriText);
    } catch {
      throw new AdminError(400, `bad uri '${uriText}': not a URL`, "META0003");
    }
    if (uri.protocol !== "http:" && uri.protocol !== "https:")
      throw new AdminError(
        400,
        `bad uri '${uriText}': only http and https are supported`,
        "META0003",
      );
    const additionalHeaders = stringMap(body["additional_headers"], "additional_headers");
    const useHttp11 = booleanField(body["use_http_11"], "use_http_11", false);
    const force = booleanField(body["force"], "force", apiVersion <= 2);
    const breaking = booleanField(body["breaking"], "breaking", false);
    const dryRun = booleanField(body["dry_run"], "dry_run", false);
    const metadata = stringMap(body["metadata"], "metadata");

    const normalized = uri.toString();
    let discovery;
    try {
      discovery = await fetchDiscovery(normalized, useHttp11, additionalHeaders);
    } catch (error) {
      throw new AdminError(
        500,
        `bad deployment: cannot reach ${normalized}discover: ${describeError(error)}`,
        "META0003",
      );
    }
    if (discovery.status !== 200) {
      throw new AdminError(
        500,
        `bad deployment: discovery at ${normalized} answered HTTP ${discovery.status}: ${discovery.body.toString("utf8").slice(0, 500)}`,
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
    const request = {
      uri: normalized,
      useHttp11,
      additionalHeaders,
      metadata,
      force,
      breaking,
      manifest: parsed.manifest,
      sdkVersion: typeof server === "string" ? server : undefined,
      nowMs: Date.now(),
      newDeploymentId: formatDeploymentId(randomBytes(16)),
    };
    const result = await this.node.updateSchema((schema) => {
      const outcome = registerDeployment(schema, request);
      const store = outcome.kind === "created" || outcome.kind === "overwritten";
      return { schema: store && !dryRun ? outcome.schema : undefined, result: outcome };
    });
    if (result.kind === "rejected") throw new AdminError(result.status, result.message, "META0006");
    const payload: Record<string, unknown> = {
      id: result.deployment.id,
      services: result.services.map((s) => serviceJson(s)),
      min_protocol_version: result.deployment.minProtocolVersion,
      max_protocol_version: result.deployment.maxProtocolVersion,
    };
    if (result.deployment.sdkVersion !== undefined)
      payload["sdk_version"] = result.deployment.sdkVersion;
    const status = result.kind === "created" ? 201 : 200;
    sendJson(res, status, payload, { location: `deployments/${result.deployment.id}` });
  }

  private parseId(text: string): InvocationId {
    const id = InvocationId.parse(text);
    if (id === undefined) throw new AdminError(400, `bad invocation id '${text}'`, null);
    return id;
  }

  private async terminate(
    res: ServerResponse,
    text: string,
    kind: "cancel" | "kill",
  ): Promise<void> {
    const outcome = await this.node.terminate(this.parseId(text), kind);
    this.answerOutcome(res, text, outcome, kind === "cancel" ? 202 : 200);
  }

  private async purge(res: ServerResponse, text: string, journalOnly: boolean): Promise<void> {
    const outcome = await this.node.purge(this.parseId(text), journalOnly);
    this.answerOutcome(res, text, outcome, 200);
  }

  private answerOutcome(
    res: ServerResponse,
    id: string,
    outcome: Outcome,
    appendedStatus: number,
  ): void {
    switch (outcome.kind) {
      case "notFound":
        throw new AdminError(404, `invocation '${id}' not found`, null);
      case "alreadyCompleted":
        throw new AdminError(409, `invocation '${id}' is already completed`, null);
      case "rejected":
        throw new AdminError(outcome.code, outcome.message, null);
      case "signalAppended":
        res.writeHead(appendedStatus, { "content-length": "0" });
        res.end();
        return;
      default:
        res.writeHead(200, { "content-length": "0" });
        res.end();
    }
  }
}

function parseJsonBody(body: Buffer): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    throw new AdminError(400, "the request body is not valid JSON", null);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new AdminError(400, "the request body must be a JSON object", null);
  return parsed as Record<string, unknown>;
}

function booleanField(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "boolean") throw new AdminError(400, `'${name}' must be a boolean`, null);
  return value;
}

function stringMap(value: unknown, name: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (
    typeof value !== "object" ||
    Array.isArray(value) ||
    !Object.values(value).every((v) => typeof v === "string")
  ) {
    throw new AdminError(400, `'${name}' must be an object of strings`, null);
  }
  return value as Record<string, string>;
}
