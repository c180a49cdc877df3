/**
 * Raw HTTP/1.1 requests for fuzzing the admin API, built from its real surface: every route of
 * Restate's admin API and Keel's own (`/keel/*`), under the `/vN` prefixes too, with path parameters
 * taken from the running fixture (its deployment, services, handlers, invocations) or mutated
 * (unicode, percent-escapes valid and not, `..`, empty, very long), query strings, wrong methods,
 * wrong or missing content types, JSON bodies mutated from valid ones (wrong types, missing and extra
 * fields, huge numbers, deep nesting, huge strings, invalid UTF-8, truncation) and SQL mutated from
 * valid queries.
 *
 * The requests never destroy the fixture: no forced deletion of its deployment, no change to the
 * control service's options, no subscription that would start consuming, no log level that floods
 * the log.
 */

import type { Gen } from "./generate.js";
import { LOG_MODULES } from "../../src/platform/io/index.js";

/** What the generator aims at: the fixture as the server under test described it. */
export interface AdminFixture {
  readonly deploymentId: string;
  readonly endpointUrl: string;
  readonly adminUrl: string;
  readonly ingressUrl: string;
  /** A loopback port nothing listens on (a registration there fails at once). */
  readonly closedPort: number;
  readonly services: readonly { readonly name: string; readonly handlers: readonly string[] }[];
  /** The service the test calls to prove the endpoint still serves: its options stay as they are. */
  readonly controlService: string;
  /** Invocation ids the fixture made (some completed, some still running). */
  readonly invocationIds: readonly string[];
  /** Virtual object names whose state may be written. */
  readonly objectServices: readonly string[];
}

export interface AdminRequest {
  readonly bytes: Buffer;
  readonly method: string;
  /** The route template the request was built from (`PATCH /services/{service}`), for statistics. */
  readonly route: string;
  /** A short description for failure messages, the same whichever server ran the fixture. */
  readonly summary: string;
  /**
   * Not valid HTTP/1.1 (an unknown method, a raw non-ASCII byte in the target, a control character
   * in a header): the HTTP parser refuses it before the admin API sees it, with a bare 4xx.
   */
  readonly malformed: boolean;
}

type ParamKind =
  | "deployment"
  | "service"
  | "handler"
  | "invocation"
  | "subscription"
  | "cluster"
  | "module"
  | "metadata";

interface RouteSpec {
  readonly method: string;
  /** The path with `{kind}` parameters. */
  readonly path: string;
  readonly body?:
    | "deployment"
    | "deploymentPatch"
    | "service"
    | "state"
    | "subscription"
    | "cluster"
    | "clusterPatch"
    | "logLevel"
    | "query"
    | "batch";
}

