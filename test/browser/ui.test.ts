/**
 * The web UI (issue 21) in real Chromium against one Keel node and the SDK fixtures: the admin port
 * serves it, and every page works through the admin API's public routes and the ingress. Each test
 * fails on the browser console's errors and writes a screenshot of its page.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import type { Browser } from "playwright-core";
import {
  call,
  eventually,
  invocationOf,
  postJson,
  sqlRows,
  startKeel,
  startStack,
  type KeelServer,
  type Stack,
} from "../e2e/harness.js";
import {
  assertNoConsoleErrors,
  launchBrowser,
  openPage,
  screenshot,
  type WatchedPage,
} from "./browser.js";

describe("web UI, one node", () => {
  let stack: Stack;
  let browser: Browser;
  let admin: string;
  const pages: WatchedPage[] = [];

  before(async () => {
    [stack, browser] = await Promise.all([startStack({ server: "keel" }), launchBrowser()]);
    admin = stack.server.admin;
  });
  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  async function open(path: string): Promise<WatchedPage> {
    const watched = await openPage(browser);
    pages.push(watched);
    await watched.page.goto(`${admin}${path}`);
    return watched;
  }

  async function closeChecked(watched: WatchedPage): Promise<void> {
    assertNoConsoleErrors(watched);
    await watched.page.context().close();
  }

  it("is served at /ui/ with a redirect from the root, the page for deep links and cached assets", async () => {
    const root = await fetch(`${admin}/?x=1`, { redirect: "manual" });
    assert.equal(root.status, 308);
    assert.equal(root.headers.get("location"), "/ui/?x=1");
    const deep = await call(`${admin}/ui/invocations/inv_nothing?status=running`);
    assert.equal(deep.status, 200);
    assert.match(deep.headers.get("content-type") ?? "", /^text\/html/);
    assert.equal(deep.headers.get("cache-control"), "no-cache");
    const script = /src="(\/ui\/assets\/[^"]+\.js)"/.exec(deep.text)?.[1];
    assert.ok(script !== undefined, "the page loads a hashed script");
    const asset = await fetch(`${admin}${script}`);
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get("content-type") ?? "", /^text\/javascript/);
    assert.match(asset.headers.get("cache-control") ?? "", /immutable/);
    assert.equal((await fetch(`${admin}/ui/assets/missing-0000.js`)).status, 404);
    assert.equal((await fetch(`${admin}/ui/..%2f..%2fpackage.json`)).status, 404);
    // The API's own routes are untouched.
    assert.equal((await fetch(`${admin}/health`)).status, 200);
  });

  it("shows the node's health and the registered services on the overview", async () => {
    const watched = await open("/");
    const { page } = watched;
    assert.match(page.url(), /\/ui\/$/);
    const services = page.getByRole("table", { name: "Services" });
    await services.getByRole("link", { name: "Greeter", exact: true }).waitFor();
    await page.getByText("ready", { exact: true }).first().waitFor();
    await page
      .getByRole("table", { name: "Deployments" })
      .getByText(stack.services.url)
      .first()
      .waitFor();
    await screenshot(page, "01-overview");
    await closeChecked(watched);
  });

  it("invokes a handler with a JSON body from the service page", async () => {
    const watched = await open("/ui/services/Greeter?handler=greet");
    const { page } = watched;
    await page.getByText("Retry policy").waitFor();
    await page.getByLabel("Body (JSON)").fill('"browser"');
    await page.getByRole("button", { name: "Invoke" }).click();
    const answer = page.getByLabel("Answer");
    await answer.waitFor();
    assert.equal(await answer.textContent(), '"hello browser!"');
    await screenshot(page, "02-service-invoke");
    await closeChecked(watched);
  });

  it("lists the invocation, filtered by service and handler, and shows its journal", async () => {
    const id = await invocationOf(admin, "Greeter/greet", "completed");
    const watched = await open("/ui/invocations");
    const { page } = watched;
    await page.getByLabel("Service").fill("Greeter");
    await page.getByLabel("Handler").fill("greet");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL(/\/ui\/invocations\?service=Greeter&handler=greet$/);
    const row = page.getByRole("table", { name: "Invocations" }).getByRole("link", { name: id });
    await row.waitFor();
    await screenshot(page, "03-invocations");
    // A time filter: nothing was created after 2999, this one after 2000.
    const filtered = `${admin}/ui/invocations?service=Greeter&handler=greet`;
    await page.goto(`${filtered}&since=2999-01-01T00:00`);
    await page.getByText("No invocations match these filters.").waitFor();
    assert.equal(await page.getByLabel("Created since").inputValue(), "2999-01-01T00:00");
    await page.goto(`${filtered}&since=2000-01-01T00:00`);
    await row.waitFor();
    await page.goto(filtered);
    await row.click();
    await page.waitForURL(new RegExp(`/ui/invocations/${id}$`));
    const journal = page.getByRole("list", { name: "Journal" });
    await journal.waitFor();
    const names = await journal.locator(".entry-name").allTextContents();
    for (const step of ["first", "second", "third"]) assert.ok(names.includes(step), step);
    const types = await journal.locator(".entry-type").allTextContents();
    const expected = await sqlRows(
      admin,
      `SELECT entry_type FROM sys_journal WHERE id = '${id}' ORDER BY index`,
    );
    assert.deepEqual(
      types,
      expected.map((r) => r["entry_type"]),
    );
    assert.ok(types.length >= 4, "input, three runs and the output");
    const results = await journal.locator(".entry-result").allTextContents();
    assert.equal(results.at(-1), '"hello browser!"', "the output entry shows the result");
    assert.ok(results.includes('"hello"'), "the first run's result");
    await screenshot(page, "04-invocation-journal");
    // Back returns to the filtered list.
    await page.goBack();
    await page.waitForURL(/\/ui\/invocations\?service=Greeter&handler=greet$/);
    assert.equal(await page.getByLabel("Service").inputValue(), "Greeter");
    await closeChecked(watched);
  });

  it("cancels a suspended workflow and shows its status change", async () => {
    // A second of inactivity and the workflow, waiting for its promise, suspends.
    const patched = await call(`${admin}/services/Signup`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ inactivity_timeout: "1s" }),
    });
    assert.equal(patched.status, 200, patched.text);
    const sent = await postJson(`${stack.server.ingress}/Signup/ui-cancel/run/send`, "a@b.c");
    assert.equal(sent.status, 202, sent.text);
    const id = await invocationOf(admin, "Signup/ui-cancel/run", "suspended");
    const watched = await open(`/ui/invocations?status=suspended&service=Signup`);
    const { page } = watched;
    await page.getByRole("link", { name: id }).click();
    await page.locator(".toolbar .badge-suspended").waitFor();
    // The journal names the state key set and the promise awaited.
    const keys = await page
      .getByRole("list", { name: "Journal" })
      .locator(".entry-key")
      .allTextContents();
    assert.deepEqual(keys, ["stage", "click"]);
    await screenshot(page, "05-invocation-suspended");
    await page.getByRole("button", { name: "Cancel", exact: true }).click();
    await page.getByText("Cancel: accepted").waitFor();
    await page.locator(".toolbar .badge-completed").waitFor();
    const [row] = await sqlRows(
      admin,
      `SELECT status, completion_failure FROM sys_invocation WHERE id = '${id}'`,
    );
    assert.equal(row?.["status"], "completed");
    assert.match(String(row?.["completion_failure"]), /cancel/i);
    await screenshot(page, "06-invocation-cancelled");
    await closeChecked(watched);
  });

  it("shows the retries and last error of a failing invocation, and kills it", async () => {
    const sent = await postJson(
      `${stack.server.ingress}/AdminCompatErrors/keepFailing/send`,
      "ui-retry",
    );
    assert.equal(sent.status, 202, sent.text);
    const id = sent.json<{ invocationId: string }>().invocationId;
    await eventually(async () => {
      const [row] = await sqlRows(
        admin,
        `SELECT retry_count FROM sys_invocation WHERE id = '${id}'`,
      );
      return Number(row?.["retry_count"] ?? 0) >= 2 ? true : undefined;
    }, "a few retries");
    const watched = await open(`/ui/invocations/${id}`);
    const { page } = watched;
    const lastError = page.getByLabel("Last error");
    await lastError.waitFor();
    const shown = (await lastError.textContent()) ?? "";
    assert.match(shown, /transient ui-retry/);
    assert.match(shown, /\n\s+at /, "the error's stack");
    const retried = await page
      .locator("dt", { hasText: "Attempts retried" })
      .locator("+ dd")
      .textContent();
    assert.ok(Number(retried) >= 2, `retried ${retried}`);
    await screenshot(page, "07-invocation-retrying");
    await page.getByRole("button", { name: "Pause", exact: true }).click();
    await page.locator(".toolbar .badge-paused").waitFor();
    await page.getByRole("button", { name: "Resume", exact: true }).click();
    await page.locator(".toolbar .badge-paused").waitFor({ state: "detached" });
    await page.getByRole("button", { name: "Kill", exact: true }).click();
    await page.locator(".toolbar .badge-completed").waitFor();
    await closeChecked(watched);
  });

  it("restarts a completed invocation as new and purges it", async () => {
    const answered = await postJson(`${stack.server.ingress}/Greeter/greet`, "again");
    assert.equal(answered.status, 200, answered.text);
    const id = answered.headers.get("x-restate-id")!;
    const watched = await open(`/ui/invocations/${id}`);
    const { page } = watched;
    await page.getByRole("button", { name: "Restart as new" }).click();
    await page.getByText("Restart as new: accepted").waitFor();
    const restarted = await eventually(async () => {
      const [row] = await sqlRows(
        admin,
        `SELECT id FROM sys_invocation WHERE restarted_from = '${id}' AND status = 'completed'`,
      );
      return row?.["id"] as string | undefined;
    }, "the restarted invocation");
    await page.getByRole("button", { name: "Purge" }).click();
    await page.waitForURL(/\/ui\/invocations$/);
    await eventually(async () => {
      const rows = await sqlRows(admin, `SELECT id FROM sys_invocation WHERE id = '${id}'`);
      return rows.length === 0 ? true : undefined;
    }, "the purged invocation gone");
    await page.goto(`${admin}/ui/invocations/${restarted}`);
    await page.getByText(`Restarted from`).waitFor();
    await closeChecked(watched);
  });

  it("cancels the invocations selected in the list", async () => {
    for (const tag of ["ui-bulk-1", "ui-bulk-2"])
      assert.equal((await postJson(`${stack.server.ingress}/Sleeper/long/send`, tag)).status, 202);
    await eventually(async () => {
      const rows = await sqlRows(
        admin,
        "SELECT id FROM sys_invocation WHERE target = 'Sleeper/long' AND status = 'suspended'",
      );
      return rows.length === 2 ? true : undefined;
    }, "two suspended sleepers");
    const watched = await open("/ui/invocations?status=suspended&service=Sleeper&handler=long");
    const { page } = watched;
    const table = page.getByRole("table", { name: "Invocations" });
    await eventually(
      async () => ((await table.locator("tbody tr").count()) === 2 ? true : undefined),
      "two rows",
    );
    await page.getByLabel("Select all on this page").check();
    await page.getByRole("button", { name: "Cancel selected" }).click();
    await page.getByText("cancel: 2 of 2 accepted").waitFor();
    await page.getByText("No invocations match these filters.").waitFor();
    await screenshot(page, "08-invocations-bulk-cancelled");
    const rows = await sqlRows(
      admin,
      "SELECT completion_result FROM sys_invocation WHERE target = 'Sleeper/long'",
    );
    assert.deepEqual(
      rows.map((r) => r["completion_result"]),
      ["success", "success"],
      "each sleeper caught its cancellation and ended",
    );
    await closeChecked(watched);
  });

  it("links an invocation to its callees and a callee to its caller", async () => {
    const called = await postJson(
      `${stack.server.ingress}/AdminCompatErrors/catchFromCallee`,
      "ui-related",
    );
    assert.equal(called.status, 200, called.text);
    const caller = await invocationOf(admin, "AdminCompatErrors/catchFromCallee");
    const callee = await invocationOf(admin, "AdminCompatErrors/failWithMetadata");
    const watched = await open(`/ui/invocations/${caller}`);
    const { page } = watched;
    await page.getByRole("list", { name: "Callees" }).getByRole("link").click();
    await page.waitForURL(new RegExp(`/ui/invocations/${callee}$`));
    await page.getByRole("link", { name: new RegExp(caller) }).waitFor();
    await closeChecked(watched);
  });

  it("edits a virtual object's state", async () => {
    const added = await postJson(`${stack.server.ingress}/Counter/ui-state/add`, 1);
    assert.equal(added.status, 200, added.text);
    const watched = await open("/ui/state?service=Counter");
    const { page } = watched;
    await page.getByRole("link", { name: "ui-state" }).click();
    await page.waitForURL(/\/ui\/state\?service=Counter&key=ui-state$/);
    const value = page.getByLabel("Value of count");
    await value.waitFor();
    assert.equal(await value.inputValue(), "1");
    // The state changes after the page read it: the page's edit carries the version it read
    // (as `restate kv edit` does) and is dropped.
    const behind = await postJson(`${stack.server.ingress}/Counter/ui-state/add`, 1);
    assert.equal(behind.text, "2");
    await value.fill("41");
    await page.getByRole("button", { name: "Save state" }).click();
    await page.getByText("Saved:").waitFor();
    // Queued behind the edit in the key's inbox: 3 if the edit was dropped, 42 if it applied.
    const afterStale = await postJson(`${stack.server.ingress}/Counter/ui-state/add`, 1);
    assert.equal(afterStale.text, "3", "a stale edit is dropped");
    await eventually(
      async () => ((await value.inputValue()) === "3" ? true : undefined),
      "the page showing the state as it is",
    );
    // Read afresh, the edit applies.
    await value.fill("41");
    await page.getByRole("button", { name: "Save state" }).click();
    await page.getByText("Saved:").waitFor();
    const after = await eventually(async () => {
      const got = await postJson(`${stack.server.ingress}/Counter/ui-state/get`, null);
      return got.text === "41" ? got.text : undefined;
    }, "the edited state");
    assert.equal(after, "41");
    const next = await postJson(`${stack.server.ingress}/Counter/ui-state/add`, 1);
    assert.equal(next.text, "42");
    await page.reload();
    await eventually(
      async () =>
        (await page.getByLabel("Value of count").inputValue()) === "42" ? true : undefined,
      "the page shows the new state",
    );
    await screenshot(page, "09-state");
    await closeChecked(watched);
  });

  it("runs a SQL query, lists the tables and exports CSV", async () => {
    const watched = await open("/ui/sql");
    const { page } = watched;
    const tables = page.getByRole("complementary", { name: "Tables" });
    await tables.getByText("sys_invocation", { exact: true }).waitFor();
    await page.getByLabel("SQL query").fill("SELECT name, ty FROM sys_service ORDER BY name");
    await page.getByLabel("SQL query").press("Control+Enter");
    await page.waitForURL(/\/ui\/sql\?q=SELECT/);
    const results = page.getByRole("table", { name: "Results" });
    await results.getByRole("cell", { name: "Greeter", exact: true }).waitFor();
    const expected = await sqlRows(admin, "SELECT name, ty FROM sys_service ORDER BY name");
    assert.equal(await results.locator("tbody tr").count(), expected.length);
    const download = page.waitForEvent("download");
    await page.getByRole("button", { name: "Export CSV" }).click();
    const file = await (await download).path();
    const csv = readFileSync(file, "utf8").trim().split(/\r\n/);
    assert.equal(csv[0], "name,ty");
    assert.ok(csv.includes("Greeter,service") || csv.some((l) => l.startsWith("Greeter,")));
    assert.equal(csv.length, expected.length + 1);
    await screenshot(page, "10-sql");
    // A bad query shows its error, not a broken page.
    await page.getByLabel("SQL query").fill("SELECT nothing FROM nowhere");
    await page.getByRole("button", { name: /Run/ }).click();
    await page.getByRole("alert").waitFor();
    await closeChecked(withoutTheAskedForFailure(watched));
  });

  it("moves between pages by keyboard and with back and forward, and shows the node's partitions", async () => {
    const watched = await open("/ui/");
    const { page } = watched;
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    await page.keyboard.press("g");
    await page.keyboard.press("c");
    await page.waitForURL(/\/ui\/cluster$/);
    await page.getByRole("table", { name: "Partitions" }).waitFor();
    await page.keyboard.press("g");
    await page.keyboard.press("s");
    await page.waitForURL(/\/ui\/services$/);
    await page.goBack();
    await page.waitForURL(/\/ui\/cluster$/);
    await page.goForward();
    await page.waitForURL(/\/ui\/services$/);
    await page.getByRole("heading", { name: "Services" }).waitFor();
    await screenshot(page, "11-services");
    await page.goto(`${admin}/ui/cluster`);
    // Two polls give a throughput figure per partition.
    await page
      .getByText(/\d+\.\d\/s/)
      .first()
      .waitFor();
    await screenshot(page, "12-partitions-single-node");
    await page.goto(`${admin}/ui/no/such/page`);
    await page.getByRole("heading", { name: "Not found" }).waitFor();
    await closeChecked(watched);
  });
});

/**
 * Chromium logs a failed request (here the bad query's answer) as a console error; that one was
 * asked for, so it alone is set aside.
 */
