/**
 * The web UI on the admin port, as Restate serves its own: `GET /` and `GET /ui` redirect (308, the
 * query kept) to `/ui/`; under `/ui/`, a built file is served as it is and any other path gets the
 * single page (`index.html`), so deep links and reloads work. The files are what `npm run build`
 * wrote to `dist/ui` (the UI's source is `ui/`); nothing is fetched at run time.
 *
 * Files under `assets/` carry a hash of their content in their name: they are cached for a year
 * (`immutable`); the page itself is revalidated on every load so a new build is seen at once. The UI
 * holds no data: it reads and acts through the admin API's public routes only, with the bearer
 * token the person types in when the API asks for one. Its files are therefore served without one
 * (a browser cannot add a header to a navigation).
 */

import { readFile, stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { sendJson } from "../../platform/io/index.js";

/** `dist/ui`, from `dist/src/admin/io`. */
const DEFAULT_UI_DIRECTORY = fileURLToPath(new URL("../../../ui/", import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

const HASHED_ASSET_CACHE = "public, max-age=31536000, immutable";
const PAGE_CACHE = "no-cache";

/** Whether a request's path (after any `/vN` prefix) is the UI's: the admin router hands it here. */
export function isWebUiPath(path: string): boolean {
  return path === "/" || path === "/ui" || path.startsWith("/ui/");
}

export class WebUi {
  private readonly root: string;

  constructor(directory: string = DEFAULT_UI_DIRECTORY) {
    this.root = resolve(directory);
  }

  async serve(req: IncomingMessage, res: ServerResponse, path: string, url: URL): Promise<void> {
    const method = req.method ?? "GET";
    if (method !== "GET" && method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-length": "0" });
      res.end();
      return;
    }
    if (path === "/" || path === "/ui") {
      res.writeHead(308, { location: `/ui/${url.search}`, "content-length": "0" });
      res.end();
      return;
    }
    const relative = safeDecode(path.slice("/ui/".length));
    const file = relative === undefined ? undefined : await this.file(relative);
    if (file !== undefined) return send(req, res, file, cacheOf(relative!));
    // A missing built file is a 404 (a browser must not run the page as a script); any other path is
    // one of the page's own and gets the page.
    if (relative === undefined || relative.startsWith("assets/") || extname(relative) !== "") {
      return sendJson(res, 404, { message: `no such file of the web UI: ${path}` });
    }
    const page = await this.file("index.html");
    if (page === undefined) {
      return sendJson(res, 404, {
        message: `the web UI is not built (no ${this.root}${sep}index.html): run 'npm run build'`,
      });
    }
    send(req, res, page, PAGE_CACHE);
  }

  /** The file at `relative` under the UI's directory, if it is a file there (never outside it). */
  private async file(relative: string): Promise<{ path: string; bytes: Buffer } | undefined> {
    const path = resolve(this.root, relative === "" ? "index.html" : relative);
    if (path !== this.root && !path.startsWith(this.root + sep)) return undefined;
    try {
      if (!(await stat(path)).isFile()) return undefined;
      return { path, bytes: await readFile(path) };
    } catch {
      return undefined;
    }
  }
}

function cacheOf(relative: string): string {
  return relative.startsWith("assets/") ? HASHED_ASSET_CACHE : PAGE_CACHE;
}

function safeDecode(text: string): string | undefined {
  try {
    const decoded = decodeURIComponent(text);
    return decoded.includes("\0") ? undefined : decoded;
  } catch {
    return undefined;
  }
}

function send(
  req: IncomingMessage,
  res: ServerResponse,
  file: { path: string; bytes: Buffer },
  cacheControl: string,
): void {
  res.writeHead(200, {
    "content-type": CONTENT_TYPES[extname(file.path)] ?? "application/octet-stream",
    "content-length": file.bytes.byteLength,
    "cache-control": cacheControl,
    "x-content-type-options": "nosniff",
  });
  res.end(req.method === "HEAD" ? undefined : file.bytes);
}
