/**
 * The HTTP ingress (port 8080): Restate's URL shapes, headers, status codes and error bodies.
 *
 *   POST|GET /{Service}/{handler}[/send]              plain services
 *   POST|GET /{Object}/{key}/{handler}[/send]         virtual objects and workflows
 *   POST|GET /restate/call|send/{Service}[/{key}]/{handler}   the same, under Restate 1.7's paths
 *   GET /restate/invocation/{id}/attach|output        by invocation id
 *   GET /restate/invocation/{Svc}[/{key}]/{handler}/{idempotencyKey}/attach|output
 *   GET /restate/workflow/{Wf}/{key}/attach|output
 *   POST /restate/a|awakeables/{id}/resolve|reject
 *   GET /restate/health
 *
 * Request targets are read as Restate reads them (`ingress_paths.ts`). HTTP/1.1 and HTTP/2 with prior
 * knowledge are served on the same port (`http_util.ts`).
 *
 * Errors the ingress raises carry `x-restate-error-source: ingress`; failures of the invocation itself
 * carry `invocation`, with the failure's code as the status.
 *
 * Why one file of this length: the routes are short and share request parsing, target resolution
 * and the error shape; the grammar of request targets lives apart (ingress/paths.ts).
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { Http2ServerRequest } from "node:http2";
import type { Server as NetServer } from "node:net";
import {
  parseDuration,
  KeelError,
  describeError,
  limits,
  InvocationId,
  formatUlid,
  freshInvocationId,
  idempotentInvocationId,
  parseAwakeableId,
  workflowRunInvocationId,
} from "../../core/index.js";
import { type Result, type ServiceInvocation } from "../../gen/keel/records.js";
import type { Header } from "../../gen/keel/service_protocol.js";
import { targetRefOf } from "../../partition/index.js";
import type { AttachResult } from "../../worker/index.js";
import type { KeelNode } from "../../node/index.js";
import type { Entropy, Logger } from "../../platform/index.js";
import { NO_METRICS, type KeelMetrics, type TimerStamp } from "../../observability/index.js";
import type { IngressSpan, OpenTelemetryTracing } from "../../observability/io/index.js";
import {
  handlerTypeOf,
  targetOf,
  retentionOf,
  type HandlerSchema,
  type SchemaIndex,
} from "../../schema/index.js";
import {
  HttpApiServer,
  UNAUTHORIZED_HEADERS,
  httpStatusOf,
  type AccessToken,
  type TlsCredentials,
  isoNanos,
  isoOffset,
  readBody,
  sendJson,
} from "../../platform/io/index.js";
import {
  IngressError,
  badRestatePath,
  badServicePath,
  decodeKeySegment,
  failureBody,
  mediaType,
  methodNotAllowed,
  parseIngressTarget,
  queryParam,
  serviceNotFound,
  type IngressTarget,
} from "../index.js";

/** How long a request waits for a starting node to load its schema before it is told to retry. */
const SCHEMA_WAIT_MS_MAX = 10_000;

const CORS_HEADERS = {
  vary: "origin, access-control-request-method, access-control-request-headers",
  "access-control-allow-credentials": "true",
};

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
  /** Serve HTTPS with these credentials (else HTTP/1.1 and h2c). */
  readonly tls?: TlsCredentials;
  /** A bearer token every request but health checks and CORS preflights must carry. */
  readonly accessToken?: AccessToken;
  /** Where answered requests are counted and timed (default: nowhere). */
  readonly metrics?: Pick<KeelMetrics, "ingress" | "startTimer">;
  /** Where requests are traced (default: nowhere). */
  readonly tracing?: Pick<OpenTelemetryTracing, "startIngressRequest">;
}

/** Where a response keeps the time its request arrived, for the metrics (see `measured`). */
const REQUEST_STARTED = Symbol("requestStarted");
type TimedResponse = ServerResponse & { [REQUEST_STARTED]: TimerStamp };

export class HttpIngress {
  private readonly http: HttpApiServer;
  private readonly bodyBytesMax: number;
  private readonly accessToken: AccessToken | undefined;
  private readonly metrics: Pick<KeelMetrics, "ingress" | "startTimer">;
  private readonly tracing: Pick<OpenTelemetryTracing, "startIngressRequest"> | undefined;
  /** The span of each traced request being handled, for the invocation it submits. */
  private readonly spans = new WeakMap<IncomingMessage, IngressSpan>();
  /** Counts and times a response once sent (a `finish` listener: `this` is the response). */
  private readonly onAnswered: (this: TimedResponse) => void;

