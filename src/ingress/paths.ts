/**
 * Request targets of the HTTP ingress, read the way Restate's ingress reads them (hyper, the `http`
 * crate and tower-http's path normalization in front of its own path parsing), so that every target
 * reaches the same handler, or the same refusal, on both servers:
 *
 * - the path is taken as sent: dot segments (`/../x`) are names, never resolved; slashes are trimmed
 *   at both ends only when the path ends with one or starts with two;
 * - it must hold 2 to 7 slashes, else `400 bad path: <path>`;
 * - segments are split on `/` and kept raw (service, handler, invocation id, idempotency key); only
 *   object and workflow keys are percent-decoded, where a `%` not followed by two hex digits stays
 *   as it is and bytes that are not UTF-8 are refused;
 * - a target longer than 65,534 bytes is refused with 414 before anything else (the `http` crate's
 *   limit on a URI), and so is any HTTP version but 1.0 and 1.1 (400), both without a body.
 */

import { IngressError } from "./errors.js";

export interface IngressTarget {
  /** The path after Restate's normalization (what error messages and the ingress-path header show). */
  readonly path: string;
  /** The raw query after `?`, if any. */
  readonly query: string | undefined;
  /** The path's segments after its leading slash, raw. */
  readonly segments: readonly string[];
}

/** Splits a request target (origin form, absolute form or `*`) into Restate's path and segments. */
export function parseIngressTarget(target: string): IngressTarget {
  const withoutFragment = target.split("#", 1)[0]!;
  const queryAt = withoutFragment.indexOf("?");
  const pathAndAuthority = queryAt < 0 ? withoutFragment : withoutFragment.slice(0, queryAt);
  const query = queryAt < 0 ? undefined : withoutFragment.slice(queryAt + 1);
  const path = normalizePath(pathOf(pathAndAuthority));
  let slashes = 0;
  for (const c of path) if (c === "/") slashes++;
  if (slashes < 2 || slashes > 7) throw new IngressError(400, `bad path: ${path}`);
  return { path, query, segments: path.split("/").slice(1) };
}

/** The path of an origin-form (`/a/b`), absolute-form (`http://host/a/b`) or other target. */
function pathOf(target: string): string {
  if (target.startsWith("/") || target === "*") return target;
  const absolute = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/]*/.exec(target);
  if (absolute === null) return "";
  const rest = target.slice(absolute[0].length);
  return rest === "" ? "/" : rest;
}

/** tower-http's `NormalizePath::trim_trailing_slash`, which Restate's ingress runs first. */
function normalizePath(path: string): string {
  if (!path.endsWith("/") && !path.startsWith("//")) return path;
  return `/${path.replace(/^\/+|\/+$/g, "")}`;
}

/**
 * An object or workflow key from its path segment: `%XX` becomes the byte XX, anything else stays
 * as it is (also a `%` without two hex digits after it), and the bytes must be UTF-8.
 */
export function decodeKeySegment(segment: string): string {
  if (!segment.includes("%")) return segment;
  const bytes: number[] = [];
  const encoder = new TextEncoder();
  for (let i = 0; i < segment.length; i++) {
    const hex = segment.slice(i + 1, i + 3);
    if (segment[i] === "%" && /^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
      continue;
    }
    const code = segment.codePointAt(i)!;
    const char = String.fromCodePoint(code);
    bytes.push(...encoder.encode(char));
    i += char.length - 1;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(bytes));
  } catch {
    throw new IngressError(
      400,
      `bad path, cannot decode key: the bytes [${bytes.join(", ")}] are not UTF-8`,
    );
  }
}

/** The first `name` parameter of a query, matched without regard to case, as Restate's ingress does. */
export function queryParam(query: string | undefined, name: string): string | undefined {
  if (query === undefined) return undefined;
  for (const [key, value] of new URLSearchParams(query))
    if (key.toLowerCase() === name) return value;
  return undefined;
}
