import { useState } from "preact/hooks";
import { admin, invoke, type Handler, type IngressAnswer, type Service } from "../api.js";
import { Empty, ErrorBox, Section, useLoad } from "../components.js";
import { href, navigate } from "../router.js";

export function ServicesPage() {
  const list = useLoad(() => admin<{ services: Service[] }>("GET", "/services"), []);
  const services = list.data?.services;
  return (
    <>
      <h1 tabIndex={-1}>Services</h1>
      <ErrorBox error={list.error} />
      {services === undefined ? null : services.length === 0 ? (
        <Empty>
          No services. <a href={href("/")}>Register a deployment</a> to add some.
        </Empty>
      ) : (
        services.map((s) => (
          <Section key={s.name} title={s.name} actions={<span class="muted">{s.ty}</span>}>
            <ul class="inline">
              {s.handlers.map((h) => (
                <li key={h.name}>
                  <a href={href(`/services/${encodeURIComponent(s.name)}`, { handler: h.name })}>
                    {h.name}
                  </a>{" "}
                  <span class="muted">
                    ({h.input_description ?? "?"} → {h.output_description ?? "?"})
                  </span>
                </li>
              ))}
            </ul>
            <a href={href(`/services/${encodeURIComponent(s.name)}`)}>Details and invoke →</a>
          </Section>
        ))
      )}
    </>
  );
}

function duration(value: string | null | undefined): string {
  return value === null || value === undefined ? "default" : value;
}

