import { useEffect, useState } from "preact/hooks";
import { sql, type QueryResult } from "../api.js";
import { DataTable, Empty, ErrorBox, show, useLoad } from "../components.js";
import { href, navigate } from "../router.js";

const DEFAULT_QUERY = "SELECT id, target, status, created_at FROM sys_invocation LIMIT 20";

async function loadCatalog(): Promise<Map<string, { column: string; type: string }[]>> {
  const result = await sql(
    "SELECT table_name, column_name, data_type FROM information_schema.columns " +
      "ORDER BY table_name, ordinal_position",
  );
  const tables = new Map<string, { column: string; type: string }[]>();
  for (const row of result.rows) {
    const table = show(row["table_name"]);
    if (!tables.has(table)) tables.set(table, []);
    tables.get(table)!.push({ column: show(row["column_name"]), type: show(row["data_type"]) });
  }
  return tables;
}

function csvField(value: unknown): string {
  const text = show(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv(result: QueryResult): string {
  const lines = [result.columns.map(csvField).join(",")];
  for (const row of result.rows) lines.push(result.columns.map((c) => csvField(row[c])).join(","));
  return `${lines.join("\r\n")}\r\n`;
}

function download(result: QueryResult): void {
  const url = URL.createObjectURL(new Blob([toCsv(result)], { type: "text/csv" }));
  const anchor = document.createElement("a");
  anchor.href = url;
  anchor.download = "keel-query.csv";
  anchor.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function SqlPage({ query }: { query: URLSearchParams }) {
  const submitted = query.get("q") ?? "";
  const [text, setText] = useState(submitted === "" ? DEFAULT_QUERY : submitted);
  useEffect(() => {
    if (submitted !== "") setText(submitted);
  }, [submitted]);
  const catalog = useLoad(loadCatalog, []);
  const [ran, setRan] = useState(0);
  const started = performance.now();
  const result = useLoad(
    () =>
      submitted === ""
        ? Promise.resolve(undefined)
        : sql(submitted).then((r) => ({ ...r, ms: Math.round(performance.now() - started) })),
    [submitted, ran],
  );
  const run = () => {
    const trimmed = text.trim();
    if (trimmed === "") return;
    if (trimmed === submitted) setRan((n) => n + 1);
    else navigate(href("/sql", { q: trimmed }));
  };
  return (
    <>
      <h1 tabIndex={-1}>SQL</h1>
      <div class="sql-layout">
        <div>
          <form
            class="stack"
            aria-label="Query"
            onSubmit={(e) => {
              e.preventDefault();
              run();
            }}
          >
            <textarea
              name="query"
              aria-label="SQL query"
              rows={5}
              spellcheck={false}
              class="mono"
              value={text}
              onInput={(e) => setText(e.currentTarget.value)}
              onKeyDown={(e) => {
                if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
                  e.preventDefault();
                  run();
                }
              }}
            />
            <div class="toolbar">
              <button type="submit">Run (Ctrl+Enter)</button>
              <button
                type="button"
                class="secondary"
                disabled={result.data === undefined || result.data.rows.length === 0}
                onClick={() => result.data !== undefined && download(result.data)}
              >
                Export CSV
              </button>
              {result.data === undefined ? null : (
                <span class="muted" role="status">
                  {result.data.rows.length} row(s) in {result.data.ms} ms
                </span>
              )}
            </div>
          </form>
          <ErrorBox error={result.error} />
          {submitted === "" ? (
            <Empty>Write a query and run it. The tables are listed on the right.</Empty>
          ) : result.data === undefined ? null : (
            <DataTable
              label="Results"
              columns={result.data.columns}
              rows={result.data.rows}
              empty="The query returned no rows."
            />
          )}
        </div>
        <aside aria-label="Tables">
          <h2>Tables</h2>
          <ErrorBox error={catalog.error} />
          {catalog.data === undefined
            ? null
            : [...catalog.data.entries()].map(([table, columns]) => (
                <details key={table}>
                  <summary>
                    <button
                      type="button"
                      class="link"
                      title="Query this table"
                      onClick={(e) => {
                        e.preventDefault();
                        setText(`SELECT * FROM ${table} LIMIT 50`);
                      }}
                    >
                      {table}
                    </button>
                  </summary>
                  <ul>
                    {columns.map((c) => (
                      <li key={c.column}>
                        {c.column} <span class="muted">{c.type}</span>
                      </li>
                    ))}
                  </ul>
                </details>
              ))}
        </aside>
      </div>
    </>
  );
}
