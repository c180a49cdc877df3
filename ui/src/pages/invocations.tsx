import { useEffect, useState } from "preact/hooks";
import { act, literal, sql, type InvocationAction } from "../api.js";
import { Badge, Empty, ErrorBox, Notice, formatTime, useLoad, show } from "../components.js";
import { href, navigate } from "../router.js";

const PAGE_SIZE = 25;
const STATUSES = [
  "pending",
  "scheduled",
  "ready",
  "running",
  "backing-off",
  "suspended",
  "paused",
  "completed",
];
const FILTERS = ["status", "service", "handler", "key", "id", "since", "until"] as const;
type Filter = (typeof FILTERS)[number];

/** The WHERE clause of the filters, as `restate invocations list` builds its own. */
function where(filters: Record<Filter, string>): string {
  const terms: string[] = [];
  if (filters.status !== "") terms.push(`status = ${literal(filters.status)}`);
  if (filters.service !== "") terms.push(`target_service_name = ${literal(filters.service)}`);
  if (filters.handler !== "") terms.push(`target_handler_name = ${literal(filters.handler)}`);
  if (filters.key !== "") terms.push(`target_service_key = ${literal(filters.key)}`);
  if (filters.id !== "") terms.push(`id = ${literal(filters.id)}`);
  if (filters.since !== "") terms.push(`created_at >= ${literal(toIso(filters.since))}`);
  if (filters.until !== "") terms.push(`created_at <= ${literal(toIso(filters.until))}`);
  return terms.length === 0 ? "" : ` WHERE ${terms.join(" AND ")}`;
}

/** A `datetime-local` value is the browser's local time; SQL compares in UTC. */
function toIso(local: string): string {
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? local : date.toISOString();
}

