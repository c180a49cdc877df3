import { Fragment } from "preact";
import { act, literal, sql, type InvocationAction, type Row } from "../api.js";
import {
  Badge,
  Empty,
  ErrorBox,
  Notice,
  Section,
  formatTime,
  show,
  useAction,
  useLoad,
} from "../components.js";
import { href, navigate } from "../router.js";

interface Detail {
  invocation: Row | undefined;
  journal: Row[];
  events: Row[];
  callees: Row[];
}

async function loadDetail(id: string): Promise<Detail> {
  const quoted = literal(id);
  const [invocation, journal, events, callees] = await Promise.all([
    sql(`SELECT * FROM sys_invocation WHERE id = ${quoted}`),
    sql(
      `SELECT index, entry_type, name, completed, invoked_id, invoked_target, sleep_wakeup_at, ` +
        `promise_name, entry_json, appended_at FROM sys_journal WHERE id = ${quoted} ORDER BY index`,
    ),
    sql(
      `SELECT after_journal_entry_index, appended_at, event_type, event_json ` +
        `FROM sys_journal_events WHERE id = ${quoted} ORDER BY appended_at`,
    ).catch(() => ({ rows: [] as Row[], columns: [] })),
    sql(
      `SELECT id, target, status, created_at FROM sys_invocation WHERE invoked_by_id = ${quoted} ` +
        `ORDER BY created_at`,
    ),
  ]);
  return {
    invocation: invocation.rows[0],
    journal: journal.rows,
    events: events.rows,
    callees: callees.rows,
  };
}

const ACTIONS: { action: InvocationAction; label: string; confirm?: string; danger?: boolean }[] = [
  { action: "cancel", label: "Cancel", confirm: "Cancel this invocation?" },
  {
    action: "kill",
    label: "Kill",
    confirm: "Kill this invocation? It stops at once and runs no compensation.",
    danger: true,
  },
  { action: "pause", label: "Pause" },
  { action: "resume", label: "Resume" },
  { action: "restart-as-new", label: "Restart as new", confirm: "Restart as a new invocation?" },
  {
    action: "purge",
    label: "Purge",
    confirm: "Purge this completed invocation and its journal?",
    danger: true,
  },
];

const decoder = new TextDecoder("utf-8", { fatal: true });

/** `sys_journal.entry_json` holds payloads as byte arrays: shown as their UTF-8 text. */
function decodeBytes(value: unknown): unknown {
  if (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((b) => typeof b === "number" && Number.isInteger(b) && b >= 0 && b < 256)
  ) {
    try {
      return decoder.decode(new Uint8Array(value as number[]));
    } catch {
      return value;
    }
  }
  if (Array.isArray(value)) return value.map(decodeBytes);
  if (value !== null && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decodeBytes(v)]));
  return value;
}

function find(value: unknown, key: string): unknown {
  if (value === null || typeof value !== "object") return undefined;
  if (key in value) return (value as Record<string, unknown>)[key];
  for (const inner of Object.values(value)) {
    const found = find(inner, key);
    if (found !== undefined) return found;
  }
  return undefined;
}

interface Outcome {
  /** The state key or promise name a command names, if any. */
  readonly key: string | undefined;
  readonly result: string | undefined;
  readonly failure: string | undefined;
  readonly detail: string;
}

/** What an entry produced (its value or failure) and the whole entry, from `entry_json`. */
function outcome(entry: Row): Outcome {
  const raw = entry["entry_json"];
  if (typeof raw !== "string" || raw === "")
    return { key: undefined, result: undefined, failure: undefined, detail: "" };
  let parsed: unknown;
  try {
    parsed = decodeBytes(JSON.parse(raw));
  } catch {
    return { key: undefined, result: undefined, failure: undefined, detail: raw };
  }
  const success = find(parsed, "Success") ?? find(parsed, "payload") ?? find(parsed, "value");
  const failed = find(parsed, "Failure");
  const key = find(parsed, "key");
  return {
    key: typeof key === "string" ? key : undefined,
    result: success === undefined ? undefined : show(success),
    failure: failed === undefined ? undefined : show(failed),
    detail: JSON.stringify(parsed),
  };
}

function present(value: unknown): boolean {
  return value !== null && value !== undefined && value !== "";
}

