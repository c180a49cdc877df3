/**
 * The `keel` operator CLI's commands: each talks to a node's admin API and prints a human table by
 * default or JSON with `--json`. Kept apart from `bin/keel.ts` (argument parsing, exit codes) so that
 * the commands and the table rendering can be tested without a process.
 *
 * Failures are `CliError`s with a message that says what failed and what to do, and an exit code:
 * 1 the server refused or failed the request, 2 bad usage, 3 the server cannot be reached.
 */

import { describeError } from "../../core/index.js";
import type { ClusterStatusJson, NodeStatusJson } from "../../admin/index.js";

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export const EXIT_SERVER_ERROR = 1;
export const EXIT_USAGE = 2;
export const EXIT_UNREACHABLE = 3;

export interface CliContext {
  readonly admin: string;
  readonly json: boolean;
  readonly timeoutMs: number;
  /** A bearer token for an admin API that requires one. */
  readonly token?: string;
  readonly out: (text: string) => void;
  /** Progress for humans (stderr on a terminal); a no-op otherwise. */
  readonly progress: (text: string | undefined) => void;
}

// ---- rendering ----

/** A plain text table: headers, then rows, columns padded to their widest cell. */
export function renderTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

/** Cell text for a JSON value of a query row. */
function cell(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

/** Query rows as a table; columns in order of first appearance (NULL columns are absent). */
export function rowsTable(rows: readonly Record<string, unknown>[]): string {
  const columns: string[] = [];
  for (const row of rows)
    for (const key of Object.keys(row)) if (!columns.includes(key)) columns.push(key);
  return renderTable(
    columns.map((c) => c.toUpperCase()),
    rows.map((row) => columns.map((c) => cell(row[c]))),
  );
}

// ---- the admin API ----

async function request(
  ctx: CliContext,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const url = `${ctx.admin.replace(/\/$/, "")}${path}`;
  const started = Date.now();
  const ticker = setInterval(() => {
    ctx.progress(`waiting for ${method} ${url} (${Math.round((Date.now() - started) / 1000)}s)`);
  }, 1000);
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: {
        accept: "application/json",
        "content-type": "application/json",
        ...(ctx.token === undefined ? {} : { authorization: `Bearer ${ctx.token}` }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(ctx.timeoutMs),
    });
  } catch (error) {
    const reason =
      error instanceof Error && error.cause !== undefined
        ? describeError(error.cause)
        : describeError(error);
    const timedOut = error instanceof Error && error.name === "TimeoutError";
    throw new CliError(
      timedOut
        ? `the admin API at ${ctx.admin} did not answer ${method} ${path} within ${ctx.timeoutMs} ms`
        : `cannot reach the admin API at ${ctx.admin} (${reason}). Is keel-server running? Point --admin (or KEEL_ADMIN_URL) at its admin port.`,
      EXIT_UNREACHABLE,
    );
  } finally {
    clearInterval(ticker);
    ctx.progress(undefined);
  }
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text === "" ? undefined : JSON.parse(text);
  } catch {
    parsed = text;
  }
  if (!res.ok) {
    const message =
      typeof parsed === "object" && parsed !== null && "message" in parsed
        ? String(parsed.message)
        : text;
    throw new CliError(
      `${method} ${path} failed with HTTP ${res.status}: ${message}`,
      EXIT_SERVER_ERROR,
    );
  }
  return parsed;
}

async function queryRows(ctx: CliContext, sql: string): Promise<Record<string, unknown>[]> {
  const answer = (await request(ctx, "POST", "/query", { query: sql })) as {
    rows?: Record<string, unknown>[];
  };
  return answer.rows ?? [];
}

// ---- commands ----

/** The cluster's tables: nodes, partitions with their replicas, logs, metadata members. */
function renderCluster(cluster: ClusterStatusJson): string {
  const nodes = renderTable(
    ["NODE", "ID", "ADDRESS", "LOCATION", "ROLES", "ALIVE"],
    cluster.nodes.map((n) => [
      n.name,
      n.node_id,
      n.address,
      n.location === "" ? "-" : n.location,
      n.roles.join(","),
      n.alive ? "yes" : "NO",
    ]),
  );
  const partitions = renderTable(
    ["PARTITION", "LEADER", "REPLICAS (ROLE EPOCH APPLIED LSN)"],
    cluster.partitions.map((p) => [
      String(p.id),
      p.leader ?? "-",
      p.replicas
        .map((r) =>
          r.role === null
            ? `${r.node} (no answer)`
            : `${r.node} (${r.role} ${r.epoch ?? "-"} ${r.applied_lsn ?? "-"})`,
        )
        .join(", "),
    ]),
  );
  const logs = renderTable(
    ["LOG", "SEGMENT", "BASE LSN", "PROVIDER", "SEQUENCER", "NODESET", "REPLICATION", "SEALED"],
    cluster.logs.flatMap((l) =>
      l.segments.map((s) => [
        String(l.log_id),
        String(s.index),
        String(s.base_lsn),
        s.provider,
        s.sequencer ?? "-",
        s.nodeset?.join(",") ?? "-",
        s.replication ?? "-",
        s.sealed ? "yes" : "no",
      ]),
    ),
  );
  const members = renderTable(
    ["METADATA MEMBER", "ROLE", "TERM", "LEADER", "COMMIT INDEX"],
    cluster.metadata_members.map((m) => [
      m.node,
      m.problem === null ? m.role : `no answer: ${m.problem}`,
      String(m.term),
      m.leader ?? "-",
      String(m.commit_index),
    ]),
  );
  return `\nCluster nodes\n${nodes}\nPartitions\n${partitions}\nLogs\n${logs}\nMetadata\n${members}`;
}

