import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { WebUi, isWebUiPath } from "./web_ui.js";

/** A WebUi over `directory`, behind a plain HTTP server on loopback. */
async function serve(directory: string): Promise<{ url: string; server: Server }> {
  const ui = new WebUi(directory);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://admin");
    void ui.serve(req, res, url.pathname, url);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe("web UI files", () => {
  const root = mkdtempSync(join(tmpdir(), "keel-web-ui-"));
  const built = join(root, "dist", "ui");
  let url: string;
  let server: Server;

  before(async () => {
    mkdirSync(join(built, "assets"), { recursive: true });
    writeFileSync(join(built, "index.html"), "<!doctype html><title>page</title>");
    writeFileSync(join(built, "assets", "app-1a2b.js"), "export {};");
    writeFileSync(join(built, "assets", "app-1a2b.css"), "body{}");
    writeFileSync(join(root, "dist", "secret.json"), "{}");
    ({ url, server } = await serve(built));
  });
  after(() => {
    server.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("claims the root, /ui and paths under /ui/ only", () => {
    for (const path of ["/", "/ui", "/ui/", "/ui/sql"]) assert.ok(isWebUiPath(path), path);
    for (const path of ["/uix", "/health", "/v2/ui", "/services"])
      assert.ok(!isWebUiPath(path), path);
  });

  it("serves built files with their types, hashed assets for a year, the page revalidated", async () => {
    const script = await fetch(`${url}/ui/assets/app-1a2b.js`);
    assert.equal(script.status, 200);
    assert.equal(script.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.equal(script.headers.get("cache-control"), "public, max-age=31536000, immutable");
    assert.equal(script.headers.get("x-content-type-options"), "nosniff");
    const style = await fetch(`${url}/ui/assets/app-1a2b.css`);
    assert.equal(style.headers.get("content-type"), "text/css; charset=utf-8");
    const page = await fetch(`${url}/ui/`);
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(page.headers.get("cache-control"), "no-cache");
    assert.match(await page.text(), /<title>page<\/title>/);
  });

  it("answers the page for the UI's own paths, 404 for missing files", async () => {
    const deep = await fetch(`${url}/ui/invocations/inv_1?status=running`);
    assert.equal(deep.status, 200);
    assert.match(await deep.text(), /<title>page/);
    assert.equal((await fetch(`${url}/ui/assets/gone-0000.js`)).status, 404);
    assert.equal((await fetch(`${url}/ui/favicon.png`)).status, 404);
  });

  it("never serves a file outside its directory", async () => {
    for (const path of ["/ui/..%2fsecret.json", "/ui/%2e%2e/secret.json", "/ui/..%5csecret.json"]) {
      const res = await fetch(`${url}${path}`);
      assert.notEqual(await res.text(), "{}", path);
    }
    assert.equal((await fetch(`${url}/ui/%E0%A4%A`)).status, 404);
  });

  it("redirects the root and /ui with the query, refuses other methods, answers HEAD bare", async () => {
    const root = await fetch(`${url}/?q=1`, { redirect: "manual" });
    assert.equal(root.status, 308);
    assert.equal(root.headers.get("location"), "/ui/?q=1");
    assert.equal((await fetch(`${url}/ui/`, { method: "POST" })).status, 405);
    const head = await fetch(`${url}/ui/`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
  });

  it("says how to build it when it is not built", async () => {
    const empty = await serve(join(root, "nothing"));
    try {
      const res = await fetch(`${empty.url}/ui/`);
      assert.equal(res.status, 404);
      assert.match(((await res.json()) as { message: string }).message, /npm run build/);
    } finally {
      empty.server.close();
    }
  });
});
