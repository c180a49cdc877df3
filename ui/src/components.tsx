import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";

export interface Loaded<T> {
  readonly data: T | undefined;
  readonly error: string | undefined;
  readonly loading: boolean;
  reload(): void;
}

/**
 * Loads with `load` whenever `deps` change, and again every `pollMs` if given (only while the tab is
 * visible, and never two loads at once).
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], pollMs?: number): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const generation = useRef(0);
  const busy = useRef(false);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  useEffect(() => {
    const mine = ++generation.current;
    busy.current = true;
    setLoading(true);
    load()
      .then(
        (value) => {
          if (mine !== generation.current) return;
          setData(value);
          setError(undefined);
        },
        (failure: unknown) => {
          if (mine !== generation.current) return;
          setError(failure instanceof Error ? failure.message : String(failure));
        },
      )
      .finally(() => {
        if (mine !== generation.current) return;
        busy.current = false;
        setLoading(false);
      });
  }, [...deps, tick]);
  useEffect(() => {
    if (pollMs === undefined) return undefined;
    const timer = setInterval(() => {
      if (document.visibilityState === "visible" && !busy.current) setTick((t) => t + 1);
    }, pollMs);
    return () => clearInterval(timer);
  }, [pollMs]);
  return { data, error, loading, reload };
}

export function ErrorBox({ error }: { error: string | undefined }) {
  if (error === undefined) return null;
  return (
    <div class="error" role="alert">
      {error}
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>;
}

export function Section({
  title,
  actions,
  children,
}: {
  title: string;
  actions?: ComponentChildren;
  children: ComponentChildren;
}) {
  return (
    <section class="card">
      <header>
        <h2>{title}</h2>
        <div class="actions">{actions}</div>
      </header>
      {children}
    </section>
  );
}

export function Badge({ value }: { value: string | null | undefined }) {
  const text = value ?? "—";
  return <span class={`badge badge-${text.replace(/[^a-z-]/gi, "").toLowerCase()}`}>{text}</span>;
}

/** A value of any shape, for table cells. */
export function show(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint")
    return value.toString();
  return JSON.stringify(value) ?? "";
}

export function DataTable({
  columns,
  rows,
  empty,
  label,
}: {
  columns: string[];
  rows: Record<string, unknown>[];
  empty: string;
  label: string;
}) {
  if (rows.length === 0) return <Empty>{empty}</Empty>;
  return (
    <div class="table-wrap">
      <table aria-label={label}>
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c}>{c}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row, i) => (
            <tr key={i}>
              {columns.map((c) => (
                <td key={c}>{show(row[c])}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** A small line chart of the last values (no axes: the number beside it says the latest). */
export function Sparkline({ values, label }: { values: number[]; label: string }) {
  const width = 120;
  const height = 24;
  if (values.length < 2)
    return (
      <svg class="spark" width={width} height={height} role="img" aria-label={label}>
        <title>{label}</title>
      </svg>
    );
  const max = Math.max(1, ...values);
  const step = width / (values.length - 1);
  const points = values
    .map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 4)).toFixed(1)}`)
    .join(" ");
  return (
    <svg class="spark" width={width} height={height} role="img" aria-label={label}>
      <title>{label}</title>
      <polyline points={points} fill="none" stroke="currentColor" stroke-width="1.5" />
    </svg>
  );
}

/** Runs an action, shows its failure or a note of its success. */
export function useAction(): {
  run: (what: string, action: () => Promise<unknown>) => Promise<boolean>;
  message: string | undefined;
  error: string | undefined;
  busy: boolean;
} {
  const [message, setMessage] = useState<string | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const run = useCallback(async (what: string, action: () => Promise<unknown>) => {
    setBusy(true);
    setError(undefined);
    setMessage(undefined);
    try {
      await action();
      setMessage(what);
      return true;
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure));
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { run, message, error, busy };
}

export function Notice({ message }: { message: string | undefined }) {
  if (message === undefined) return null;
  return (
    <div class="notice" role="status">
      {message}
    </div>
  );
}

export function formatTime(value: unknown): string {
  if (value === null || value === undefined || value === "") return "";
  const date = new Date(show(value));
  if (Number.isNaN(date.getTime())) return show(value);
  return date.toISOString().replace("T", " ").replace("Z", "");
}
