/**
 * What a web UI on the admin port relies on, as Restate 1.7.12 behaves (issue 21): the admin root
 * and `/ui` redirect (308, the query kept) to `/ui/`, which serves a page, and deep links under
 * `/ui/` get the same page; the ingress mirrors a request's `Origin` on its answers (not only on
 * preflights), so a page served by the admin port may read what a call it made returned. Runs
 * against both servers (`KEEL_TEST_TARGET=restate`).
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TARGET, call, useServerWithServices } from "./harness.js";

describe(`web UI surface compatibility (${TARGET})`, () => {
  const stack = useServerWithServices({ server: "target" });

  it("redirects the admin root and /ui to /ui/ with the query kept", async () => {
    for (const [path, location] of [
      ["/", "/ui/"],
      ["/?a=1", "/ui/?a=1"],
      ["/ui", "/ui/"],
    ] as const) {
      const res = await fetch(`${stack.server.admin}${path}`, { redirect: "manual" });
      assert.equal(res.status, 308, path);
      assert.equal(res.headers.get("location"), location, path);
    }
  });

  it("serves the page at /ui/ and for deep links under it", async () => {
    for (const path of ["/ui/", "/ui/invocations/inv_1abc", "/ui/some/page?x=1"]) {
      const res = await call(`${stack.server.admin}${path}`);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get("content-type") ?? "", /^text\/html/, path);
      assert.match(res.text, /<html/i, path);
    }
  });

  it("mirrors the Origin of an ingress request on its answer", async () => {
    const origin = "http://localhost:9070";
    const res = await call(`${stack.server.ingress}/Greeter/greet`, {
      method: "POST",
      headers: { "content-type": "application/json", origin },
      body: JSON.stringify("cors"),
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers.get("access-control-allow-origin"), origin);
    assert.equal(res.headers.get("access-control-allow-credentials"), "true");
    const unknown = await call(`${stack.server.ingress}/NoSuchService/handler`, {
      method: "POST",
      headers: { "content-type": "application/json", origin },
      body: "{}",
    });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.headers.get("access-control-allow-origin"), origin);
  });
});