function RetryPolicy({ policy }: { policy: Record<string, unknown> | null | undefined }) {
  if (policy === null || policy === undefined) return <span>default</span>;
  const parts = Object.entries(policy)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k.replace(/_/g, " ")}: ${String(v)}`);
  return <span>{parts.length === 0 ? "default" : parts.join(", ")}</span>;
}

/** A handler's retry policy names only what it overrides of its service's. */
function mergedPolicy(
  service: Record<string, unknown> | null | undefined,
  handler: Record<string, unknown> | null | undefined,
): Record<string, unknown> {
  const overrides = Object.entries(handler ?? {}).filter(([, v]) => v !== null && v !== undefined);
  return { ...(service ?? {}), ...Object.fromEntries(overrides) };
}

function HandlerFacts({ service, handler }: { service: Service; handler: Handler }) {
  return (
    <dl class="facts">
      <dt>Kind</dt>
      <dd>{handler.ty ?? (service.ty === "Service" ? "—" : "Exclusive")}</dd>
      <dt>Input</dt>
      <dd>{handler.input_description ?? ""}</dd>
      <dt>Output</dt>
      <dd>{handler.output_description ?? ""}</dd>
      {handler.input_json_schema === undefined ? null : (
        <>
          <dt>Input schema</dt>
          <dd>
            <code class="block">{JSON.stringify(handler.input_json_schema)}</code>
          </dd>
        </>
      )}
      <dt>Retry policy</dt>
      <dd>
        <RetryPolicy policy={mergedPolicy(service.retry_policy, handler.retry_policy)} />
      </dd>
      <dt>Inactivity timeout</dt>
      <dd>{duration(handler.inactivity_timeout ?? service.inactivity_timeout)}</dd>
      <dt>Abort timeout</dt>
      <dd>{duration(handler.abort_timeout ?? service.abort_timeout)}</dd>
      <dt>Journal retention</dt>
      <dd>{duration(handler.journal_retention ?? service.journal_retention)}</dd>
      <dt>Idempotency retention</dt>
      <dd>{duration(handler.idempotency_retention ?? service.idempotency_retention)}</dd>
      <dt>Public</dt>
      <dd>{String(handler.public ?? service.public)}</dd>
    </dl>
  );
}

function InvokeForm({ service, handler }: { service: Service; handler: Handler }) {
  const keyed = service.ty !== "Service";
  const [key, setKey] = useState("");
  const [body, setBody] = useState("");
  const [oneWay, setOneWay] = useState(false);
  const [idempotencyKey, setIdempotencyKey] = useState("");
  const [answer, setAnswer] = useState<IngressAnswer | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async () => {
    setError(undefined);
    setAnswer(undefined);
    if (body.trim() !== "") {
      try {
        JSON.parse(body);
      } catch (failure) {
        setError(`The body is not JSON: ${(failure as Error).message}`);
        return;
      }
    }
    if (keyed && key === "") {
      setError(`A ${service.ty} needs a key.`);
      return;
    }
    const target = [service.name, ...(keyed ? [key] : []), handler.name]
      .map(encodeURIComponent)
      .join("/");
    setBusy(true);
    try {
      setAnswer(await invoke(target, body, oneWay, idempotencyKey));
    } catch (failure) {
      setError(
        `The ingress did not answer (${(failure as Error).message}). Is its URL right? Set it under “Ingress URL” in the menu.`,
      );
    } finally {
      setBusy(false);
    }
  };
  const sentId = (() => {
    if (answer === undefined) return undefined;
    if (answer.invocationId !== null) return answer.invocationId;
    try {
      return (JSON.parse(answer.body) as { invocationId?: string }).invocationId;
    } catch {
      return undefined;
    }
  })();
  return (
    <form
      class="stack"
      aria-label="Invoke"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
      onKeyDown={(e) => {
        if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
          e.preventDefault();
          void submit();
        }
      }}
    >
      {keyed ? (
        <label>
          Key
          <input name="key" value={key} required onInput={(e) => setKey(e.currentTarget.value)} />
        </label>
      ) : null}
      <label>
        Body (JSON)
        <textarea
          name="body"
          rows={4}
          placeholder='"world"'
          value={body}
          onInput={(e) => setBody(e.currentTarget.value)}
        />
      </label>
      <label>
        Idempotency key (optional)
        <input
          name="idempotency-key"
          value={idempotencyKey}
          onInput={(e) => setIdempotencyKey(e.currentTarget.value)}
        />
      </label>
      <label class="check">
        <input
          type="checkbox"
          name="send"
          checked={oneWay}
          onChange={(e) => setOneWay(e.currentTarget.checked)}
        />
        One-way send (do not wait for the result)
      </label>
      <div>
        <button type="submit" disabled={busy}>
          {busy ? "Waiting…" : "Invoke"}
        </button>{" "}
        <a
          href={href("/invocations", {
            service: service.name,
            handler: handler.name,
          })}
        >
          Invocations of this handler
        </a>
      </div>
      <ErrorBox error={error} />
      {answer === undefined ? null : (
        <div class={answer.status < 300 ? "notice" : "error"} role="status">
          <div>
            HTTP {answer.status}
            {sentId === undefined ? null : (
              <>
                {" · "}
                <a href={href(`/invocations/${encodeURIComponent(sentId)}`)}>{sentId}</a>
              </>
            )}
          </div>
          <pre class="answer" aria-label="Answer">
            {answer.body}
          </pre>
        </div>
      )}
    </form>
  );
}

export function ServicePage({ name, query }: { name: string; query: URLSearchParams }) {
  const loaded = useLoad(
    () => admin<Service>("GET", `/services/${encodeURIComponent(name)}`),
    [name],
  );
  const service = loaded.data;
  const chosen = query.get("handler") ?? service?.handlers[0]?.name;
  const handler = service?.handlers.find((h) => h.name === chosen);
  return (
    <>
      <h1 tabIndex={-1}>{name}</h1>
      <p>
        <a href={href("/services")}>← All services</a>
      </p>
      <ErrorBox error={loaded.error} />
      {service === undefined ? null : (
        <>
          <p class="muted">
            {service.ty} · revision {service.revision} · deployment{" "}
            <span class="mono">{service.deployment_id}</span>
            {service.ty === "Service" ? null : (
              <>
                {" · "}
                <a href={href("/state", { service: service.name })}>State</a>
              </>
            )}
          </p>
          <div class="tabs" role="tablist" aria-label="Handlers">
            {service.handlers.map((h) => (
              <a
                key={h.name}
                role="tab"
                aria-selected={h.name === chosen}
                href={href(`/services/${encodeURIComponent(name)}`, { handler: h.name })}
                onClick={(e) => {
                  e.preventDefault();
                  navigate(
                    href(`/services/${encodeURIComponent(name)}`, { handler: h.name }),
                    true,
                  );
                }}
              >
                {h.name}
              </a>
            ))}
          </div>
          {handler === undefined ? (
            <Empty>No handler {chosen} in this service.</Empty>
          ) : (
            <div class="grid">
              <Section title={`Handler ${handler.name}`}>
                <HandlerFacts service={service} handler={handler} />
              </Section>
              <Section title="Invoke">
                <InvokeForm key={`${name}/${handler.name}`} service={service} handler={handler} />
              </Section>
            </div>
          )}
        </>
      )}
    </>
  );
}
