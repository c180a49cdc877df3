/**
 * The OpenAPI 3.1 document of one service (`GET /services/{name}/openapi`), as Restate builds it: a
 * call and a send operation per public handler under the ingress's `/restate/call` and
 * `/restate/send` paths, the deprecated attach and output operations (per handler by idempotency
 * key; for workflows, of the run handler by workflow key), request and response bodies from the
 * manifest's content types and JSON schemas, and Restate's shared parameters, responses and error
 * schema. A handler's JSON schemas become components named `{handler}Request` / `{handler}Response`,
 * with their local `$ref`s rewritten to point inside those components.
 */

import type { HandlerSchema, ServiceSchema } from "./schema.js";

type Json = Record<string, unknown>;

const SEND_TAG = "Send";
const ATTACH_TAG = "Attach";
const GET_OUTPUT_TAG = "Get Output";
const HTTP_DOCS = "https://docs.restate.dev/invoke/http";

const parameterRef = (name: string): Json => ({ $ref: `#/components/parameters/${name}` });
const responseRef = (name: string): Json => ({ $ref: `#/components/responses/${name}` });
const schemaRef = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });

export function serviceOpenApi(service: ServiceSchema, ingressUrl: string): Json {
  const keyed = service.ty !== "Service";
  const segment = keyed ? `${service.name}/{key}` : service.name;
  const callParameters: Json[] = [];
  const lookupParameters: Json[] = [];
  if (keyed) {
    callParameters.push(parameterRef("key"));
    lookupParameters.push(parameterRef("key"));
  }
  if (service.ty !== "Workflow") {
    callParameters.push(parameterRef("idempotencyKeyHeader"));
    lookupParameters.push(parameterRef("idempotencyKeyPath"));
  }

  const paths: Record<string, Json> = {};
  const schemas: Record<string, unknown> = {};
  for (const handler of service.handlers) {
    // Only the handler's own privacy hides it; a private service's handlers are documented.
    if (handler.ingressPrivate === true) continue;
    const name = handler.name;
    const requestBody = requestBodyOf(handler, schemas);
    const response = responseOf(handler, schemas);
    const common = {
      summary: name,
      ...(handler.metadata !== undefined && Object.keys(handler.metadata).length > 0
        ? { "x-restate-extensions": handler.metadata }
        : {}),
    };
    const described = (fallback: string): string => handler.documentation ?? fallback;
    paths[`/restate/call/${segment}/${name}`] = {
      post: {
        ...common,
        operationId: name,
        description: described(`Call ${service.name} handler ${name} and wait for response`),
        parameters: callParameters,
        ...(requestBody === undefined ? {} : { requestBody }),
        responses: { "200": response, default: responseRef("GenericError") },
      },
    };
    paths[`/restate/send/${segment}/${name}`] = {
      post: {
        ...common,
        operationId: `${name}Send`,
        description: described(`Send request to ${service.name} handler ${name}`),
        parameters: [...callParameters, parameterRef("delay")],
        tags: [SEND_TAG],
        ...(requestBody === undefined ? {} : { requestBody }),
        responses: {
          "200": responseRef("Send"),
          "202": responseRef("Send"),
          default: responseRef("GenericError"),
        },
      },
    };
    const lookup = (tag: string, operationId: string, description: string, extra: Json): Json => ({
      get: {
        ...common,
        operationId,
        deprecated: true,
        description,
        parameters: lookupParameters,
        tags: [tag],
        responses: {
          "200": response,
          "404": responseRef("InvocationNotFoundError"),
          ...extra,
          default: responseRef("GenericError"),
        },
      },
    });
    const notReady = { "470": responseRef("InvocationNotReadyError") };
    if (service.ty === "Workflow") {
      if ((handler.ty ?? "Workflow") !== "Workflow") continue;
      const how =
        "use POST /restate/lookup with a workflow target to obtain an invocation id, then GET";
      paths[`/restate/workflow/${service.name}/{key}/attach`] = lookup(
        ATTACH_TAG,
        `${name}Attach`,
        `Deprecated: ${how} /restate/attach/{invocationId}. ${described(
          `Attach to the running instance of ${service.name}/${name} workflow and wait to finish`,
        )}`,
        {},
      );
      paths[`/restate/workflow/${service.name}/{key}/output`] = lookup(
        GET_OUTPUT_TAG,
        `${name}Output`,
        `Deprecated: ${how} /restate/output/{invocationId}. ${described(
          `Get output of the ${service.name}/${name} workflow`,
        )}`,
        notReady,
      );
    } else {
      const base = `/restate/invocation/${segment}/${name}/{idempotencyKey}`;
      paths[`${base}/attach`] = lookup(
        ATTACH_TAG,
        `${name}Attach`,
        `Deprecated: use POST /restate/lookup with idempotency information to obtain an invocation id, then GET /restate/attach/{invocationId}. ${described(
          `Attach to a running instance of ${service.name}/${name} using the idempotency key and wait to finish`,
        )}`,
        {},
      );
      // Restate's text says "with with"; kept, as clients may compare documents.
      paths[`${base}/output`] = lookup(
        GET_OUTPUT_TAG,
        `${name}Output`,
        `Deprecated: use POST /restate/lookup with with idempotency information to obtain an invocation id, then GET /restate/output/{invocationId}. ${described(
          `Get output of a running instance of ${service.name}/${name} using idempotency key`,
        )}`,
        notReady,
      );
    }
  }

  const info: Json = { title: service.name, version: String(service.revision) };
  if (service.documentation !== undefined) info["description"] = service.documentation;
  if (service.metadata !== undefined && Object.keys(service.metadata).length > 0)
    info["x-restate-extensions"] = service.metadata;
  return {
    openapi: "3.1.0",
    info,
    servers: [{ url: ingressUrl, description: "Restate Ingress URL" }],
    paths,
    components: {
      schemas: { ...schemas, RestateError: RESTATE_ERROR_SCHEMA },
      responses: RESPONSES,
      parameters: PARAMETERS,
    },
    tags: [
      tag("Request Response", "Request response to handler"),
      tag(SEND_TAG, "Send to handler"),
      tag(ATTACH_TAG, "Attach to invocation"),
      tag(GET_OUTPUT_TAG, "Get invocation output"),
    ],
  };
}

