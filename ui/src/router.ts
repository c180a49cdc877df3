// Pages are paths under /ui/ and every filter is in the query string, so any view can be shared as
// a link and the browser's back and forward move between views.
import { useEffect, useState } from "preact/hooks";

export const BASE = "/ui";

export interface Location {
  /** The page's path below /ui, e.g. "/invocations" or "/invocations/inv_1…". */
  readonly path: string;
  readonly query: URLSearchParams;
}

function current(): Location {
  const path = location.pathname.startsWith(BASE)
    ? location.pathname.slice(BASE.length) || "/"
    : "/";
  return { path: path.length > 1 ? path.replace(/\/$/, "") : path, query: currentQuery() };
}

function currentQuery(): URLSearchParams {
  return new URLSearchParams(location.search);
}

const listeners = new Set<() => void>();

function changed(): void {
  for (const listener of listeners) listener();
}

addEventListener("popstate", changed);

/** The URL of a page with a query (empty values left out). */
export function href(path: string, query: Record<string, string | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query))
    if (value !== undefined && value !== "") params.set(key, value);
  const search = params.toString();
  return `${BASE}${path === "/" ? "/" : path}${search === "" ? "" : `?${search}`}`;
}

export function navigate(url: string, replace = false): void {
  if (url === location.pathname + location.search) return;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  changed();
}

export function useLocation(): Location {
  const [loc, setLoc] = useState(current);
  useEffect(() => {
    const listener = () => setLoc(current());
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }, []);
  return loc;
}

/** Follows a click on an in-app link without reloading (a modified click opens a tab as usual). */
export function onLinkClick(event: MouseEvent): void {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const anchor = (event.target as Element | null)?.closest?.("a");
  if (anchor === null || anchor === undefined) return;
  const url = new URL(anchor.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith(BASE)) return;
  if (anchor.target !== "" || anchor.hasAttribute("download")) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
}
