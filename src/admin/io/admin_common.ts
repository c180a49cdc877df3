/**
 * What the admin API's route modules share: the error every handler throws for an expected failure
 * (rendered in Restate's shape, `{"message", "restate_code"}`), body and field parsing that turns bad
 * input into a 400 naming the field, and Restate's wording of common errors.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { parseDuration, InvocationId, resourceIdProblem } from "../../core/index.js";
import { kafkaClusterNameProblem as uriAuthorityProblem } from "../../schema/index.js";
import { readBody } from "../../platform/io/index.js";

export class AdminError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly restateCode: string | null = null,
    /** Rendered as a text/plain body, as Restate's HTTP layer answers malformed requests. */
    readonly plainText = false,
  ) {
    super(message);
  }
}

/** A body that is JSON but not the expected shape: Restate answers 422 in plain text. */
export function bodyError(reason: string): AdminError {
  return new AdminError(
    422,
    `Failed to deserialize the JSON body into the target type: ${reason}`,
    null,
    true,
  );
}

export function missingField(name: string): AdminError {
  return bodyError(`missing field \`${name}\``);
}

/** A malformed query string: Restate answers 400 in plain text. */
export function queryStringError(name: string, reason: string): AdminError {
  return new AdminError(400, `Failed to deserialize query string: ${name}: ${reason}`, null, true);
}

/** A `true`/`false` query parameter (undefined when absent), refused otherwise as Restate's. */
export function booleanQueryParameter(url: URL, name: string): boolean | undefined {
  const value = url.searchParams.get(name);
  if (value === null) return undefined;
  if (value === "true") return true;
  if (value === "false") return false;
  throw queryStringError(name, "provided string was not `true` or `false`");
}

/**
 * A query parameter Restate reads as a `u32` (undefined when absent), refused as it refuses one: a
 * number above 2^32 - 1 became a 500 when the partition encoded it.
 */
export function u32QueryParameter(url: URL, name: string): number | undefined {
  const value = url.searchParams.get(name);
  if (value === null) return undefined;
  if (value === "") throw queryStringError(name, "cannot parse integer from empty string");
  if (!/^\d+$/.test(value)) throw queryStringError(name, "invalid digit found in string");
  const number = Number(value);
  if (number > 0xffff_ffff) throw queryStringError(name, "number too large to fit in target type");
  return number;
}

/** Restate's `InvalidFieldError`. */
export function invalidField(field: string, reason: string): AdminError {
  return new AdminError(400, `The request field '${field}' is invalid. Reason: ${reason}`);
}

/** Restate's `InvalidQueryParameterError`. */
export function invalidQueryParameter(name: string, reason: string): AdminError {
  return new AdminError(400, `The query parameter '${name}' is invalid. Reason: ${reason}`);
}

export function serviceNotFound(name: string): AdminError {
  return new AdminError(404, `The requested service '${name}' does not exist`);
}

export function deploymentNotFound(id: string): AdminError {
  return new AdminError(404, `The requested deployment '${id}' does not exist`);
}

export function invocationNotFound(id: string): AdminError {
  return new AdminError(404, `The requested invocation '${id}' does not exist`);
}

export function parseInvocationId(text: string): InvocationId {
  const id = InvocationId.parse(text);
  if (id === undefined)
    throw invalidField("invocation_id", `'${text}' is not a valid invocation id`);
  return id;
}

/**
 * Checks the id in a path (`/deployments/{deployment}`): a malformed one is answered as Restate's
 * HTTP layer answers a path it cannot parse, 400 in plain text.
 */
export function parseResourceIdParam(param: string, text: string, prefix: string): string {
  const problem = resourceIdProblem(text, prefix);
  if (problem !== undefined)
    throw new AdminError(
      400,
      `Invalid URL: Cannot parse \`${param}\` with value \`${text}\`: ${problem}`,
      null,
      true,
    );
  return text;
}

/**
 * Whether a request says its body is JSON as Restate's JSON extractor requires: `application/json`
 * or `application/<anything>+json`, parameters allowed.
 */
export function hasJsonContentType(req: IncomingMessage): boolean {
  const essence = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  const subtype = /^application\/([^\s/]+)$/.exec(essence)?.[1];
  return subtype !== undefined && (subtype === "json" || subtype.endsWith("+json"));
}

/**
 * A JSON object body, as Restate's routes take one: 415 in plain text for another content type (before
 * the body is read), 413 above `limitBytes`, then `parseJsonBody`'s checks.
 */
export async function readJsonBody(
  req: IncomingMessage,
  limitBytes: number,
): Promise<Record<string, unknown>> {
  if (!hasJsonContentType(req)) {
    req.resume();
    throw new AdminError(415, "Expected request with `Content-Type: application/json`", null, true);
  }
  return parseJsonBody(await readBody(req, limitBytes));
}