  constructor(
    private readonly node: KeelNode,
    private readonly entropy: Entropy,
    private readonly logger: Logger,
    options: IngressOptions = {},
  ) {
    this.bodyBytesMax = options.bodyBytesMax ?? limits.ingressBodyBytesMax;
    this.accessToken = options.accessToken;
    this.metrics = options.metrics ?? NO_METRICS;
    const ingressMetrics = this.metrics.ingress;
    this.onAnswered = function (this: TimedResponse) {
      ingressMetrics.requestAnswered(this.statusCode, this[REQUEST_STARTED]);
    };
    this.tracing = options.tracing;
    this.http = new HttpApiServer(
      "ingress",
      (req, res) => this.measured(req, res),
      65_000,
      {
        // As Restate's HTTP stack (hyper): no Host header required, and room for a target of 64 KiB
        // (keys that long are valid) within the request head; a larger head is answered with 431.
        requireHostHeader: false,
        maxHeaderSize: limits.ingressHeadBytesMax,
      },
      options.tls,
    );
  }

  listen(port: number, host: string): Promise<NetServer> {
    return this.http.listen(port, host);
  }

  close(): Promise<void> {
    return this.http.close();
  }

  /** Counts each request by the status it was answered with, once the answer is sent; traces it. */
  private measured(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.tracing !== undefined) {
      const span = this.tracing.startIngressRequest(
        req.method ?? "GET",
        (req.url ?? "/").split("?", 1)[0]!,
        req.headers,
      );
      this.spans.set(req, span);
      res.once("finish", () => span.end(res.statusCode));
    }
    if (this.metrics === NO_METRICS) return this.handle(req, res);
    // One listener shared by every response, its start on the response: no closure per request.
    (res as TimedResponse)[REQUEST_STARTED] = this.metrics.startTimer();
    res.on("finish", this.onAnswered);
    return this.handle(req, res);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Refused by Restate's HTTP parser, before its ingress sees them: no body, no CORS headers.
    // (HTTP/2 arrives on its own server, with prior knowledge: its requests say 2.0 and are served.)
    if (req.httpVersionMajor !== 1 && !(req instanceof Http2ServerRequest))
      return refuseRequest(res, 400);
    if ((req.url ?? "").length > limits.ingressTargetBytesMax) return refuseRequest(res, 414);
    try {
      res.setHeader("vary", CORS_HEADERS.vary);
      res.setHeader(
        "access-control-allow-credentials",
        CORS_HEADERS["access-control-allow-credentials"],
      );
      // Restate mirrors the origin on every answer, not only preflights: a page served elsewhere
      // (the web UI on the admin port) may read what its calls return.
      if (req.headers.origin !== undefined)
        res.setHeader("access-control-allow-origin", req.headers.origin);
      if (req.method === "OPTIONS") return this.preflight(req, res);
      const target = parseIngressTarget(req.url ?? "/");
      const [first, ...rest] = target.segments;
      // Health checks stay open: probes carry no credentials, and the answer is only readiness.
      const health = first === "restate" && rest.length === 1 && rest[0] === "health";
      if (this.accessToken !== undefined && !health && !this.accessToken.admits(req)) {
        return sendJson(
          res,
          401,
          {
            code: 401,
            message: "unauthorized: this ingress requires 'Authorization: Bearer <token>'",
          },
          UNAUTHORIZED_HEADERS,
        );
      }
      if (first === "restate") return await this.handleRestate(req, res, rest, target);
      await this.invoke(req, res, target);
    } catch (error) {
      this.fail(res, error);
    }
  }

  /**
   * The schema, once the node loaded it: a request that arrives while the node starts must not hear
   * that a registered service does not exist (404) just because the schema is still being read.
   */
  private async loadedSchema(service?: string): Promise<SchemaIndex> {
    if (!this.node.isSchemaLoaded) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.node.schemaReady,
        new Promise((resolve) => (timer = setTimeout(resolve, SCHEMA_WAIT_MS_MAX))),
      ]);
      clearTimeout(timer);
      if (!this.node.isSchemaLoaded) throw new IngressError(503, "the node is starting");
    }
    const schema = this.node.schema();
    // An unknown service may have been registered through another node of the cluster just now.
    if (service !== undefined && schema.service(service) === undefined)
      return this.node.latestSchema();
    return schema;
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
      const status = httpStatusOf(error);
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
    requestTarget: IngressTarget,
    /** For `/restate/call/…` and `/restate/send/…`; the legacy paths end in `/send` to send. */
    mode?: "call" | "send",
  ): Promise<void> {
    const badPath = mode === undefined ? badServicePath : badRestatePath;
    const [serviceName, ...rest] = requestTarget.segments as [string, ...string[]];
    const service = (await this.loadedSchema(serviceName)).service(serviceName);
    if (service === undefined) throw serviceNotFound(serviceName);
    const keyed = service.ty !== "Service";
    const keySegment = keyed ? rest.shift() : "";
    if (keySegment === undefined) throw badPath();
    const key = decodeKeySegment(keySegment);
    const [handlerName, last, ...extra] = rest;
    const lastAllowed = last === undefined || (mode === undefined && last === "send");
    if (handlerName === undefined || !lastAllowed || extra.length > 0) throw badPath();
    const isSend = mode === undefined ? last === "send" : mode === "send";
    const handler = service.handlers.find((h) => h.name === handlerName);
    if (handler === undefined) {
      throw new IngressError(
        404,
        `the service '${serviceName}' exists, but the handler '${handlerName}' was not found, check that the handler exists in the latest registered service version.`,
      );
    }
    if (!service.public || !handler.public) {
      throw new IngressError(400, "the invoked service is not public");
    }
    // An empty idempotency key is a key like any other, as in Restate; one that is not visible ASCII
    // is refused, as Restate's header parsing refuses it.
    const givenIdempotencyKey = headerValue(req, "idempotency-key");
    if (givenIdempotencyKey !== undefined && !/^[\t\x20-\x7e]*$/.test(givenIdempotencyKey))
      throw new IngressError(
        400,
        "bad header idempotency-key: the value holds characters other than visible ASCII",
      );
    const handlerType = handlerTypeOf(service, handler);
    if (handlerType === "Workflow" && givenIdempotencyKey !== undefined) {
      throw new IngressError(
        400,
        "cannot use the idempotency key with workflow handlers. The handler invocation will already be idempotent by the workflow key itself.",
      );
    }
    if (req.method !== "GET" && req.method !== "POST") throw methodNotAllowed();
    // As Restate (with its default `controlled-idempotent-sharding`): calls and sends to services
    // and objects without a key get a fresh one, so every such invocation is idempotent.
    const idempotencyKey =
      givenIdempotencyKey ?? (service.ty === "Workflow" ? undefined : this.freshIdempotencyKey());
    const body = await readBody(req, this.bodyBytesMax);
    validateInput(req, handler, body);
    const delayText = queryParam(requestTarget.query, "delay");
    const delayMs = delayText === undefined ? undefined : parseDuration(delayText);
    if (delayText !== undefined && delayMs === undefined)
      throw new IngressError(
        400,
        `bad delay query parameter '${delayText}': expected an ISO-8601 or friendly duration`,
      );
    if (delayMs !== undefined && !isSend)
      throw new IngressError(
        400,
        "cannot use the delay query parameter with calls. The delay is supported only with sends",
      );
    // The execution time is stored as integer milliseconds since the epoch.
    if (delayMs !== undefined && !Number.isSafeInteger(this.node.ports.clock.nowMs() + delayMs))
      throw new IngressError(
        400,
        `bad delay query parameter '${delayText ?? ""}': the delay is too long`,
      );

    const target = targetOf(service, handler, key);
    let id: InvocationId;
    if (handlerType === "Workflow") id = workflowRunInvocationId(service.name, key);
    else if (idempotencyKey !== undefined)
      id = idempotentInvocationId(targetRefOf(target), idempotencyKey);
    else {
      const random = new Uint8Array(16);
      this.entropy.fill(random);
      id = freshInvocationId(targetRefOf(target), random);
    }
    const traceParent =
      this.spans
        .get(req)
        ?.invocation(id.toString(), `${serviceName}${keyed ? `/${key}` : ""}/${handlerName}`) ?? "";
    // The node's clock, not the process's: a test kit moves it (src/testing/clock.ts).
    const now = this.node.ports.clock.nowMs();
    const invocation: ServiceInvocation = {
      invocationId: id.bytes,
      target,
      argument: body,
      headers: forwardedHeaders(req, requestTarget),
      source: { kind: { $case: "ingress", value: {} } },
      responseSink: undefined,
      idempotencyKey,
      // A delay, even of zero, sets an execution time, which Restate's answer then shows.
      executionTimeMs: delayMs === undefined ? 0 : now + delayMs,
      ...retentionOf(service, handler, idempotencyKey !== undefined),
      wantsResult: !isSend,
      traceParent,
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
      const executionTime =
        outcome.kind === "accepted"
          ? (outcome.executionTimeMs ?? invocation.executionTimeMs)
          : undefined;
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

  private freshIdempotencyKey(): string {
    const random = new Uint8Array(10);
    this.entropy.fill(random);
    return formatUlid(this.node.ports.clock.nowMs(), random);
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
      return sendJson(res, code, failureBody(kind.value), {
        ...headers,
        "x-restate-error-source": "invocation",
      });
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
    target: IngressTarget,
  ): Promise<void> {
    const [area, ...rest] = segments;
    switch (area) {
      case "health":
        return this.health(req, res);
      case "a":
      case "awakeables":
        return this.awakeable(req, res, rest);
      case "call":
      case "send":
        if (rest.length < 2 || rest.length > 3) throw badRestatePath();
        return this.invoke(req, res, { ...target, segments: rest }, area);
      case "invocation":
        return this.attachByInvocation(req, res, rest);
      case "workflow":
        return this.attachByWorkflow(req, res, rest);
      default:
        throw new IngressError(404, "not found");
    }
  }

  private health(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== "GET") throw methodNotAllowed();
    const readiness = this.node.readiness();
    if (!readiness.ready) throw new IngressError(503, readiness.reason);
    // As Restate's: the names of the services the ingress can call.
    sendJson(res, 200, { services: this.node.schema().schema.services.map((s) => s.name) });
  }

  private async awakeable(
    req: IncomingMessage,
    res: ServerResponse,
    rest: string[],
  ): Promise<void> {
    const [text, action] = rest;
    if (text === undefined || action === undefined)
      throw new IngressError(
        400,
        "bad path, expected either /restate/awakeables/:id/resolve or /restate/awakeables/:id/reject",
      );
    if (action !== "resolve" && action !== "reject") throw new IngressError(404, "not found");
    if (req.method !== "POST") throw methodNotAllowed();
    const ref = parseAwakeableId(text);
    if (ref === undefined)
      throw new IngressError(400, `bad awakeable id '${text}': base62 decode error`);
    const body = await readBody(req, this.bodyBytesMax);
    const result: Result =
      action === "resolve"
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

  /** /restate/invocation/{id}/{mode} or /restate/invocation/{svc}[/{key}]/{handler}/{idempotency key}/{mode}. */
  private async attachByInvocation(
    req: IncomingMessage,
    res: ServerResponse,
    rest: string[],
  ): Promise<void> {
    const badPath = (): IngressError =>
      new IngressError(
        400,
        "bad path, expected either /restate/invocation/:invocation_id/output or /restate/invocation/:invocation_id/attach or /restate/invocation/:invocation_target/:idempotency_key/output or /restate/invocation/:invocation_target/:idempotency_key/attach",
      );
    const [first, second, third, ...more] = rest;
    if (first === undefined || second === undefined) throw badPath();
    let id: InvocationId;
    let handler: HandlerSchema | undefined;
    let mode: string | undefined;
    if (third === undefined) {
      mode = second;
      checkAttachMode(req, mode);
      const parsed = InvocationId.parse(first);
      if (parsed === undefined)
        throw new IngressError(400, `bad invocation id '${first}': bad format`);
      id = parsed;
    } else {
      const service = (await this.loadedSchema(first)).service(first);
      if (service === undefined) throw serviceNotFound(first);
      const keyed = service.ty !== "Service";
      const [key, handlerName, idempotencyKey] = keyed
        ? [decodeKeySegment(second), third, more.shift()]
        : ["", second, third];
      mode = more.shift();
      if (idempotencyKey === undefined || mode === undefined) throw badPath();
      checkAttachMode(req, mode);
      handler = service.handlers.find((h) => h.name === handlerName);
      id = idempotentInvocationId(
        { service: first, handler: handlerName, key, keyed },
        idempotencyKey,
      );
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
    const [name, keySegment, mode] = rest;
    if (name === undefined || keySegment === undefined || mode === undefined)
      throw new IngressError(
        400,
        "bad path, expected either /restate/workflow/:workflow_name/:workflow_key/output or /restate/workflow/:workflow_name/:workflow_key/attach",
      );
    const key = decodeKeySegment(keySegment);
    checkAttachMode(req, mode);
    const service = (await this.loadedSchema(name)).service(name);
    if (service === undefined) throw serviceNotFound(name);
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

/** Answers as Restate's HTTP parser does when it cannot take a request: a status, no body, close. */
function refuseRequest(res: ServerResponse, status: number): void {
  res.writeHead(status, { connection: "close", "content-length": "0" });
  res.end();
}

/** Attach and output requests: the mode is `attach` or `output`, read with GET. */
function checkAttachMode(req: IncomingMessage, mode: string): void {
  if (mode !== "attach" && mode !== "output") throw new IngressError(404, "not found");
  if (req.method !== "GET") throw methodNotAllowed();
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
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

function forwardedHeaders(req: IncomingMessage, target: IngressTarget): Header[] {
  const pathAndQuery = target.query === undefined ? target.path : `${target.path}?${target.query}`;
  const out: Header[] = [{ key: "x-restate-ingress-path", value: pathAndQuery }];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = raw[i]!.toLowerCase();
    // HTTP/2 pseudo-headers (":path", ":authority", ...) describe the request, they are not headers.
    if (SKIPPED_HEADERS.has(key) || key.startsWith(":")) continue;
    out.push({ key, value: raw[i + 1]! });
  }
  return out;
}
