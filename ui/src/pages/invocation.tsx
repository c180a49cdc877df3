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

/** What an entry produced: its value or failure, from `entry_json`. */
function outcome(entry: Row): { text: string; failed: boolean } {
  const raw = entry["entry_json"];
  if (typeof raw !== "string" || raw === "") return { text: "", failed: false };
  try {
    const parsed = JSON.parse(raw) as Record<string, unknown>;
    const text = JSON.stringify(parsed);
    return { text, failed: /"failure"|"Failure"/.test(text) };
  } catch {
    return { text: raw, failed: false };
  }
}

function millis(value: unknown): number | undefined {
  if (value === null || value === undefined) return undefined;
  const time = new Date(String(value)).getTime();
  return Number.isNaN(time) ? undefined : time;
}

function Journal({ entries, start }: { entries: Row[]; start: number | undefined }) {
  if (entries.length === 0) return <Empty>The journal is empty (or was purged).</Empty>;
  return (
    <ol class="timeline" aria-label="Journal">
      {entries.map((entry) => {
        const at = millis(entry["appended_at"]);
        const { text, failed } = outcome(entry);
        const callee = entry["invoked_id"];
        return (
          <li key={String(entry["index"])} class={failed ? "failed" : ""}>
            <div class="when">
              #{String(entry["index"])}
              <br />
              <span class="muted">
                {at === undefined || start === undefined ? "" : `+${at - start} ms`}
              </span>
            </div>
            <div class="what">
              <div>
                <strong class="entry-type">{String(entry["entry_type"] ?? "")}</strong>{" "}
                {entry["name"] === null || entry["name"] === "" ? null : (
                  <span class="entry-name">{String(entry["name"])}</span>
                )}{" "}
                {entry["completed"] === false ? <Badge value="pending" /> : null}
                {failed ? <Badge value="failed" /> : null}
                {typeof callee === "string" && callee !== "" ? (
                  <>
                    {" → "}
                    <a href={href(`/invocations/${encodeURIComponent(callee)}`)}>
                      {String(entry["invoked_target"] ?? callee)}
                    </a>
                  </>
                ) : null}
                {entry["sleep_wakeup_at"] === null ? null : (
                  <span class="muted"> until {formatTime(entry["sleep_wakeup_at"])}</span>
                )}
                {entry["promise_name"] === null ? null : (
                  <span class="muted"> promise {String(entry["promise_name"])}</span>
                )}
              </div>
              {text === "" ? null : <code class="block">{text}</code>}
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
              Status: <Badge value={String(inv["status"])} />
            </span>
            <span class="spacer" />
            {ACTIONS.map((a) => (
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
                {FACTS.filter(([k]) => inv[k] !== null && inv[k] !== undefined && inv[k] !== "").map(
                  ([k, label]) => (
                    <Fragment key={k}>
                      <dt>{label}</dt>
                      <dd>{k.endsWith("_at") ? formatTime(inv[k]) : show(inv[k])}</dd>
                    </Fragment>
                  ),
                )}
                {inv["target_service_key"] === null ||
                inv["target_service_key"] === undefined ? null : (
                  <>
                    <dt>State</dt>
                    <dd>
                      <a
                        href={href("/state", {
                          service: String(inv["target_service_name"]),
                          key: String(inv["target_service_key"]),
                        })}
                      >
                        {String(inv["target_service_name"])}/{String(inv["target_service_key"])}
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
                  {String(inv["invoked_by_target"] ?? caller)} ({caller})
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
                    <li key={String(c["id"])}>
                      <a href={href(`/invocations/${encodeURIComponent(String(c["id"]))}`)}>
                        {String(c["target"])}
                      </a>{" "}
                      <Badge value={String(c["status"])} />
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
              {inv["next_retry_at"] === null ? null : (
                <>
                  <dt>Next retry</dt>
                  <dd>{formatTime(inv["next_retry_at"])}</dd>
                </>
              )}
              {inv["last_start_at"] === null ? null : (
                <>
                  <dt>Last attempt started</dt>
                  <dd>{formatTime(inv["last_start_at"])}</dd>
                </>
              )}
              {inv["last_failure_related_command_name"] === null &&
              inv["last_failure_related_entry_name"] === null ? null : (
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
            {inv["last_failure"] === null || inv["last_failure"] === undefined ? (
              <Empty>No failed attempt.</Empty>
            ) : (
              <>
                <h3>
                  Last error{" "}
                  {inv["last_failure_error_code"] === null
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
