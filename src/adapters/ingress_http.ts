/**
 * The HTTP ingress (port 8080): Restate's URL shapes, headers, status codes and error bodies.
 *
 *   POST|GET /{Service}/{handler}[/send]              plain services
 *   POST|GET /{Object}/{key}/{handler}[/send]         virtual objects and workflows
 *   GET /restate/invocation/{id}/attach|output        by invocation id
 *   GET /restate/invocation/{Svc}[/{key}]/{handler}/{idempotencyKey}/attach|output
 *   GET /restate/workflow/{Wf}/{key}/attach|output
 *   POST /restate/a|awakeables/{id}/resolve|reject
 *   GET /restate/health
 *
 * Errors the ingress raises carry `x-restate-error-source: ingress`; failures of the invocation itself
 * carry `invocation`, with the failure's code as the status.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Server as NetServer } from "node:net";
import { parseDuration } from "../core/duration.js";
import { KeelError, describeError } from "../core/errors.js";
import { limits } from "../core/limits.js";
import {
  HandlerType,
  ServiceType,
  type Result,
  type ServiceInvocation,
  type Target,
} from "../gen/keel/records.js";
import type { Header } from "../gen/keel/service_protocol.js";
import { objectKeyProblem } from "../partition/keys.js";
import {
  InvocationId,
  freshInvocationId,
  idempotentInvocationId,
  parseAwakeableId,
  workflowRunInvocationId,
} from "../protocol/ids.js";
import { partitionKeyOf } from "../protocol/partitioning.js";
import type { AttachResult } from "../runtime/partition_processor.js";
import type { KeelNode } from "../runtime/node.js";
import type { Entropy, Logger } from "../runtime/ports.js";
import {
  handlerTypeOf,
  retentionOf,
  type HandlerSchema,
  type ServiceSchema,
} from "../schema/schema.js";
import { HttpApiServer, isoNanos, isoOffset, readBody, sendJson } from "./http_util.js";

const CORS_HEADERS = {
  vary: "origin, access-control-request-method, access-control-request-headers",
  "access-control-allow-credentials": "true",
};

class IngressError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly source: "ingress" | "invocation" = "ingress",
    readonly invocationId?: string,
  ) {
    super(message);
  }
}

const SKIPPED_HEADERS = new Set([
  "connection",
  "host",
  "idempotency-key",
  "idempotency-expires",
  "keep-alive",
  "transfer-encoding",
]);

export interface IngressOptions {
  readonly bodyBytesMax?: number;
}

export class HttpIngress {
  private readonly http = new HttpApiServer("ingress", (req, res) => this.handle(req, res), 65_000);
  private readonly bodyBytesMax: number;

  constructor(
    private readonly node: KeelNode,
    private readonly entropy: Entropy,
    private readonly logger: Logger,
    options: IngressOptions = {},
  ) {
    this.bodyBytesMax = options.bodyBytesMax ?? limits.ingressBodyBytesMax;
  }

  listen(port: number, host: string): Promise<NetServer> {
    return this.http.listen(port, host);
  }

  close(): Promise<void> {
    return this.http.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      res.setHeader("vary", CORS_HEADERS.vary);
      res.setHeader(
        "access-control-allow-credentials",
        CORS_HEADERS["access-control-allow-credentials"],
      );
      if (req.method === "OPTIONS") return this.preflight(req, res);
      const url = requestUrl(req.url ?? "/");
      const segments = url.pathname
        .split("/")
        .filter((s) => s !== "")
        .map(decodeSegment);
      if (segments[0] === "restate")
        return await this.handleRestate(req, res, segments.slice(1), url);
      if (segments.length < 2 || segments.length > 4) throw badPath();
      if (req.method !== "GET" && req.method !== "POST")
        throw new IngressError(405, `method ${req.method ?? "?"} not allowed`);
      await this.invoke(req, res, segments, url);
    } catch (error) {
      this.fail(res, error);
    }
  }

  private preflight(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      "access-control-allow-origin": req.headers.origin ?? "*",
      "access-control-allow-methods": "GET, POST, OPTIONS",
      "access-control-allow-headers": req.headers["access-control-request-headers"] ?? "*",
      "content-length": "0",
    });
    res.end();
  }

  private fail(res: ServerResponse, error: unknown): void {
    if (error instanceof IngressError) {
      const headers: Record<string, string> = { "x-restate-error-source": error.source };
      if (error.invocationId !== undefined) headers["x-restate-id"] = error.invocationId;
      return sendJson(
        res,
        error.status,
        { code: error.status, message: error.message, source: error.source },
        headers,
      );
    }
    if (error instanceof KeelError) {
      const status = error.code === "not_leader" || error.code === "sealed" ? 503 : error.status;
      return sendJson(
        res,
        status,
        { code: status, message: error.message, source: "ingress" },
        { "x-restate-error-source": "ingress" },
      );
    }
    this.logger.error("ingress request failed", { error: describeError(error) });
    sendJson(
      res,
      500,
      { code: 500, message: describeError(error), source: "ingress" },
      { "x-restate-error-source": "ingress" },
    );
  }

  // ---- invoking handlers ----

  private async invoke(
    req: IncomingMessage,
    res: ServerResponse,
    segments: string[],
    url: URL,
  ): Promise<void> {
    const serviceName = segments[0]!;
    const service = this.node.schema().service(serviceName);
    if (service === undefined) {
      throw new IngressError(
        404,
        `service '${serviceName}' not found, make sure to register the service before calling it.`,
      );
    }
    const keyed = service.ty !== "Service";
    const isSend = segments[segments.length - 1] === "send";
    const expected = (keyed ? 3 : 2) + (isSend ? 1 : 0);
    if (segments.length !== expected) throw badPath();
    const key = keyed ? segments[1]! : "";
    const keyProblem = keyed
      ? objectKeyProblem({ partitionKey: partitionKeyOf(key), service: serviceName, key })
      : undefined;
    if (keyProblem !== undefined) throw new IngressError(400, keyProblem);
    const handlerName = segments[keyed ? 2 : 1]!;
    const handler = service.handlers.find((h) => h.name === handlerName);
    if (handler === undefined) {
      throw new IngressError(
        404,
        `the service '${serviceName}' exists, but the handler '${handlerName}' was not found, check that the handler exists in the latest registered service version.`,
      );
    }
    if (!service.public || !handler.public) {
      throw new IngressError(
        400,
        `the service '${serviceName}' is private, it cannot be invoked from the ingress`,
      );
    }
    const delayText = url.searchParams.get("delay");
    if (delayText !== null && !isSend)
      throw new IngressError(400, "the 'delay' query parameter is only allowed on /send requests");
    const delayMs = delayText === null ? 0 : parseDuration(delayText);
    if (delayMs === undefined)
      throw new IngressError(
        400,
        `bad delay query parameter '${delayText}': expected an ISO-8601 or friendly duration`,
      );
    // The execution time is stored as integer milliseconds since the epoch.
    if (!Number.isSafeInteger(this.node.ports.clock.nowMs() + delayMs))
      throw new IngressError(
        400,
        `bad delay query parameter '${delayText}': the delay is too long`,
      );
    const idempotencyKey = headerValue(req, "idempotency-key");
    if (idempotencyKey !== undefined && idempotencyKey === "")
      throw new IngressError(400, "the idempotency-key header must not be empty");
    const handlerType = handlerTypeOf(service, handler);
    if (handlerType === "Workflow" && idempotencyKey !== undefined) {
      throw new IngressError(400, "idempotency keys are not supported on a workflow's run handler");
    }
    const body = await readBody(req, this.bodyBytesMax);
    validateInput(req, handler, body);

    const target = targetOf(service, handler, key);
    let id: InvocationId;
    if (handlerType === "Workflow") id = workflowRunInvocationId(service.name, key);
    else if (idempotencyKey !== undefined) id = idempotentInvocationId(target, idempotencyKey);
    else {
      const random = new Uint8Array(16);
      this.entropy.fill(random);
      id = freshInvocationId(target, random);
    }
    // The node's clock, not the process's: a test kit moves it (src/testing/clock.ts).
    const now = this.node.ports.clock.nowMs();
    const invocation: ServiceInvocation = {
      invocationId: id.bytes,
      target,
      argument: body,
      headers: forwardedHeaders(req, url),
      source: { kind: { $case: "ingress", value: {} } },
      responseSink: undefined,
      idempotencyKey: idempotencyKey ?? "",
      executionTimeMs: delayMs > 0 ? now + delayMs : 0,
      ...retentionOf(service, handler, idempotencyKey !== undefined),
      wantsResult: !isSend,
    };
    const { outcome, completion } = await this.node.submit(invocation, id.partitionKey, !isSend);
    const idText = id.toString();
    if (outcome.kind === "workflowAlreadyInvoked") {
      if (isSend) return this.accepted(res, idText, "PreviouslyAccepted", undefined);
      throw new IngressError(409, "the workflow method was already invoked", "invocation", idText);
    }
    if (outcome.kind !== "accepted" && outcome.kind !== "previouslyAccepted") {
      throw new IngressError(500, `unexpected outcome '${outcome.kind}' of the submission`);
    }
    if (isSend) {
      const executionTime = outcome.kind === "accepted" ? outcome.executionTimeMs : undefined;
      return this.accepted(
        res,
        idText,
        outcome.kind === "accepted" ? "Accepted" : "PreviouslyAccepted",
        executionTime,
      );
    }
    if (completion === undefined) throw new IngressError(500, "no completion for a call");
    const result = await completion;
    this.respondResult(res, idText, result, handler, outcome.kind === "previouslyAccepted");
  }

  private accepted(
    res: ServerResponse,
    id: string,
    status: "Accepted" | "PreviouslyAccepted",
    executionTimeMs: number | undefined,
  ): void {
    const body: Record<string, string> = { invocationId: id };
    if (executionTimeMs !== undefined && executionTimeMs > 0)
      body["executionTime"] = isoNanos(executionTimeMs);
    body["status"] = status;
    sendJson(res, 202, body, { "x-restate-id": id });
  }

  /** Answers with an invocation's result, like a call: the value, or its failure as an error. */
  private respondResult(
    res: ServerResponse,
    id: string,
    attached: AttachResult,
    handler: HandlerSchema | undefined,
    withExpiry: boolean,
  ): void {
    if (attached.kind === "notFound") throw new IngressError(404, "not found", "invocation", id);
    if (attached.kind === "notReady")
      throw new IngressError(470, "the invocation exists but has not completed yet");
    const headers: Record<string, string> = { "x-restate-id": id };
    if (withExpiry && attached.retainedUntilMs > 0)
      headers["idempotency-expires"] = isoOffset(attached.retainedUntilMs);
    const result: Result = attached.result;
    const kind = result.kind;
    if (kind?.$case === "failure") {
      const code = kind.value.code >= 400 && kind.value.code < 600 ? kind.value.code : 500;
      return sendJson(
        res,
        code,
        { code: kind.value.code, message: kind.value.message, source: "invocation" },
        {
          ...headers,
          "x-restate-error-source": "invocation",
        },
      );
    }
    const value = kind?.$case === "value" ? kind.value : new Uint8Array(0);
    const contentType =
      handler?.output?.contentType ?? (handler === undefined ? "application/json" : undefined);
    if (
      contentType !== undefined &&
      (value.length > 0 || handler?.output?.setContentTypeIfEmpty === true)
    ) {
      headers["content-type"] = contentType;
    }
    headers["content-length"] = String(value.length);
    res.writeHead(200, headers);
    res.end(value);
  }

  // ---- /restate/... ----

  private async handleRestate(
    req: IncomingMessage,
    res: ServerResponse,
    segments: string[],
    url: URL,
  ): Promise<void> {
    const [area, ...rest] = segments;
    switch (area) {
      case "health": {
        if (rest.length !== 0) throw badPath();
        if (req.method !== "GET") throw new IngressError(405, "method not allowed");
        const readiness = this.node.readiness();
        if (!readiness.ready) throw new IngressError(503, readiness.reason);
        // As Restate's: the names of the services the ingress can call.
        sendJson(res, 200, { services: this.node.schema().schema.services.map((s) => s.name) });
        return;
      }
      case "a":
      case "awakeables":
        return this.awakeable(req, res, rest);
      case "invocation":
        return this.attachByInvocation(req, res, rest);
      case "workflow":
        return this.attachByWorkflow(req, res, rest);
      default:
        void url;
        throw new IngressError(404, `unknown path /restate/${segments.join("/")}`);
    }
  }

  private async awakeable(
    req: IncomingMessage,
    res: ServerResponse,
    rest: string[],
  ): Promise<void> {
    if (rest.length !== 2 || (rest[1] !== "resolve" && rest[1] !== "reject")) throw badPath();
    if (req.method !== "POST")
      throw new IngressError(405, `method ${req.method ?? "?"} not allowed`);
    const text = rest[0]!;
    const ref = parseAwakeableId(text);
    if (ref === undefined)
      throw new IngressError(400, `bad awakeable id '${text}': base62 decode error`);
    const body = await readBody(req, this.bodyBytesMax);
    const result: Result =
      rest[1] === "resolve"
        ? { kind: { $case: "value", value: body } }
        : {
            kind: {
              $case: "failure",
              value: { code: 500, message: body.toString("utf8"), metadata: [] },
            },
          };
    await this.node.notifySignal(ref.invocationId, ref.signalIndex, result);
    res.writeHead(202, { "content-length": "0" });
    res.end();
  }

  private async attachByInvocation(
    req: IncomingMessage,
    res: ServerResponse,
    rest: string[],
  ): Promise<void> {
    const mode = rest[rest.length - 1];
    if (mode !== "attach" && mode !== "output") throw badPath();
    if (req.method !== "GET" && req.method !== "POST")
      throw new IngressError(405, `method ${req.method ?? "?"} not allowed`);
    let id: InvocationId;
    let handler: HandlerSchema | undefined;
    if (rest.length === 2) {
      const parsed = InvocationId.parse(rest[0]!);
      if (parsed === undefined)
        throw new IngressError(400, `bad invocation id '${rest[0]!}': bad format`);
      id = parsed;
    } else if (rest.length === 4 || rest.length === 5) {
      // {service}[/{key}]/{handler}/{idempotencyKey}
      const serviceName = rest[0]!;
      const service = this.node.schema().service(serviceName);
      if (service === undefined)
        throw new IngressError(
          404,
          `service '${serviceName}' not found, make sure to register the service before calling it.`,
        );
      const keyed = service.ty !== "Service";
      if (rest.length !== (keyed ? 5 : 4)) throw badPath();
      const key = keyed ? rest[1]! : "";
      const handlerName = rest[keyed ? 2 : 1]!;
      handler = service.handlers.find((h) => h.name === handlerName);
      id = idempotentInvocationId(
        { service: serviceName, handler: handlerName, key },
        rest[rest.length - 2]!,
      );
    } else {
      throw badPath();
    }
    const attached = await this.node.attach(id, mode === "attach");
    if (attached.kind === "notFound") {
      if (mode === "output") throw new IngressError(404, "invocation not found");
      throw new IngressError(404, "not found", "invocation", id.toString());
    }
    this.respondResult(res, id.toString(), attached, handler ?? this.handlerOf(attached), true);
  }

  private async attachByWorkflow(
    req: IncomingMessage,
    res: ServerResponse,
    rest: string[],
  ): Promise<void> {
    if (rest.length !== 3 || (rest[2] !== "attach" && rest[2] !== "output")) throw badPath();
    if (req.method !== "GET" && req.method !== "POST")
      throw new IngressError(405, `method ${req.method ?? "?"} not allowed`);
    const [name, key, mode] = rest as [string, string, string];
    const service = this.node.schema().service(name);
    if (service === undefined)
      throw new IngressError(
        404,
        `service '${name}' not found, make sure to register the service before calling it.`,
      );
    if (service.ty !== "Workflow")
      throw new IngressError(400, `the service '${name}' is not a workflow`);
    const id = workflowRunInvocationId(name, key);
    const handler = service.handlers.find((h) => handlerTypeOf(service, h) === "Workflow");
    const attached = await this.node.attach(id, mode === "attach");
    if (attached.kind === "notFound") {
      if (mode === "output") throw new IngressError(404, "invocation not found");
      throw new IngressError(404, "not found", "invocation", id.toString());
    }
    this.respondResult(res, id.toString(), attached, handler, true);
  }

  /** The handler of an attached invocation, whose output description gives the content type. */
  private handlerOf(attached: AttachResult): HandlerSchema | undefined {
    if (attached.kind !== "completed" || attached.target === undefined) return undefined;
    return this.node.schema().handler(attached.target.service, attached.target.handler)?.handler;
  }
}

