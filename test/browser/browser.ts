/**
 * Real Chromium (Debian's `chromium`, driven by `playwright-core`) for the web UI's tests. Every page
 * records the browser console's errors and the page's uncaught exceptions; `assertNoConsoleErrors`
 * fails the test on any. Screenshots go to `ui-screenshots/` (ignored by git).
 */

import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { DIST } from "../e2e/harness.js";

export const CHROMIUM = process.env["KEEL_CHROMIUM"] ?? "/usr/bin/chromium";
export const SCREENSHOTS = join(DIST, "..", "ui-screenshots");

/** Headless, no sandbox (CI runs as root), and none of the browser's own traffic. */
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-default-apps",
  "--disable-domain-reliability",
  "--disable-sync",
  "--disable-extensions",
  "--metrics-recording-only",
  "--no-first-run",
  "--no-default-browser-check",
  "--no-pings",
  "--safebrowsing-disable-auto-update",
];

export async function launchBrowser(): Promise<Browser> {
  assert.ok(
    existsSync(CHROMIUM),
    `no Chromium at ${CHROMIUM}: install Debian's 'chromium' package (.ci/run does) or set KEEL_CHROMIUM`,
  );
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

export interface WatchedPage {
  readonly page: Page;
  readonly errors: string[];
}

export async function openPage(browser: Browser): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => errors.push(`page error: ${error.message}`));
  // The page asks for confirmation before cancel and kill: the tests confirm.
  page.on("dialog", (dialog) => void dialog.accept());
  return { page, errors };
}

export function assertNoConsoleErrors(watched: WatchedPage): void {
  assert.deepEqual(watched.errors, [], "the browser console shows no errors");
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