function withoutTheAskedForFailure(watched: WatchedPage): WatchedPage {
  const errors = [...watched.errors];
  const asked = errors.findIndex((e) =>
    /Failed to load resource: the server responded with a status of [45]\d\d/.test(e),
  );
  assert.ok(asked >= 0, "the bad query failed");
  errors.splice(asked, 1);
  return { page: watched.page, errors };
}

describe("web UI, admin API with a token", () => {
  const token = "ui-admin-token-0123456789";
  let server: KeelServer;
  let browser: Browser;

  before(async () => {
    [server, browser] = await Promise.all([
      startKeel({ env: { KEEL_ADMIN_TOKEN: token } }),
      launchBrowser(),
    ]);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    server?.cleanup();
  });

  it("serves the page without the token, says the API wants one, and works once it is typed in", async () => {
    assert.equal((await fetch(`${server.admin}/keel/status`)).status, 401);
    const watched = await openPage(browser);
    const { page } = watched;
    await page.goto(`${server.admin}/ui/`);
    await page.getByText("set the admin token in the menu").first().waitFor();
    await screenshot(page, "15-admin-token-asked");
    await page.getByRole("button", { name: "Set admin token" }).click();
    await page.getByLabel("Admin API token").fill(token);
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByText("ready", { exact: true }).first().waitFor();
    assert.equal(await page.getByRole("alert").count(), 0);
    // The requests refused before the token was typed in (401) are the only errors.
    const unexpected = watched.errors.filter(
      (e) => !/Failed to load resource: the server responded with a status of 401/.test(e),
    );
    assert.ok(watched.errors.length > 0 && unexpected.length === 0, watched.errors.join("\n"));
    await page.context().close();
  });
});