/**
 * The URL of a request target. An origin-form target is a path even when it starts with `//` (which
 * a URL parser would read as a host); a target no parser accepts is a bad request.
 */
function requestUrl(target: string): URL {
  try {
    return new URL(target.startsWith("/") ? `http://ingress${target}` : target, "http://ingress");
  } catch {
    throw new IngressError(400, `bad request target '${target.slice(0, 200)}'`);
  }
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new IngressError(400, `bad path segment '${segment}': invalid percent-encoding`);
  }
}

function badPath(): IngressError {
  return new IngressError(
    400,
    "bad path, expected either /:service-name/:handler or /:object-name/:object-key/:handler",
  );
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function mediaType(value: string): string {
  return value.split(";")[0]!.trim().toLowerCase();
}

function validateInput(req: IncomingMessage, handler: HandlerSchema, body: Buffer): void {
  const input = handler.input;
  if (body.length === 0) {
    if (input?.required === true)
      throw new IngressError(400, "input validation error: the handler requires a body");
    return;
  }
  const expected = input?.contentType;
  if (expected === undefined || expected === "*/*") return;
  const actual = headerValue(req, "content-type");
  const matches =
    actual !== undefined &&
    (mediaType(actual) === mediaType(expected) ||
      (mediaType(expected).endsWith("/*") &&
        mediaType(actual).startsWith(mediaType(expected).slice(0, -1))));
  if (!matches) {
    throw new IngressError(
      400,
      `input validation error: Content-type '${actual ?? "None"}' does not match '${expected}'`,
    );
  }
}

function forwardedHeaders(req: IncomingMessage, url: URL): Header[] {
  const out: Header[] = [{ key: "x-restate-ingress-path", value: url.pathname + url.search }];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = raw[i]!.toLowerCase();
    // HTTP/2 pseudo-headers (":path", ":authority", ...) describe the request, they are not headers.
    if (SKIPPED_HEADERS.has(key) || key.startsWith(":")) continue;
    out.push({ key, value: raw[i + 1]! });
  }
  return out;
}

export function targetOf(service: ServiceSchema, handler: HandlerSchema, key: string): Target {
  const handlerType = handlerTypeOf(service, handler);
  return {
    service: service.name,
    handler: handler.name,
    key,
    serviceType:
      service.ty === "Service"
        ? ServiceType.SERVICE_TYPE_SERVICE
        : service.ty === "VirtualObject"
          ? ServiceType.SERVICE_TYPE_VIRTUAL_OBJECT
          : ServiceType.SERVICE_TYPE_WORKFLOW,
    handlerType:
      handlerType === undefined
        ? HandlerType.HANDLER_TYPE_UNSPECIFIED
        : handlerType === "Exclusive"
          ? HandlerType.HANDLER_TYPE_EXCLUSIVE
          : handlerType === "Shared"
            ? HandlerType.HANDLER_TYPE_SHARED
            : HandlerType.HANDLER_TYPE_WORKFLOW,
  };
}
