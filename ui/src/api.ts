// The admin API, as the `restate` CLI and `keel` call it: the page is served by the admin API, so
// every path is relative to its origin. No route exists for the UI alone.

const TOKEN_KEY = "keel.adminToken";
const INGRESS_KEY = "keel.ingressUrl";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function adminToken(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

export function setAdminToken(token: string): void {
  if (token === "") sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const token = adminToken();
  return token === "" ? extra : { ...extra, authorization: `Bearer ${token}` };
}

async function failure(res: Response, what: string): Promise<ApiError> {
  const text = await res.text();
  let message = text;
  try {
    const body = JSON.parse(text) as { message?: string };
    if (typeof body.message === "string") message = body.message;
  } catch {
    // not JSON: the text itself
  }
  if (message === "") message = res.statusText || "no message";
  if (res.status === 401) message += " (set the admin token in the menu)";
  return new ApiError(res.status, `${what} failed with HTTP ${res.status}: ${message}`);
}

export async function admin<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = {
    method,
    headers: headers(body === undefined ? {} : { "content-type": "application/json" }),
  };
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await fetch(path, init);
  if (!res.ok) throw await failure(res, `${method} ${path}`);
  const text = await res.text();
  return (text === "" ? undefined : JSON.parse(text)) as T;
}

export type Row = Record<string, unknown>;

export interface QueryResult {
  readonly rows: Row[];
  readonly columns: string[];
}

/** `POST /query` answered as JSON rows (what `restate sql` and `keel sql` send). */
export async function sql(query: string): Promise<QueryResult> {
  const res = await fetch("/query", {
    method: "POST",
    headers: headers({ "content-type": "application/json", accept: "application/json" }),
    body: JSON.stringify({ query }),
  });
  if (!res.ok) throw await failure(res, "query");
  const body = (await res.json()) as { rows: Row[] };
  const columns: string[] = [];
  for (const row of body.rows)
    for (const key of Object.keys(row)) if (!columns.includes(key)) columns.push(key);
  return { rows: body.rows, columns };
}

/** A SQL string literal. */
export function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

export interface Version {
  version: string;
  ingress_endpoint?: string;
  keel_version?: string;
}

export function version(): Promise<Version> {
  return admin<Version>("GET", "/version");
}

/** The ingress the page invokes handlers through: the one `/version` names, unless set here. */
export async function ingressUrl(): Promise<string> {
  const chosen = localStorage.getItem(INGRESS_KEY);
  if (chosen !== null && chosen !== "") return chosen.replace(/\/$/, "");
  const advertised = (await version()).ingress_endpoint ?? "";
  return rewriteWildcardHost(advertised.replace(/\/$/, ""));
}

export function setIngressUrl(url: string): void {
  if (url === "") localStorage.removeItem(INGRESS_KEY);
  else localStorage.setItem(INGRESS_KEY, url);
}

/** A node bound to every interface advertises 0.0.0.0: the browser reaches it where it reached us. */
function rewriteWildcardHost(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.hostname === "0.0.0.0" || parsed.hostname === "[::]") {
      parsed.hostname = location.hostname;
      return parsed.toString().replace(/\/$/, "");
    }
  } catch {
    return url;
  }
  return url;
}

export interface IngressAnswer {
  readonly status: number;
  readonly body: string;
  readonly invocationId: string | null;
}

export async function invoke(
  target: string,
  body: string,
  oneWay: boolean,
  idempotencyKey: string,
): Promise<IngressAnswer> {
  const base = await ingressUrl();
  const init: RequestInit = {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(idempotencyKey === "" ? {} : { "idempotency-key": idempotencyKey }),
    },
  };
  if (body.trim() !== "") init.body = body;
  const res = await fetch(`${base}/${target}${oneWay ? "/send" : ""}`, init);
  const text = await res.text();
  return {
    status: res.status,
    body: text,
    invocationId: res.headers.get("x-restate-id"),
  };
}

// ---- shapes of the admin API's answers (the fields the pages read) ----

export interface Handler {
  name: string;
  ty?: string | null;
  input_description?: string;
  output_description?: string;
  input_json_schema?: unknown;
  output_json_schema?: unknown;
  documentation?: string | null;
  public?: boolean;
  idempotency_retention?: string | null;
  journal_retention?: string | null;
  inactivity_timeout?: string | null;
  abort_timeout?: string | null;
  retry_policy?: Record<string, unknown> | null;
}

export interface Service {
  name: string;
  ty: string;
  revision: number;
  public: boolean;
  deployment_id: string;
  handlers: Handler[];
  documentation?: string | null;
  idempotency_retention?: string | null;
  workflow_completion_retention?: string | null;
  journal_retention?: string | null;
  inactivity_timeout?: string | null;
  abort_timeout?: string | null;
  retry_policy?: Record<string, unknown> | null;
}

export interface Deployment {
  id: string;
  uri?: string;
  arn?: string;
  created_at?: string;
  services: { name: string; revision: number }[];
  min_protocol_version?: number;
  max_protocol_version?: number;
}

/** `GET /keel/status`, what `keel status` prints (the admin API's own type). */
export type {
  ClusterStatusJson as ClusterStatus,
  NodeStatusJson as NodeStatus,
  PartitionStatusJson as PartitionStatus,
} from "../../src/admin/status.js";
import type { NodeStatusJson as NodeStatus } from "../../src/admin/status.js";

export function nodeStatus(): Promise<NodeStatus> {
  return admin<NodeStatus>("GET", "/keel/status");
}

export async function services(): Promise<Service[]> {
  return (await admin<{ services: Service[] }>("GET", "/services")).services;
}

export async function deployments(): Promise<Deployment[]> {
  return (await admin<{ deployments: Deployment[] }>("GET", "/deployments")).deployments;
}

export type InvocationAction = "cancel" | "kill" | "pause" | "resume" | "restart-as-new" | "purge";

export function act(id: string, action: InvocationAction): Promise<unknown> {
  return admin("PATCH", `/invocations/${encodeURIComponent(id)}/${action}`);
}