/**
 * The request body from the handler's input rules: no declared input accepts no body or any
 * content type; a declared input without a content type accepts only no body.
 */
function requestBodyOf(handler: HandlerSchema, schemas: Record<string, unknown>): Json | undefined {
  const input = handler.input;
  if (input === undefined) return { content: { "*/*": {} }, required: false };
  if (input.contentType === undefined) return undefined;
  let content: Json = {};
  if (input.jsonSchema !== undefined) {
    const name = `${handler.name}Request`;
    // The boolean schema `true` means anything; tools prefer `{}`.
    schemas[name] = withComponentRefs(input.jsonSchema === true ? {} : input.jsonSchema, name);
    content = { schema: schemaRef(name) };
  }
  return { content: { [input.contentType]: content }, required: input.required ?? false };
}

/** The 200 response from the handler's output rules (no declared output is JSON). */
function responseOf(handler: HandlerSchema, schemas: Record<string, unknown>): Json {
  const output = handler.output ?? { contentType: "application/json" };
  if (output.contentType === undefined) return { description: "Empty" };
  if (output.jsonSchema === undefined)
    return { description: "", content: { [output.contentType]: {} } };
  const name = `${handler.name}Response`;
  schemas[name] = withComponentRefs(output.jsonSchema, name);
  return { description: "", content: { [output.contentType]: { schema: schemaRef(name) } } };
}