/** The actions that apply to an invocation in this status (the API would refuse the others). */
function actionsFor(status: string): InvocationAction[] {
  if (status === "completed") return ["restart-as-new", "purge"];
  if (status === "paused") return ["resume", "cancel", "kill"];
  if (status === "backing-off" || status === "suspended")
    return ["cancel", "kill", "pause", "resume"];
  return ["cancel", "kill", "pause"];
}

function millis(value: unknown): number | undefined {
  if (value === null || value === undefined) return undefined;
  const time = new Date(show(value)).getTime();
  return Number.isNaN(time) ? undefined : time;
}

function Journal({ entries, start }: { entries: Row[]; start: number | undefined }) {
  if (entries.length === 0) return <Empty>The journal is empty (or was purged).</Empty>;
  return (
    <ol class="timeline" aria-label="Journal">
      {entries.map((entry) => {
        const at = millis(entry["appended_at"]);
        const { key, result, failure, detail } = outcome(entry);
        const failed = failure !== undefined;
        const callee = entry["invoked_id"];
        return (
          <li key={show(entry["index"])} class={failed ? "failed" : ""}>
            <div class="when">
              #{show(entry["index"])}
              <br />
              <span class="muted">
                {at === undefined || start === undefined ? "" : `+${at - start} ms`}
              </span>
            </div>
            <div class="what">
              <div>
                <strong class="entry-type">{show(entry["entry_type"])}</strong>{" "}
                {!present(entry["name"]) ? null : (
                  <span class="entry-name">{show(entry["name"])}</span>
                )}{" "}
                {key === undefined ? null : <span class="entry-key mono">{key}</span>}{" "}
                {entry["completed"] === false ? <Badge value="pending" /> : null}
                {failed ? <Badge value="failed" /> : null}
                {typeof callee === "string" && callee !== "" ? (
                  <>
                    {" → "}
                    <a href={href(`/invocations/${encodeURIComponent(callee)}`)}>
                      {show(entry["invoked_target"] ?? callee)}
                    </a>
                  </>
                ) : null}
                {!present(entry["sleep_wakeup_at"]) ? null : (
                  <span class="muted"> until {formatTime(entry["sleep_wakeup_at"])}</span>
                )}
                {!present(entry["promise_name"]) ? null : (
                  <span class="muted"> promise {show(entry["promise_name"])}</span>
                )}
              </div>
              {result === undefined ? null : <code class="block entry-result">{result}</code>}
              {failure === undefined ? null : (
                <code class="block entry-failure bad">{failure}</code>
              )}
              {detail === "" ? null : (
                <details>
                  <summary class="muted">entry</summary>
                  <code class="block">{detail}</code>
                </details>
              )}
              <div class="muted">{formatTime(entry["appended_at"])}</div>
            </div>
          </li>
        );
      })}
    </ol>
  );
}

const FACTS: [string, string][] = [
  ["target", "Target"],
  ["status", "Status"],
  ["created_at", "Created"],
  ["modified_at", "Modified"],
  ["running_at", "Running since"],
  ["completed_at", "Completed"],
  ["scheduled_start_at", "Scheduled start"],
  ["idempotency_key", "Idempotency key"],
  ["pinned_deployment_id", "Deployment"],
  ["journal_size", "Journal entries"],
  ["completion_result", "Result"],
  ["completion_failure", "Failure"],
  ["restarted_from", "Restarted from"],
  ["trace_id", "Trace id"],
];

