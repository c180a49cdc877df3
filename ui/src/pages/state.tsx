import { useEffect, useState } from "preact/hooks";
import { admin, literal, services, sql } from "../api.js";
import { Empty, ErrorBox, Notice, Section, useAction, useLoad, show } from "../components.js";
import { href, navigate } from "../router.js";

interface Entry {
  key: string;
  value: string;
}

interface LoadedState {
  readonly entries: Entry[];
  /** Restate's version token of the state as read (undefined where the browser cannot hash). */
  readonly version: string | undefined;
}

const encoder = new TextEncoder();

function fromHex(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/**
 * The version token `restate kv edit` sends, so an edit is dropped if the state changed after it
 * was read: entries sorted by key bytes, SHA-256 over `u64_be(i) 01 key 02 value 03` for each,
 * base64url without padding. WebCrypto exists only in secure contexts (https, localhost).
 */
async function stateVersion(
  entries: { key: Uint8Array; value: Uint8Array }[],
): Promise<string | undefined> {
  if (globalThis.crypto?.subtle === undefined) return undefined;
  const sorted = [...entries].sort((a, b) => compareBytes(a.key, b.key));
  const parts: number[] = [];
  sorted.forEach((entry, i) => {
    const index = new DataView(new ArrayBuffer(8));
    index.setBigUint64(0, BigInt(i));
    parts.push(...new Uint8Array(index.buffer), 1, ...entry.key, 2, ...entry.value, 3);
  });
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(parts)));
  return btoa(String.fromCharCode(...digest))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

async function loadState(service: string, key: string): Promise<LoadedState> {
  const result = await sql(
    `SELECT key, value, value_utf8 FROM state WHERE service_name = ${literal(service)} ` +
      `AND service_key = ${literal(key)} ORDER BY key`,
  );
  const version = await stateVersion(
    result.rows.map((r) => ({
      key: encoder.encode(show(r["key"])),
      value: fromHex(show(r["value"])),
    })),
  );
  return {
    entries: result.rows.map((r) => ({ key: show(r["key"]), value: show(r["value_utf8"]) })),
    version,
  };
}

async function loadKeys(service: string): Promise<string[]> {
  const result = await sql(
    `SELECT DISTINCT service_key FROM state WHERE service_name = ${literal(service)} ` +
      `ORDER BY service_key LIMIT 200`,
  );
  return result.rows.map((r) => show(r["service_key"]));
}

function Editor({
  service,
  objectKey,
  entries,
  version,
  onSaved,
}: {
  service: string;
  objectKey: string;
  entries: Entry[];
  version: string | undefined;
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
          .run(
            "Saved: the edit applies once no invocation holds the key's lock, unless the state " +
              "changed since it was read (then it is dropped: the page shows the state as it is).",
            () =>
              admin("POST", `/services/${encodeURIComponent(service)}/state`, {
                object_key: objectKey,
                new_state: newState,
                ...(version === undefined ? {} : { version }),
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
    () =>
      service === "" || key === ""
        ? Promise.resolve({ entries: [], version: undefined })
        : loadState(service, key),
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
            entries={state.data.entries}
            version={state.data.version}
            onSaved={() => setSaved((n) => n + 1)}
          />
        </Section>
      )}
    </>
  );
}