/** Restate's admin routes (crates/admin/src/rest_api/mod.rs) and Keel's own. */
const ROUTES: readonly RouteSpec[] = [
  { method: "GET", path: "/health" },
  { method: "GET", path: "/version" },
  { method: "GET", path: "/cluster-health" },
  { method: "GET", path: "/openapi" },
  { method: "GET", path: "/deployments" },
  { method: "POST", path: "/deployments", body: "deployment" },
  { method: "GET", path: "/deployments/{deployment}" },
  { method: "PATCH", path: "/deployments/{deployment}", body: "deploymentPatch" },
  { method: "PUT", path: "/deployments/{deployment}", body: "deploymentPatch" },
  { method: "DELETE", path: "/deployments/{deployment}" },
  { method: "GET", path: "/services" },
  { method: "GET", path: "/services/{service}" },
  { method: "PATCH", path: "/services/{service}", body: "service" },
  { method: "GET", path: "/services/{service}/openapi" },
  { method: "GET", path: "/services/{service}/handlers" },
  { method: "GET", path: "/services/{service}/handlers/{handler}" },
  { method: "POST", path: "/services/{service}/state", body: "state" },
  { method: "PATCH", path: "/invocations/{invocation}/cancel" },
  { method: "PATCH", path: "/invocations/{invocation}/kill" },
  { method: "PATCH", path: "/invocations/{invocation}/purge" },
  { method: "PATCH", path: "/invocations/{invocation}/purge-journal" },
  { method: "PATCH", path: "/invocations/{invocation}/pause" },
  { method: "PATCH", path: "/invocations/{invocation}/resume" },
  { method: "PATCH", path: "/invocations/{invocation}/restart-as-new" },
  { method: "DELETE", path: "/invocations/{invocation}" },
  { method: "GET", path: "/subscriptions" },
  { method: "POST", path: "/subscriptions", body: "subscription" },
  { method: "GET", path: "/subscriptions/{subscription}" },
  { method: "DELETE", path: "/subscriptions/{subscription}" },
  { method: "GET", path: "/kafka-clusters" },
  { method: "POST", path: "/kafka-clusters", body: "cluster" },
  { method: "GET", path: "/kafka-clusters/{cluster}" },
  { method: "PATCH", path: "/kafka-clusters/{cluster}", body: "clusterPatch" },
  { method: "DELETE", path: "/kafka-clusters/{cluster}" },
  { method: "POST", path: "/query", body: "query" },
  { method: "POST", path: "/internal/invocations_batch_operations/kill", body: "batch" },
  { method: "POST", path: "/internal/invocations_batch_operations/purge", body: "batch" },
  { method: "GET", path: "/metadata/{metadata}" },
  { method: "GET", path: "/keel/status" },
  { method: "GET", path: "/keel/snapshots" },
  { method: "POST", path: "/keel/snapshots" },
  { method: "GET", path: "/keel/log-levels" },
  { method: "PUT", path: "/keel/log-levels/{module}", body: "logLevel" },
  { method: "DELETE", path: "/keel/log-levels/{module}" },
];

/** Valid SQL over Restate's introspection tables, the seeds of the mutated queries. */
const QUERIES = [
  "SELECT * FROM sys_invocation",
  "SELECT id, target, status FROM sys_invocation WHERE target_service_name = 'Greeter' ORDER BY created_at DESC LIMIT 10",
  "SELECT count(*) AS n FROM sys_invocation_status",
  "SELECT * FROM sys_service",
  "SELECT * FROM sys_deployment",
  "SELECT service_name, service_key, key, value_utf8 FROM state WHERE service_name = 'Counter'",
  "SELECT * FROM sys_journal LIMIT 5",
  "SELECT * FROM sys_keyed_service_status",
  "SELECT * FROM sys_inbox",
  "SELECT * FROM sys_idempotency",
  "SELECT * FROM sys_promise",
  "SELECT status, count(*) FROM sys_invocation GROUP BY status",
  "SELECT id FROM sys_invocation WHERE id IN (SELECT id FROM sys_invocation_state)",
];

const SQL_TOKENS = [
  "SELECT",
  "FROM",
  "WHERE",
  "(",
  ")",
  "'",
  '"',
  ";",
  "--",
  "/*",
  "NULL",
  "*",
  ",",
  "1e999",
  "99999999999999999999999999999",
  "-9223372036854775809",
  "'é中😀'",
  "\u0000",
  "sys_nope",
  "no_such_column",
  "CAST(id AS INT)",
  "ORDER BY 99",
  "LIMIT -1",
  "OFFSET 18446744073709551616",
  "UNION SELECT 1",
  "JOIN sys_service ON",
  "$1",
  "?",
  "::",
  "\\",
];

/** The node's log modules, and the level every other module takes. */
const MODULES = [...LOG_MODULES, "default"];
/** Levels that keep the log readable (debug would flood it, and the log is checked afterwards). */
const QUIET_LEVELS = ["info", "warn", "error"];

/** How many routes the generator knows: a seed's first requests go to each of them once. */
export const ROUTE_COUNT = ROUTES.length;

export class AdminRequestGen {
  /** Kafka clusters this run registered (names start with `fzc`, which no subscription names). */
  private readonly clusters: string[] = [];

  constructor(
    private readonly gen: Gen,
    private readonly fixture: AdminFixture,
  ) {}