export function InvocationPage({ id }: { id: string }) {
  const detail = useLoad(() => loadDetail(id), [id], 3000);
  const action = useAction();
  const inv = detail.data?.invocation;
  const start = millis(inv?.["created_at"]);
  const caller = inv?.["invoked_by_id"];
  return (
    <>
      <h1 tabIndex={-1} class="mono">
        {id}
      </h1>
      <p>
        <a href={href("/invocations")}>← Invocations</a>
      </p>
      <ErrorBox error={detail.error} />
      {detail.data !== undefined && inv === undefined ? (
        <Empty>No invocation {id}: it never existed, or it completed and was purged.</Empty>
      ) : null}
      {inv === undefined ? null : (
        <>
          <div class="toolbar" aria-label="Actions">
            <span>
              Status: <Badge value={show(inv["status"])} />
            </span>
            <span class="spacer" />
            {ACTIONS.filter((a) => actionsFor(show(inv["status"])).includes(a.action)).map((a) => (
              <button
                key={a.action}
                type="button"
                class={a.danger === true ? "danger" : ""}
                disabled={action.busy}
                onClick={() => {
                  if (a.confirm !== undefined && !confirm(a.confirm)) return;
                  void action
                    .run(`${a.label}: accepted`, () => act(id, a.action))
                    .then((ok) => {
                      if (ok && a.action === "purge") navigate(href("/invocations"));
                      else detail.reload();
                    });
                }}
              >
                {a.label}
              </button>
            ))}
          </div>
          <ErrorBox error={action.error} />
          <Notice message={action.message} />
          <div class="grid">
            <Section title="Invocation">
              <dl class="facts">
                {FACTS.filter(([k]) => present(inv[k])).map(([k, label]) => (
                  <Fragment key={k}>
                    <dt>{label}</dt>
                    <dd>{k.endsWith("_at") ? formatTime(inv[k]) : show(inv[k])}</dd>
                  </Fragment>
                ))}
                {!present(inv["target_service_key"]) ? null : (
                  <>
                    <dt>State</dt>
                    <dd>
                      <a
                        href={href("/state", {
                          service: show(inv["target_service_name"]),
                          key: show(inv["target_service_key"]),
                        })}
                      >
                        {show(inv["target_service_name"])}/{show(inv["target_service_key"])}
                      </a>
                    </dd>
                  </>
                )}
              </dl>
            </Section>
            <Section title="Related invocations">
              <h3>Caller</h3>
              {typeof caller === "string" && caller !== "" ? (
                <a href={href(`/invocations/${encodeURIComponent(caller)}`)}>
                  {show(inv["invoked_by_target"] ?? caller)} ({caller})
                </a>
              ) : (
                <Empty>
                  {inv["invoked_by"] === "ingress" ? "Invoked through the ingress." : "No caller."}
                </Empty>
              )}
              <h3>Callees</h3>
              {detail.data!.callees.length === 0 ? (
                <Empty>It called no other invocation.</Empty>
              ) : (
                <ul aria-label="Callees">
                  {detail.data!.callees.map((c) => (
                    <li key={show(c["id"])}>
                      <a href={href(`/invocations/${encodeURIComponent(show(c["id"]))}`)}>
                        {show(c["target"])}
                      </a>{" "}
                      <Badge value={show(c["status"])} />
                    </li>
                  ))}
                </ul>
              )}
            </Section>
          </div>
          <Section title="Retries">
            <dl class="facts">
              <dt>Attempts retried</dt>
              <dd>{show(inv["retry_count"] ?? 0)}</dd>
              {!present(inv["next_retry_at"]) ? null : (
                <>
                  <dt>Next retry</dt>
                  <dd>{formatTime(inv["next_retry_at"])}</dd>
                </>
              )}
              {!present(inv["last_start_at"]) ? null : (
                <>
                  <dt>Last attempt started</dt>
                  <dd>{formatTime(inv["last_start_at"])}</dd>
                </>
              )}
              {!present(inv["last_failure_related_command_name"]) &&
              !present(inv["last_failure_related_entry_name"]) ? null : (
                <>
                  <dt>Failed at</dt>
                  <dd>
                    {show(
                      inv["last_failure_related_command_type"] ??
                        inv["last_failure_related_entry_type"],
                    )}{" "}
                    {show(
                      inv["last_failure_related_command_name"] ??
                        inv["last_failure_related_entry_name"],
                    )}
                  </dd>
                </>
              )}
            </dl>
            {!present(inv["last_failure"]) ? (
              <Empty>No failed attempt.</Empty>
            ) : (
              <>
                <h3>
                  Last error{" "}
                  {!present(inv["last_failure_error_code"])
                    ? null
                    : `(${show(inv["last_failure_error_code"])})`}
                </h3>
                <pre class="stack-trace" aria-label="Last error">
                  {show(inv["last_failure"])}
                </pre>
              </>
            )}
            {detail.data!.events.length === 0 ? null : (
              <>
                <h3>Events</h3>
                <ol class="events" aria-label="Events">
                  {detail.data!.events.map((e, i) => (
                    <li key={i}>
                      <span class="muted">{formatTime(e["appended_at"])}</span>{" "}
                      <strong>{show(e["event_type"])}</strong> after entry{" "}
                      {show(e["after_journal_entry_index"])}
                      <pre class="stack-trace">{show(e["event_json"])}</pre>
                    </li>
                  ))}
                </ol>
              </>
            )}
          </Section>
          <Section title={`Journal (${detail.data!.journal.length} entries)`}>
            <Journal entries={detail.data!.journal} start={start} />
          </Section>
        </>
      )}
    </>
  );
}