/** The schema with every local `$ref` (`#/…`) made relative to its component. */
function withComponentRefs(schema: unknown, component: string): unknown {
  if (Array.isArray(schema)) return schema.map((item) => withComponentRefs(item, component));
  if (typeof schema !== "object" || schema === null) return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    out[key] =
      key === "$ref" && typeof value === "string" && value.startsWith("#")
        ? `#/components/schemas/${component}${value.replace(/^#+/, "")}`
        : withComponentRefs(value, component);
  }
  return out;
}

function tag(name: string, description: string): Json {
  return { name, description, externalDocs: { url: HTTP_DOCS, description: null } };
}

const STRING_SCHEMA = { type: "string" };

const PARAMETERS: Json = {
  delay: {
    name: "delay",
    in: "query",
    description:
      "Specify the delay to execute the operation, for more info check the [delay documentation](https://docs.restate.dev/invoke/http#sending-a-delayed-message-over-http)",
    required: false,
    schema: STRING_SCHEMA,
    example: "10s",
  },
  key: { name: "key", in: "path", required: true, schema: STRING_SCHEMA },
  idempotencyKeyHeader: {
    name: "idempotency-key",
    in: "header",
    description:
      "Idempotency key to execute the request, for more details checkout the [idempotency key documentation](https://docs.restate.dev/invoke/http#invoke-a-handler-idempotently).",
    required: false,
    schema: STRING_SCHEMA,
  },
  idempotencyKeyPath: {
    name: "idempotencyKey",
    in: "path",
    description:
      "Idempotency key used to execute the original request, for more details checkout the [idempotency key documentation](https://docs.restate.dev/invoke/http#invoke-a-handler-idempotently).",
    required: true,
    schema: STRING_SCHEMA,
  },
};

const errorResponse = (description: string, example: Json): Json => ({
  description,
  content: { "application/json": { schema: schemaRef("RestateError"), example } },
});

const RESPONSES: Json = {
  GenericError: errorResponse("Error response", {
    code: 500,
    message: "Internal server error",
    source: "invocation",
  }),
  InvocationNotFoundError: errorResponse("Invocation not found", {
    message: "invocation not found",
    source: "ingress",
  }),
  InvocationNotReadyError: errorResponse("Invocation still running, output is not ready yet", {
    message: "the invocation exists but has not completed yet",
    source: "ingress",
  }),
  Send: {
    description: "Send response",
    content: {
      "application/json": {
        schema: {
          type: "object",
          title: "RestateSendResponse",
          properties: {
            invocationId: { type: "string" },
            status: { type: "string", enum: ["Accepted", "PreviouslyAccepted"] },
            executionTime: {
              type: "string",
              format: "date-time",
              description: "Time when the invocation will be executed, in case 'delay' is used",
            },
          },
          required: ["invocationId", "status"],
          additionalProperties: false,
        },
        example: { invocationId: "inv_1gdJBtdVEcM942bjcDmb1c1khoaJe11Hbz", status: "Accepted" },
      },
    },
  },
};

const RESTATE_ERROR_SCHEMA: Json = {
  type: "object",
  title: "RestateError",
  description:
    "Generic error used by Restate to propagate Terminal errors/exceptions back to callers",
  properties: {
    code: { type: "number", title: "error code" },
    message: { type: "string", title: "Error message" },
    source: {
      type: "string",
      title: "Error source",
      description:
        "Discriminates errors generated by the ingress from the terminal outcome of the invocation. 'ingress' errors carry a Restate-controlled HTTP status code following the usual HTTP semantics, while 'invocation' errors carry a user-controlled status code. Also available in the 'x-restate-error-source' response header.",
      enum: ["ingress", "invocation"],
    },
    stacktrace: { type: "string", title: "Stacktrace of the error" },
    metadata: {
      type: "object",
      title: "Additional metadata map",
      additionalProperties: { type: "string" },
    },
  },
  required: ["message", "source"],
  additionalProperties: false,
};