/** Keeps a byte order mark, which JSON (and serde) refuse, rather than dropping it. */
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * A JSON object, parsed as Restate's serde parses one: bytes that are not UTF-8 are refused (decoding
 * them leniently once stored a state key with U+FFFD where the client sent something else).
 */
export function parseJsonBody(body: Buffer): Record<string, unknown> {
  const invalid = (reason: string): AdminError =>
    new AdminError(400, `Failed to parse the request body as JSON: ${reason}`, null, true);
  let text: string;
  try {
    text = STRICT_UTF8.decode(body);
  } catch {
    throw invalid("invalid unicode code point: the body is not UTF-8");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw invalid(error instanceof Error ? error.message : "invalid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw bodyError(`invalid type: ${describeJson(parsed)}, expected a JSON object`);
  return parsed as Record<string, unknown>;
}

/**
 * A number JSON.parse could only read as ±Infinity (`1e999`): serde refuses it while parsing, a 400,
 * where a value of the wrong type is a 422.
 */
export function numberOutOfRange(name: string): AdminError {
  return new AdminError(
    400,
    `Failed to parse the request body as JSON: ${name}: number out of range`,
    null,
    true,
  );
}

/**
 * A JSON value as serde names it in its errors (`integer \`1\``, `string "x"`, `map`); a number out
 * of range is refused as serde refuses it (`numberOutOfRange`).
 */
export function describeJson(value: unknown, name = "value"): string {
  if (typeof value === "number" && !Number.isFinite(value)) throw numberOutOfRange(name);
  if (value === null) return "null";
  if (Array.isArray(value)) return "sequence";
  switch (typeof value) {
    case "string":
      return `string ${JSON.stringify(value)}`;
    case "number":
      return Number.isInteger(value) ? `integer \`${value}\`` : `floating point \`${value}\``;
    case "boolean":
      return `boolean \`${value}\``;
    default:
      return "map";
  }
}

export function booleanField(value: unknown, name: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean")
    throw bodyError(`${name}: invalid type: ${describeJson(value, name)}, expected a boolean`);
  return value;
}

export function stringField(value: unknown, name: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string")
    throw bodyError(`${name}: invalid type: ${describeJson(value, name)}, expected a string`);
  return value;
}

export function stringMap(value: unknown, name: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (
    typeof value !== "object" ||
    Array.isArray(value) ||
    !Object.values(value).every((v) => typeof v === "string")
  ) {
    throw bodyError(`${name}: expected a map of strings`);
  }
  return value as Record<string, string>;
}

/** An HTTP header name: a token (RFC 9110). */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What an HTTP header value may hold, as the `http` crate checks it: no control character but tab. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\uffff]*$/;

/**
 * A deployment's `additional_headers`: a map of header names to values that HTTP can carry. Restate
 * reads it as a `HeaderMap` inside an untagged body, so a bad one fails the whole body (422 naming
 * only `bodyType`); Keel took any string and stored it (or failed discovery with a 500).
 */
export function headerMap(value: unknown, bodyType: string): Record<string, string> | undefined {
  const headers = stringMap(value, "additional_headers");
  if (headers === undefined) return undefined;
  for (const [name, text] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name) || !HEADER_VALUE.test(text))
      throw bodyError(`data did not match any variant of untagged enum ${bodyType}`);
  }
  return headers;
}

/** A duration in Restate's friendly (`2m`, `1 day`) or ISO 8601 (`PT2M`) form, in milliseconds. */
export function durationField(value: unknown, name: string): number | undefined {
  const text = stringField(value, name);
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined) {
    throw bodyError(
      `${name}: '${text}' is neither a friendly duration (for example "5 hours") nor ISO 8601 ("PT5H")`,
    );
  }
  return ms;
}

export function noContent(res: ServerResponse, status: number): void {
  res.writeHead(status, { "content-length": "0" });
  res.end();
}

/** The parts of a URI that the admin API uses, as the `http` crate splits them. */
export interface HttpUri {
  readonly scheme: string | undefined;
  readonly authority: string;
  readonly path: string;
  /** How Restate prints the URI in its messages. */
  readonly display: string;
}

/** Characters a URI may hold (RFC 3986's unreserved, reserved and `%`). */
const URI_CHARACTERS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/?#[\]%]*$/;
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*$/;

/**
 * Splits a URI as `http::Uri` does, or names why it is not one in that crate's words (Restate's
 * bodies hold URIs of that type: subscriptions' source and sink, a deployment's address).
 */
export function parseHttpUri(text: string): HttpUri | string {
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
  const authorityProblem = uriAuthorityProblem(authority);
  if (authorityProblem !== undefined) return authorityProblem;
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
