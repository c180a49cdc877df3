import { useEffect, useState } from "preact/hooks";
import { admin, literal, services, sql } from "../api.js";
import { Empty, ErrorBox, Notice, Section, useAction, useLoad, show } from "../components.js";
import { href, navigate } from "../router.js";

interface Entry {
  key: string;
  value: string;
}

async function loadState(service: string, key: string): Promise<Entry[]> {
  const result = await sql(
    `SELECT key, value_utf8 FROM state WHERE service_name = ${literal(service)} ` +
      `AND service_key = ${literal(key)} ORDER BY key`,
  );
  return result.rows.map((r) => ({ key: show(r["key"]), value: show(r["value_utf8"]) }));
}

async function loadKeys(service: string): Promise<string[]> {
  const result = await sql(
    `SELECT DISTINCT service_key FROM state WHERE service_name = ${literal(service)} ` +
      `ORDER BY service_key LIMIT 200`,
  );
  return result.rows.map((r) => show(r["service_key"]));
}

const encoder = new TextEncoder();

function Editor({
  service,
  objectKey,
  entries,
  onSaved,
}: {
  service: string;
  objectKey: string;
  entries: Entry[];
  onSaved: () => void;
}) {
  const [draft, setDraft] = useState<Entry[]>(entries);
  const shown = JSON.stringify(entries);
  useEffect(() => setDraft(entries), [shown]);
  const save = useAction();
  const dirty = JSON.stringify(draft) !== shown;
  return (
    <form
      aria-label="State editor"
      onSubmit={(e) => {
        e.preventDefault();
        const keys = draft.map((d) => d.key);
        if (keys.some((k) => k === "") || new Set(keys).size !== keys.length) {
          void save.run("", () => Promise.reject(new Error("Every state key must be named once.")));
          return;
        }
        const newState = Object.fromEntries(
          draft.map((d) => [d.key, Array.from(encoder.encode(d.value))]),
        );
        void save
          .run("Saved: the edit applies once no invocation holds the key's lock.", () =>
            admin("POST", `/services/${encodeURIComponent(service)}/state`, {
              object_key: objectKey,
              new_state: newState,
            }),
          )
          .then((ok) => {
            if (ok) onSaved();
          });
      }}
    >
      {draft.length === 0 ? <Empty>This key has no state. Add an entry below.</Empty> : null}
      <table aria-label="State">
        <thead>
          <tr>
            <th>Key</th>
            <th>Value (as stored; JSON for SDK values)</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {draft.map((entry, i) => (
            <tr key={i}>
              <td>
                <input
                  aria-label={`State key ${i + 1}`}
                  value={entry.key}
                  onInput={(e) => {
                    const next = [...draft];
                    next[i] = { ...entry, key: e.currentTarget.value };
                    setDraft(next);
                  }}
                />
              </td>
              <td>
                <textarea
                  aria-label={`Value of ${entry.key}`}
                  rows={1}
                  value={entry.value}
                  onInput={(e) => {
                    const next = [...draft];
                    next[i] = { ...entry, value: e.currentTarget.value };
                    setDraft(next);
                  }}
                />
              </td>
              <td>
                <button
                  type="button"
                  class="secondary"
                  onClick={() => setDraft(draft.filter((_, j) => j !== i))}
                >
                  Remove
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="toolbar">
        <button
          type="button"
          class="secondary"
          onClick={() => setDraft([...draft, { key: "", value: "" }])}
        >
          Add entry
        </button>
        <button type="button" class="secondary" disabled={!dirty} onClick={() => setDraft(entries)}>
          Revert
        </button>
        <button type="submit" disabled={!dirty || save.busy}>
          Save state
        </button>
      </div>
      <ErrorBox error={save.error} />
      <Notice message={save.message === "" ? undefined : save.message} />
    </form>
  );
}

export function StatePage({ query }: { query: URLSearchParams }) {
  const service = query.get("service") ?? "";
  const key = query.get("key") ?? "";
  const [keyDraft, setKeyDraft] = useState(key);
  useEffect(() => setKeyDraft(key), [key]);
  const keyed = useLoad(
    async () => (await services()).filter((s) => s.ty !== "Service").map((s) => s.name),
    [],
  );
  const keys = useLoad(() => (service === "" ? Promise.resolve([]) : loadKeys(service)), [service]);
  const state = useLoad(
    () => (service === "" || key === "" ? Promise.resolve([]) : loadState(service, key)),
    [service, key],
  );
  const [saved, setSaved] = useState(0);
  useEffect(() => {
    if (saved === 0) return undefined;
    // The edit queues behind the key's lock: read again until it shows (or a few seconds pass).
    const timer = setInterval(() => state.reload(), 1000);
    const stop = setTimeout(() => clearInterval(timer), 5000);
    return () => {
      clearInterval(timer);
      clearTimeout(stop);
    };
  }, [saved]);
  return (
    <>
      <h1 tabIndex={-1}>State</h1>
      <form
        class="filters"
        aria-label="Object"
        onSubmit={(e) => {
          e.preventDefault();
          navigate(href("/state", { service, key: keyDraft }));
        }}
      >
        <label>
          Virtual object or workflow
          <select
            name="service"
            value={service}
            onChange={(e) => navigate(href("/state", { service: e.currentTarget.value }))}
          >
            <option value="">choose…</option>
            {(keyed.data ?? []).map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Key
          <input
            name="key"
            list="state-keys"
            value={keyDraft}
            onInput={(e) => setKeyDraft(e.currentTarget.value)}
          />
          <datalist id="state-keys">
            {(keys.data ?? []).map((k) => (
              <option key={k} value={k} />
            ))}
          </datalist>
        </label>
        <button type="submit" disabled={service === ""}>
          Show
        </button>
      </form>
      <ErrorBox error={keyed.error ?? keys.error ?? state.error} />
      {keyed.data !== undefined && keyed.data.length === 0 ? (
        <Empty>No virtual objects or workflows are registered.</Empty>
      ) : null}
      {service === "" ? (
        <Empty>Choose a virtual object or workflow, then a key.</Empty>
      ) : key === "" ? (
        <Section title={`Keys of ${service} with state`}>
          {keys.data === undefined ? null : keys.data.length === 0 ? (
            <Empty>No key of {service} has state.</Empty>
          ) : (
            <ul class="inline">
              {keys.data.map((k) => (
                <li key={k}>
                  <a href={href("/state", { service, key: k })}>{k}</a>
                </li>
              ))}
            </ul>
          )}
        </Section>
      ) : state.data === undefined ? null : (
        <Section title={`${service} / ${key}`}>
          <Editor
            service={service}
            objectKey={key}
            entries={state.data}
            onSaved={() => setSaved((n) => n + 1)}
          />
        </Section>
      )}
    </>
  );
}
