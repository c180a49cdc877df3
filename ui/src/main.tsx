import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { adminToken, ingressUrl, setAdminToken, setIngressUrl } from "./api.js";
import { href, navigate, onLinkClick, useLocation } from "./router.js";
import { Overview } from "./pages/overview.js";
import { ServicesPage, ServicePage } from "./pages/services.js";
import { InvocationsPage } from "./pages/invocations.js";
import { InvocationPage } from "./pages/invocation.js";
import { StatePage } from "./pages/state.js";
import { SqlPage } from "./pages/sql.js";
import { ClusterPage } from "./pages/cluster.js";
import "./style.css";

const NAV: { path: string; label: string; key: string }[] = [
  { path: "/", label: "Overview", key: "o" },
  { path: "/services", label: "Services", key: "s" },
  { path: "/invocations", label: "Invocations", key: "i" },
  { path: "/state", label: "State", key: "t" },
  { path: "/sql", label: "SQL", key: "q" },
  { path: "/cluster", label: "Cluster", key: "c" },
];

function Page() {
  const { path, query } = useLocation();
  const parts = path.split("/").filter((p) => p !== "");
  const [first, second] = [
    parts[0],
    parts[1] === undefined ? undefined : decodeURIComponent(parts[1]),
  ];
  useEffect(() => {
    const label = NAV.find((n) => n.path === `/${first ?? ""}`)?.label ?? "Not found";
    document.title = second === undefined ? `${label} · Keel` : `${second} · ${label} · Keel`;
    document.querySelector<HTMLElement>("main h1")?.focus({ preventScroll: true });
  }, [first, second]);
  if (first === undefined) return <Overview />;
  if (first === "services" && second === undefined) return <ServicesPage />;
  if (first === "services" && second !== undefined)
    return <ServicePage name={second} query={query} />;
  if (first === "invocations" && second === undefined) return <InvocationsPage query={query} />;
  if (first === "invocations" && second !== undefined) return <InvocationPage id={second} />;
  if (first === "state") return <StatePage query={query} />;
  if (first === "sql") return <SqlPage query={query} />;
  if (first === "cluster") return <ClusterPage />;
  return (
    <>
      <h1 tabIndex={-1}>Not found</h1>
      <div class="empty">
        No page at <code>{path}</code>. <a href={href("/")}>Go to the overview</a>.
      </div>
    </>
  );
}

function TokenSetting() {
  const [open, setOpen] = useState(false);
  const [value, setValue] = useState(adminToken());
  if (!open)
    return (
      <button class="link" type="button" onClick={() => setOpen(true)}>
        {adminToken() === "" ? "Set admin token" : "Admin token set"}
      </button>
    );
  return (
    <form
      class="token"
      onSubmit={(e) => {
        e.preventDefault();
        setAdminToken(value.trim());
        setOpen(false);
        location.reload();
      }}
    >
      <input
        type="password"
        aria-label="Admin API token"
        placeholder="Bearer token (kept for this tab)"
        value={value}
        onInput={(e) => setValue(e.currentTarget.value)}
      />
      <button type="submit">Save</button>
    </form>
  );
}

function IngressSetting() {
  const [open, setOpen] = useState(false);
  const [value, setValue] = useState("");
  if (!open)
    return (
      <button
        class="link"
        type="button"
        onClick={() => {
          void ingressUrl().then(setValue, () => setValue(""));
          setOpen(true);
        }}
      >
        Ingress URL
      </button>
    );
  return (
    <form
      class="token"
      onSubmit={(e) => {
        e.preventDefault();
        setIngressUrl(value.trim());
        setOpen(false);
      }}
    >
      <input
        aria-label="Ingress URL"
        placeholder="from /version"
        value={value}
        onInput={(e) => setValue(e.currentTarget.value)}
      />
      <button type="submit">Save</button>
    </form>
  );
}

function Help({ onClose }: { onClose: () => void }) {
  return (
    <div class="overlay" role="dialog" aria-label="Keyboard shortcuts" onClick={onClose}>
      <div class="card help">
        <h2>Keyboard shortcuts</h2>
        <table>
          <tbody>
            {NAV.map((n) => (
              <tr key={n.key}>
                <td>
                  <kbd>g</kbd> <kbd>{n.key}</kbd>
                </td>
                <td>{n.label}</td>
              </tr>
            ))}
            <tr>
              <td>
                <kbd>/</kbd>
              </td>
              <td>Focus the first filter or input of the page</td>
            </tr>
            <tr>
              <td>
                <kbd>Ctrl</kbd> <kbd>Enter</kbd>
              </td>
              <td>Run the SQL query, send the invocation</td>
            </tr>
            <tr>
              <td>
                <kbd>?</kbd>
              </td>
              <td>This help (Esc closes it)</td>
            </tr>
          </tbody>
        </table>
      </div>
    </div>
  );
}

function typing(target: EventTarget | null): boolean {
  const element = target as HTMLElement | null;
  return (
    element !== null &&
    (element.tagName === "INPUT" ||
      element.tagName === "TEXTAREA" ||
      element.tagName === "SELECT" ||
      element.isContentEditable)
  );
}

function App() {
  const { path } = useLocation();
  const [help, setHelp] = useState(false);
  useEffect(() => {
    let pendingG = false;
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") setHelp(false);
      if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
      if (pendingG) {
        pendingG = false;
        const target = NAV.find((n) => n.key === event.key);
        if (target !== undefined) {
          event.preventDefault();
          navigate(href(target.path));
        }
        return;
      }
      if (event.key === "g") pendingG = true;
      else if (event.key === "?") setHelp((h) => !h);
      else if (event.key === "/") {
        const field = document.querySelector<HTMLElement>("main input, main textarea, main select");
        if (field !== null) {
          event.preventDefault();
          field.focus();
        }
      }
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  }, []);
  const section = `/${path.split("/")[1] ?? ""}`;
  return (
    <div class="shell" onClick={(e) => onLinkClick(e)}>
      <nav aria-label="Pages">
        <a class="brand" href={href("/")}>
          Keel
        </a>
        <ul>
          {NAV.map((n) => (
            <li key={n.path}>
              <a
                href={href(n.path)}
                aria-current={section === n.path ? "page" : undefined}
                title={`g ${n.key}`}
              >
                {n.label}
              </a>
            </li>
          ))}
        </ul>
        <div class="nav-foot">
          <TokenSetting />
          <IngressSetting />
          <button class="link" type="button" onClick={() => setHelp(true)}>
            Shortcuts (?)
          </button>
        </div>
      </nav>
      <main>
        <Page />
      </main>
      {help ? <Help onClose={() => setHelp(false)} /> : null}
    </div>
  );
}

render(<App />, document.getElementById("app")!);