  // ---- path parameters ----

  /** A mutation of any path segment: the ways a path can be wrong. */
  private mutatedSegment(base: string): string {
    const g = this.gen;
    return g.weighted<string>([
      [3, () => encodeURIComponent(g.text(16))],
      [2, () => g.pick(["..", ".", "", "%2e%2e", "%2F", "a%2Fb", "%00", "%20", "+", "~", "%7E"])],
      [
        2,
        () =>
          base +
          g.pick(["%", "%z", "%zz", "%G0", "%C3%28", "%FF", "%E0%A4", "%ED%A0%80", "%C0%AF"]),
      ],
      [2, () => g.pick(["%C3%A9", "%E4%B8%AD", "%F0%9F%98%80", "é", "中", "😀", "\u00ff"]) + base],
      [
        2,
        () => encodeURIComponent(base).replace(/[a-z]/, (c) => `%${c.charCodeAt(0).toString(16)}`),
      ],
      [1, () => base.slice(0, g.int(base.length + 1))],
      [1, () => base + base],
      [1, () => base.toUpperCase()],
      [1, () => "x".repeat(g.pick([300, 4000, 12_000]))],
      [1, () => `${base};x=1`],
    ]);
  }

  private randomId(prefix: string): string {
    const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let out = `${prefix}_1`;
    for (let i = 0; i < 22; i++) out += alphabet[this.gen.int(alphabet.length)];
    return out;
  }

  private service(): string {
    return this.gen.pick(this.fixture.services).name;
  }

  private param(kind: ParamKind, previous: readonly string[], spec: RouteSpec): string {
    const g = this.gen;
    const f = this.fixture;
    const real = (): string => {
      switch (kind) {
        case "deployment":
          return g.chance(0.6) ? f.deploymentId : this.randomId("dp");
        case "service": {
          // The control service keeps its options (however its name is spelled): the test calls it.
          if (spec.body !== "service") return this.service();
          const others = f.services.filter((s) => s.name !== f.controlService);
          return others.length > 0 ? g.pick(others).name : "Nope";
        }
        case "handler": {
          const service = f.services.find((s) => encodeURIComponent(s.name) === previous[0]);
          return service !== undefined && service.handlers.length > 0 && g.chance(0.7)
            ? g.pick(service.handlers)
            : g.pick(["greet", "echo", "add", "run", "nope"]);
        }
        case "invocation":
          return f.invocationIds.length > 0 && g.chance(0.7)
            ? g.pick(f.invocationIds)
            : g.pick([
                "inv_1",
                this.randomId("inv"),
                this.randomId("dp"),
                "inv_1" + "0".repeat(40),
              ]);
        case "subscription":
          return g.chance(0.7)
            ? this.randomId("sub")
            : g.pick(["sub_1", "sub", this.randomId("dp")]);
        case "cluster":
          return this.clusters.length > 0 && g.chance(0.5)
            ? g.pick(this.clusters)
            : g.pick(["fzc-a", "my-cluster", "a.b_c", "-x", "x".repeat(300)]);
        case "module":
          return g.pick(MODULES);
        case "metadata":
          return g.pick(["nodes_config", "schema", "x"]);
      }
    };
    const base = encodeURIComponent(real());
    return g.chance(0.7) ? base : this.mutatedSegment(base);
  }

  private path(spec: RouteSpec): string {
    const values: string[] = [];
    return spec.path.replace(/\{([a-z]+)\}/g, (_, kind: string) => {
      const value = this.param(kind as ParamKind, values, spec);
      values.push(value);
      return value;
    });
  }

  // ---- query strings ----