export function InvocationsPage({ query }: { query: URLSearchParams }) {
  const filters = Object.fromEntries(FILTERS.map((f) => [f, query.get(f) ?? ""])) as Record<
    Filter,
    string
  >;
  const page = Math.max(0, Number(query.get("page") ?? "0") || 0);
  const [draft, setDraft] = useState(filters);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [bulkError, setBulkError] = useState<string | undefined>(undefined);
  const [bulkNote, setBulkNote] = useState<string | undefined>(undefined);
  const key = query.toString();
  // Back and forward change the URL: the form shows its filters again.
  useEffect(() => setDraft(filters), [key]);
  const rows = useLoad(
    () =>
      sql(
        `SELECT id, target, status, created_at, modified_at, retry_count, last_failure, invoked_by_id ` +
          `FROM sys_invocation${where(filters)} ORDER BY created_at DESC, id ` +
          `LIMIT ${PAGE_SIZE + 1} OFFSET ${page * PAGE_SIZE}`,
      ),
    [key],
    5000,
  );
  const list = rows.data?.rows.slice(0, PAGE_SIZE) ?? [];
  const hasNext = (rows.data?.rows.length ?? 0) > PAGE_SIZE;
  const go = (next: Record<string, string>, replace = false) =>
    navigate(href("/invocations", next), replace);

  const bulk = async (action: InvocationAction) => {
    setBulkError(undefined);
    setBulkNote(undefined);
    const ids = [...selected];
    const results = await Promise.allSettled(ids.map((id) => act(id, action)));
    const failed = results.flatMap((r, i) =>
      r.status === "rejected" ? [`${ids[i]}: ${(r.reason as Error).message}`] : [],
    );
    setBulkNote(`${action}: ${ids.length - failed.length} of ${ids.length} accepted`);
    if (failed.length > 0) setBulkError(failed.join("\n"));
    setSelected(new Set());
    rows.reload();
  };

  return (
    <>
      <h1 tabIndex={-1}>Invocations</h1>
      <form
        class="filters"
        aria-label="Filters"
        onSubmit={(e) => {
          e.preventDefault();
          go({ ...draft });
        }}
      >
        <label>
          Status
          <select
            name="status"
            value={draft.status}
            onChange={(e) => {
              const next = { ...draft, status: e.currentTarget.value };
              setDraft(next);
              go(next);
            }}
          >
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        {(["service", "handler", "key", "id"] as const).map((f) => (
          <label key={f}>
            {f[0]!.toUpperCase() + f.slice(1)}
            <input
              name={f}
              value={draft[f]}
              onInput={(e) => setDraft({ ...draft, [f]: e.currentTarget.value })}
            />
          </label>
        ))}
        <label>
          Created since
          <input
            name="since"
            type="datetime-local"
            step="1"
            value={draft.since}
            onInput={(e) => setDraft({ ...draft, since: e.currentTarget.value })}
          />
        </label>
        <label>
          until
          <input
            name="until"
            type="datetime-local"
            step="1"
            value={draft.until}
            onInput={(e) => setDraft({ ...draft, until: e.currentTarget.value })}
          />
        </label>
        <button type="submit">Filter</button>
        <button
          type="button"
          class="secondary"
          onClick={() => {
            const cleared = Object.fromEntries(FILTERS.map((f) => [f, ""])) as Record<
              Filter,
              string
            >;
            setDraft(cleared);
            go({});
          }}
        >
          Clear
        </button>
      </form>
      <div class="toolbar">
        <span class="muted">{selected.size} selected</span>
        <button
          type="button"
          disabled={selected.size === 0}
          onClick={() => {
            if (confirm(`Cancel ${selected.size} invocation(s)?`)) void bulk("cancel");
          }}
        >
          Cancel selected
        </button>
        <button
          type="button"
          class="danger"
          disabled={selected.size === 0}
          onClick={() => {
            if (confirm(`Kill ${selected.size} invocation(s)? Kill does not run compensations.`))
              void bulk("kill");
          }}
        >
          Kill selected
        </button>
        <span class="spacer" />
        <button
          type="button"
          class="secondary"
          disabled={page === 0}
          onClick={() => go({ ...filters, page: page <= 1 ? "" : String(page - 1) })}
        >
          ← Newer
        </button>
        <span class="muted">page {page + 1}</span>
        <button
          type="button"
          class="secondary"
          disabled={!hasNext}
          onClick={() => go({ ...filters, page: String(page + 1) })}
        >
          Older →
        </button>
      </div>
      <ErrorBox error={rows.error} />
      <ErrorBox error={bulkError} />
      <Notice message={bulkNote} />
      {rows.data === undefined ? (
        rows.error === undefined ? (
          <Empty>Loading…</Empty>
        ) : null
      ) : list.length === 0 ? (
        <Empty>No invocations match these filters.</Empty>
      ) : (
        <div class="table-wrap">
          <table aria-label="Invocations">
            <thead>
              <tr>
                <th>
                  <input
                    type="checkbox"
                    aria-label="Select all on this page"
                    checked={list.length > 0 && list.every((r) => selected.has(show(r["id"])))}
                    onChange={(e) =>
                      setSelected(
                        e.currentTarget.checked
                          ? new Set(list.map((r) => show(r["id"])))
                          : new Set(),
                      )
                    }
                  />
                </th>
                <th>Id</th>
                <th>Target</th>
                <th>Status</th>
                <th>Created</th>
                <th>Modified</th>
                <th>Retries</th>
                <th>Last failure</th>
              </tr>
            </thead>
            <tbody>
              {list.map((r) => {
                const id = show(r["id"]);
                return (
                  <tr key={id}>
                    <td>
                      <input
                        type="checkbox"
                        aria-label={`Select ${id}`}
                        checked={selected.has(id)}
                        onChange={(e) => {
                          const next = new Set(selected);
                          if (e.currentTarget.checked) next.add(id);
                          else next.delete(id);
                          setSelected(next);
                        }}
                      />
                    </td>
                    <td class="mono">
                      <a href={href(`/invocations/${encodeURIComponent(id)}`)}>{id}</a>
                    </td>
                    <td>{show(r["target"])}</td>
                    <td>
                      <Badge value={show(r["status"])} />
                    </td>
                    <td>{formatTime(r["created_at"])}</td>
                    <td>{formatTime(r["modified_at"])}</td>
                    <td>{show(r["retry_count"])}</td>
                    <td class="clip" title={show(r["last_failure"])}>
                      {show(r["last_failure"])}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