export async function statusCommand(ctx: CliContext): Promise<void> {
  const status = (await request(ctx, "GET", "/keel/status")) as NodeStatusJson;
  if (ctx.json) return ctx.out(JSON.stringify(status, null, 2));
  const leaders = status.partitions.filter((p) => p.role === "leader").length;
  ctx.out(
    `Node ${status.node}${typeof status.node_id === "string" ? ` ${status.node_id}` : ""} (cluster ${status.cluster_name}, Keel ${status.keel_version}): ${status.ready ? "ready" : "NOT READY"}, ${leaders}/${status.partitions.length} partitions led here, ${status.running_attempts} attempts running\n`,
  );
  if (typeof status.storage_problem === "string")
    ctx.out(`Cannot write to its disk: ${status.storage_problem}\n`);
  if (typeof status.snapshot_problem === "string")
    ctx.out(`Snapshots fail: ${status.snapshot_problem}\n`);
  ctx.out(
    renderTable(
      [
        ...["PARTITION", "ROLE", "LEADER", "EPOCH", "APPLIED LSN", "LOG TAIL", "LAG", "TRIM POINT"],
        "SNAPSHOT LSN",
      ],
      status.partitions.map((p) => [
        String(p.id),
        p.role,
        p.leader ?? "-",
        String(p.epoch),
        String(p.applied_lsn),
        p.log_tail === null ? "?" : String(p.log_tail),
        p.log_tail === null ? "?" : String(Math.max(0, p.log_tail - 1 - p.applied_lsn)),
        p.trim_point === null ? "?" : String(p.trim_point),
        p.snapshot_lsn === null || p.snapshot_lsn === undefined ? "-" : String(p.snapshot_lsn),
      ]),
    ),
  );
  const subscriptions = status.subscriptions ?? [];
  if (subscriptions.length > 0) {
    ctx.out(
      `\nKafka subscriptions consumed here\n${renderTable(
        ["SUBSCRIPTION", "STATE", "TOPIC", "PARTITION", "NEXT OFFSET", "HIGH WATERMARK", "LAG"],
        subscriptions.flatMap((s) =>
          s.partitions.length === 0
            ? [[s.id, s.problem ?? s.state, "-", "-", "-", "-", "-"]]
            : s.partitions.map((p) => [
                s.id,
                s.problem ?? s.state,
                p.topic,
                String(p.partition),
                p.next_offset === null ? "?" : String(p.next_offset),
                String(p.high_watermark),
                String(p.lag),
              ]),
        ),
      )}`,
    );
  }
  if (status.cluster !== undefined) ctx.out(renderCluster(status.cluster));
}

interface SnapshotManifestView {
  readonly snapshotId: string;
  readonly partitionId: number;
  readonly appliedLsn: number;
  readonly createdAtMs: number;
  readonly entries: number;
  readonly bytes: number;
}

const snapshotRow = (m: SnapshotManifestView, now: number): string[] => [
  String(m.partitionId),
  m.snapshotId,
  String(m.appliedLsn),
  `${Math.max(0, Math.round((now - m.createdAtMs) / 1000))}s`,
  String(m.entries),
  String(m.bytes),
];
const SNAPSHOT_COLUMNS = ["PARTITION", "SNAPSHOT", "LSN", "AGE", "ENTRIES", "BYTES"];