  private query(method: string, path: string): string {
    const g = this.gen;
    if (!g.chance(0.35)) return "";
    const value = (): string =>
      g.pick([
        "true",
        "false",
        "",
        "TRUE",
        "1",
        "yes",
        "%zz",
        "%FF",
        encodeURIComponent(g.text(8)),
      ]);
    const pairs: string[] = [];
    const count = 1 + g.int(3);
    for (let i = 0; i < count; i++) {
      pairs.push(
        g.weighted<string>([
          [3, () => `force=${value()}`],
          [
            2,
            () => `mode=${g.pick(["Cancel", "Kill", "Purge", "kill", "purge", "", "Nope", "%FF"])}`,
          ],
          [
            2,
            () =>
              `deployment=${g.pick(["Keep", "Latest", "latest", this.fixture.deploymentId, this.randomId("dp"), "dp_", "%C3%28", ""])}`,
          ],
          [2, () => `from=${g.pick(["0", "1", "-1", "99999999999999999999", "1.5", "", "x"])}`],
          [1, () => `partition=${g.pick(["0", "1", "999999", "-1", "1e3", "", "x"])}`],
          [1, () => `include_subscriptions=${value()}`],
          [1, () => `sink=${encodeURIComponent(`service://${this.service()}/add`)}`],
          [1, () => `source=${g.pick(["kafka%3A%2F%2Fc%2Ft", "%", ""])}`],
          [1, () => g.pick(["a=b&&=&c", "%zz=1", "=", "&", "force", "x=" + "y".repeat(3000)])],
        ]),
      );
    }
    let query = pairs.join("&");
    // A forced deletion of the fixture's own deployment would end the run: only of others.
    if (method.toUpperCase() === "DELETE" && path.startsWith("/deployments/")) {
      query = query.replace(/force=true/gi, "force=false");
      if (g.chance(0.2) && !safeDecode(path).includes(this.fixture.deploymentId.slice(5)))
        query = "force=true";
    }
    return "?" + query;
  }

  // ---- bodies ----

  private validBody(kind: NonNullable<RouteSpec["body"]>): unknown {
    const g = this.gen;
    const f = this.fixture;
    const uri = (): string =>
      g.pick([
        f.endpointUrl,
        `http://127.0.0.1:${f.closedPort}`,
        f.adminUrl,
        f.ingressUrl,
        "ftp://127.0.0.1/x",
        "not a uri",
        "/relative",
        "http://[::1",
      ]);
    switch (kind) {
      case "deployment":
        return {
          uri: uri(),
          ...(g.chance(0.3) ? { additional_headers: this.headers() } : {}),
          ...(g.chance(0.3) ? { force: g.chance(0.5) } : {}),
          ...(g.chance(0.3) ? { dry_run: g.chance(0.5) } : {}),
          ...(g.chance(0.2) ? { use_http_11: g.chance(0.5) } : {}),
          ...(g.chance(0.2) ? { breaking: g.chance(0.5) } : {}),
          ...(g.chance(0.1) ? { metadata: { k: "v" } } : {}),
        };
      case "deploymentPatch":
        return {
          ...(g.chance(0.5) ? { uri: uri() } : {}),
          ...(g.chance(0.3) ? { additional_headers: this.headers() } : {}),
          ...(g.chance(0.3) ? { overwrite: g.chance(0.5) } : {}),
          ...(g.chance(0.3) ? { dry_run: true } : {}),
        };
      case "service":
        return {
          ...(g.chance(0.4) ? { public: g.chance(0.5) } : {}),
          ...(g.chance(0.4)
            ? { idempotency_retention: g.pick(["1d", "PT1H", "5 hours", "0s", "1ms"]) }
            : {}),
          ...(g.chance(0.3) ? { journal_retention: g.pick(["1d", "PT1M", "0s"]) } : {}),
          ...(g.chance(0.3) ? { workflow_completion_retention: g.pick(["1d", "2h"]) } : {}),
          ...(g.chance(0.3) ? { inactivity_timeout: g.pick(["1m", "PT30S"]) } : {}),
          ...(g.chance(0.3) ? { abort_timeout: g.pick(["1m", "PT30S"]) } : {}),
        };
      case "state":
        return {
          object_key: g.pick(["fz1", "fz2", "", "é"]),
          ...(g.chance(0.2) ? { version: g.pick(["", "x", "0123"]) } : {}),
          new_state: g.pick<unknown>([{}, { count: [49] }, { a: "text", b: [0, 255] }]),
        };
      case "subscription":
        // The cluster is never one this run registered: a created subscription would start consuming.
        return {
          source: g.pick([
            "kafka://nosuch/topic",
            "kafka://c/t",
            "kafka:///t",
            "http://x/y",
            "kafka://nosuch/" + "t".repeat(300),
          ]),
          sink: `service://${this.service()}/${g.pick(["add", "greet", "nope", ""])}`,
          ...(g.chance(0.3) ? { options: { "auto.offset.reset": "earliest" } } : {}),
        };
      case "cluster": {
        const name = g.chance(0.7)
          ? `fzc-${g.int(5)}`
          : g.pick(["", "-", "a b", "x".repeat(300), "é"]);
        if (this.clusters.length < 10 && name.startsWith("fzc")) this.clusters.push(name);
        return {
          name,
          properties: g.pick<Record<string, string>>([
            { "bootstrap.servers": `127.0.0.1:${f.closedPort}` },
            { "metadata.broker.list": "localhost:1" },
            { "client.id": "x" },
            { "bootstrap.servers": "x", "sasl.password": "secret" },
          ]),
        };
      }
      case "clusterPatch":
        return { properties: { "bootstrap.servers": `127.0.0.1:${f.closedPort}` } };
      case "logLevel":
        return { level: g.pick(QUIET_LEVELS) };
      case "query":
        return { query: this.sql() };
      case "batch":
        return { invocation_ids: f.invocationIds.slice(0, g.int(3)) };
    }
  }

  /** Additional headers: mostly ones HTTP can carry, sometimes names and values it cannot. */
  private headers(): Record<string, string> {
    const g = this.gen;
    return g.weighted<Record<string, string>>([
      [4, () => ({ "x-fz": g.pick(["1", "a b", "é", ""]) })],
      [1, () => ({ "x-fz": g.text(8) })],
      [1, () => ({ [g.pick(["a b", "", "é", "x:y", "x\u0000"])]: "v" })],
      [1, () => ({ "x-fz": g.pick(["a\u0001b", "a\r\nx-injected: 1", "\u007f"]) })],
    ]);
  }

  private sql(): string {
    const g = this.gen;
    let sql = g.pick(QUERIES);
    const rounds = g.int(3);
    for (let i = 0; i < rounds; i++) {
      const tokens = sql.split(" ");
      sql = g.weighted<string>([
        [3, () => sql.slice(0, g.int(sql.length + 1))],
        [
          3,
          () => {
            tokens.splice(g.int(tokens.length + 1), 0, g.pick(SQL_TOKENS));
            return tokens.join(" ");
          },
        ],
        [
          2,
          () => {
            tokens.splice(g.int(tokens.length), 1);
            return tokens.join(" ");
          },
        ],
        [
          1,
          () =>
            sql.replace(
              /sys_\w+|state\b/,
              g.pick([
                "sys_nope",
                "information_schema.tables",
                "sys_invocation_status",
                "pg_catalog.pg_tables",
              ]),
            ),
        ],
        [
          1,
          () =>
            `${sql} WHERE ${"(".repeat(g.pick([50, 500, 5000]))}1${")".repeat(g.pick([50, 500, 5000]))}`,
        ],
        [1, () => `${sql} WHERE id = '${"x".repeat(g.pick([1000, 100_000]))}'`],
        [1, () => `${sql}; ${g.pick(QUERIES)}`],
        [
          1,
          () =>
            g.pick([
              "",
              " ",
              ";",
              "SELECT",
              "EXPLAIN " + sql,
              "SELECT 1/0",
              "SELECT 'é中😀'",
              "SELECT -9223372036854775808 - 1",
            ]),
        ],
      ]);
    }
    return sql;
  }

  /** A JSON value that breaks a field's expected type. */
  private wrongValue(): unknown {
    const g = this.gen;
    return g.weighted<unknown>([
      [
        3,
        () =>
          g.pick<unknown>([null, true, false, 0, -1, 1.5, "", "x", [], {}, [1, "a"], { a: {} }]),
      ],
      [1, () => g.pick([2 ** 53 + 2, -(2 ** 63), 1e308, Number.MIN_VALUE])],
      [1, () => g.text(40)],
      [1, () => "s".repeat(g.pick([10_000, 200_000]))],
      [1, () => nested(g.pick([20, 200]))],
    ]);
  }

  private mutateJson(value: unknown): unknown {
    const g = this.gen;
    if (typeof value !== "object" || value === null || Array.isArray(value))
      return this.wrongValue();
    const object = { ...(value as Record<string, unknown>) };
    const keys = Object.keys(object);
    const rounds = 1 + g.int(2);
    for (let i = 0; i < rounds; i++) {
      g.weighted<void>([
        [4, () => void (keys.length > 0 && (object[g.pick(keys)] = this.wrongValue()))],
        [2, () => void (keys.length > 0 && delete object[g.pick(keys)])],
        [
          2,
          () =>
            void (object[g.pick(["extra", "", "é", "__proto__", "constructor", g.text(6)])] =
              this.wrongValue()),
        ],
        [
          1,
          () => {
            const key = keys.length > 0 ? g.pick(keys) : "x";
            const inner = object[key];
            if (typeof inner === "object" && inner !== null && !Array.isArray(inner))
              object[key] = { ...inner, [g.text(5)]: this.wrongValue() };
            else object[key] = { nested: inner };
          },
        ],
      ]);
    }
    return object;
  }

  /** JSON text with a large number of a given kind written literally (JSON.stringify cannot). */
  private rawNumberBody(valid: unknown): string {
    const g = this.gen;
    const text = JSON.stringify(valid) ?? "{}";
    const number = g.pick([
      "1e999",
      "-1e999",
      "18446744073709551616",
      "123456789012345678901234567890",
      "-0",
      "0.0000000000000000000001",
    ]);
    const key = /"([a-z_]+)":/.exec(text)?.[1];
    return key === undefined
      ? `{"x":${number}}`
      : text.replace(new RegExp(`"${key}":("[^"]*"|[^,}]*)`), `"${key}":${number}`);
  }

  private body(spec: RouteSpec): Buffer {
    const g = this.gen;
    if (spec.body === undefined) {
      return g.chance(0.85) ? Buffer.alloc(0) : Buffer.from(JSON.stringify({ uri: "x" }));
    }
    const valid = this.validBody(spec.body);
    return g.weighted<Buffer>([
      [5, () => Buffer.from(JSON.stringify(valid))],
      [6, () => Buffer.from(JSON.stringify(this.mutateJson(valid)) ?? "null")],
      [1, () => Buffer.from(this.rawNumberBody(valid))],
      [
        1,
        () => {
          // A string holding bytes that are not UTF-8.
          const text = JSON.stringify(valid);
          const at = Math.max(1, text.indexOf('"', 2) + 1);
          const bad = Buffer.from(
            g.pick([[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xe0, 0xa4], [0x80]]),
          );
          return Buffer.concat([Buffer.from(text.slice(0, at)), bad, Buffer.from(text.slice(at))]);
        },
      ],
      [
        2,
        () => {
          const text = JSON.stringify(valid);
          return Buffer.from(text.slice(0, g.int(text.length)));
        },
      ],
      [
        1,
        () =>
          Buffer.from(
            g.pick([
              "",
              " ",
              "null",
              "[]",
              "1",
              '"x"',
              "{",
              "}",
              "{}",
              '{"a":1,"a":2}',
              "\ufeff{}",
              "{'uri': 'x'}",
              JSON.stringify(nested(100)),
              deeplyNested(g.pick([5000, 100_000])),
              `{"x":${"[".repeat(3000)}${"]".repeat(3000)}}`,
            ]),
          ),
      ],
      [1, () => Buffer.from(g.text(200))],
      [1, () => Buffer.from(g.bytes(100))],
    ]);
  }

  private contentType(spec: RouteSpec): string | undefined {
    const g = this.gen;
    return g.weighted<string | undefined>([
      [spec.body === undefined ? 2 : 12, () => "application/json"],
      [2, () => undefined],
      [
        1,
        () =>
          g.pick([
            "text/plain",
            "application/json; charset=utf-8",
            "application/json; charset=latin1",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "application/vnd.apache.arrow.stream",
            "",
            "*/*",
            "application/jsonx",
            g.text(20).replace(/[\r\n]/g, ""),
          ]),
      ],
    ]);
  }

  /** Requests made so far: the first of every seed go to each route once, in order. */
  private made = 0;

  next(): AdminRequest {
    const g = this.gen;
    const spec = this.made < ROUTES.length ? ROUTES[this.made]! : g.pick(ROUTES);
    this.made++;
    const method = g.weighted<string>([
      [14, () => spec.method],
      [3, () => g.pick(["GET", "POST", "PUT", "PATCH", "DELETE"])],
      [1, () => g.pick(["HEAD", "OPTIONS", "TRACE", "FOO", "get"])],
    ]);
    const path = this.path(spec);
    const query = this.query(method, path);
    const version = g.weighted<string>([
      [8, () => ""],
      [2, () => g.pick(["/v2", "/v3", "/v4"])],
      [1, () => g.pick(["/v1", "/v5", "/v0", "/v99999999999", "/v"])],
    ]);
    const target = version + path + query;
    const body = this.body(spec);
    const headers = ["host: admin", "connection: close"];
    const contentType = this.contentType(spec);
    if (contentType !== undefined) headers.push(`content-type: ${contentType}`);
    if (spec.body === "query" && g.chance(0.6)) headers.push("accept: application/json");
    else if (g.chance(0.1))
      headers.push(
        `accept: ${g.pick(["*/*", "text/html", "application/vnd.apache.arrow.stream"])}`,
      );
    let payload = body;
    if (g.chance(0.1)) {
      headers.push("transfer-encoding: chunked");
      const chunks: Buffer[] = [];
      const size = Math.max(1, Math.ceil(body.length / (1 + g.int(3))));
      for (let at = 0; at < body.length; at += size) {
        const chunk = body.subarray(at, at + size);
        chunks.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n"));
      }
      chunks.push(Buffer.from("0\r\n\r\n"));
      payload = Buffer.concat(chunks);
    } else {
      headers.push(`content-length: ${body.length}`);
    }
    const head = `${method} ${target} HTTP/1.1\r\n${headers.join("\r\n")}\r\n\r\n`;
    const f = this.fixture;
    const shown = (text: string): string =>
      text
        .replaceAll(f.deploymentId, "{deployment}")
        .replaceAll(f.endpointUrl, "{endpoint}")
        .replaceAll(f.adminUrl, "{admin}")
        .replaceAll(f.ingressUrl, "{ingress}")
        .replaceAll(String(f.closedPort), "{closed}")
        .replace(/inv_1[0-9A-Za-z]{20,}/g, "{invocation}");
    const bodyText = JSON.stringify(body.toString("utf8"));
    const malformed =
      !["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"].includes(method) ||
      /[^\x21-\x7e]/.test(target) ||
      /[\x00-\x08\x0a-\x1f\x7f]/.test(contentType ?? "");
    return {
      method,
      malformed,
      // Head in UTF-8: a raw é in a path reaches the server as its UTF-8 bytes.
      bytes: Buffer.concat([Buffer.from(head, "utf8"), payload]),
      route: `${spec.method} ${spec.path}`,
      summary: shown(
        `${method} ${target.length > 200 ? `${target.slice(0, 200)}… (${target.length})` : target} [${JSON.stringify(contentType ?? "no content type")}${payload === body ? "" : ", chunked"}] ${bodyText.length > 200 ? `${bodyText.slice(0, 200)}… (${body.length} bytes)` : bodyText}`,
      ),
    };
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** JSON nested deeper than JSON.stringify can write. */
function deeplyNested(depth: number): string {
  return `{"a":${"[".repeat(depth)}1${"]".repeat(depth)}}`;
}

function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { a: value };
  return value;
}