/** `keel snapshot list`: the snapshots kept of each partition and the logs' trim points. */
export async function snapshotListCommand(ctx: CliContext): Promise<void> {
  const listing = (await request(ctx, "GET", "/keel/snapshots")) as {
    destination: string | null;
    partitions: { id: number; trim_point: number | null; snapshots: SnapshotManifestView[] }[];
  };
  if (ctx.json) return ctx.out(JSON.stringify(listing, null, 2));
  if (listing.destination === null) return ctx.out("This node takes no snapshots.");
  ctx.out(`Snapshots in ${listing.destination}\n`);
  const now = Date.now();
  ctx.out(
    renderTable(
      [...SNAPSHOT_COLUMNS, "LOG TRIMMED THROUGH"],
      listing.partitions.flatMap((p) =>
        p.snapshots.length === 0
          ? [[String(p.id), "-", "-", "-", "-", "-", String(p.trim_point ?? "?")]]
          : p.snapshots.map((m) => [...snapshotRow(m, now), String(p.trim_point ?? "?")]),
      ),
    ),
  );
}

/** `keel snapshot create [--partition N]`: snapshots now, and the logs trimmed below them. */
export async function snapshotCreateCommand(
  ctx: CliContext,
  partition: number | undefined,
): Promise<void> {
  const query = partition === undefined ? "" : `?partition=${partition}`;
  const taken = (await request(ctx, "POST", `/keel/snapshots${query}`)) as {
    snapshots: SnapshotManifestView[];
  };
  if (ctx.json) return ctx.out(JSON.stringify(taken, null, 2));
  const now = Date.now();
  ctx.out(
    renderTable(
      SNAPSHOT_COLUMNS,
      taken.snapshots.map((m) => snapshotRow(m, now)),
    ),
  );
}

export interface InvocationFilter {
  readonly status: string | undefined;
  readonly target: string | undefined;
  readonly all: boolean;
  readonly limit: number;
}

const quote = (text: string): string => `'${text.replace(/'/g, "''")}'`;

export async function invocationsCommand(ctx: CliContext, filter: InvocationFilter): Promise<void> {
  const where: string[] = [];
  if (filter.status !== undefined) where.push(`status = ${quote(filter.status)}`);
  else if (!filter.all) where.push("status != 'completed'");
  if (filter.target !== undefined)
    where.push(`(target = ${quote(filter.target)} OR target LIKE ${quote(`${filter.target}/%`)})`);
  const rows = await queryRows(
    ctx,
    `SELECT id, target, status, created_at, modified_at, retry_count, last_failure, completion_failure FROM sys_invocation${where.length > 0 ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at DESC, id LIMIT ${filter.limit}`,
  );
  if (ctx.json) return ctx.out(JSON.stringify(rows, null, 2));
  if (rows.length === 0) return ctx.out("No invocations match.");
  ctx.out(
    renderTable(
      ["ID", "TARGET", "STATUS", "CREATED AT", "MODIFIED AT", "RETRIES", "LAST ERROR"],
      rows.map((r) => [
        cell(r["id"]),
        cell(r["target"]),
        cell(r["status"]),
        cell(r["created_at"]),
        cell(r["modified_at"]),
        cell(r["retry_count"]),
        firstLine(cell(r["last_failure"] ?? r["completion_failure"])),
      ]),
    ),
  );
  ctx.out(
    `\n${rows.length} invocation(s)${rows.length === filter.limit ? ` (limit ${filter.limit})` : ""}`,
  );
}

const firstLine = (text: string): string => text.split("\n")[0] ?? "";

export async function sqlCommand(ctx: CliContext, sql: string): Promise<void> {
  const started = Date.now();
  const rows = await queryRows(ctx, sql);
  if (ctx.json) return ctx.out(JSON.stringify(rows, null, 2));
  if (rows.length > 0) ctx.out(rowsTable(rows));
  ctx.out(`\n${rows.length} row(s) in ${Date.now() - started} ms`);
}

export interface RegisterOptions {
  readonly uri: string;
  readonly force: boolean;
  readonly dryRun: boolean;
  readonly useHttp11: boolean;
}

interface RegisterAnswer {
  id: string;
  services: { name: string; ty: string; revision: number; handlers: { name: string }[] }[];
}

export async function registerCommand(ctx: CliContext, options: RegisterOptions): Promise<void> {
  const answer = (await request(ctx, "POST", "/deployments", {
    uri: options.uri,
    force: options.force,
    dry_run: options.dryRun,
    use_http_11: options.useHttp11,
  })) as RegisterAnswer;
  if (ctx.json) return ctx.out(JSON.stringify(answer, null, 2));
  ctx.out(
    `${options.dryRun ? "Would register" : "Registered"} deployment ${answer.id} at ${options.uri}\n`,
  );
  ctx.out(
    renderTable(
      ["SERVICE", "TYPE", "REVISION", "HANDLERS"],
      answer.services.map((s) => [
        s.name,
        s.ty,
        String(s.revision),
        s.handlers.map((h) => h.name).join(", "),
      ]),
    ),
  );
}
