/**
 * Edges of the admin API that the admin fuzz test (test/fuzz/admin_fuzz.test.ts) found answered
 * differently from Restate 1.7.12: SQL that does not parse or holds no statement, HEAD on GET routes,
 * `/vN` prefixes beyond the supported ones, paths matched as sent (no trailing slash, no dot
 * segments, an empty parameter inside a path), the JSON content type the routes with a body require,
 * the deprecated `PUT /deployments/{id}` and `DELETE /invocations/{id}`, a restart's `from` beyond a
 * u32 (a 500), JSON bodies that are not UTF-8, an endpoint registered again with other headers (a
 * second deployment), Kafka cluster names, numbers JSON cannot hold, registrations of URIs that
 * are none, and additional headers HTTP cannot carry (Keel stored them). Runs against both servers
 * (`KEEL_TEST_TARGET=restate`), so every expectation is Restate's behaviour.
 */

import assert from "node:assert/strict";
import { request } from "node:http";
import { describe, it } from "node:test";
import { TARGET, useServerWithServices } from "./harness.js";

interface RawAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
}

/** A request whose path is sent as written (fetch would resolve `%2e%2e` as a dot segment). */
function send(
  base: string,
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const url = new URL(base);
    const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          contentType: String(res.headers["content-type"] ?? ""),
          text: Buffer.concat(chunks).toString("utf8"),
        }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

const JSON_TYPE: Record<string, string> = { "content-type": "application/json" };

function assertJsonError(answer: RawAnswer, status: number, what: string): void {
  assert.equal(answer.status, status, `${what}: ${answer.text}`);
  assert.match(answer.contentType, /^application\/json/, what);
  const message = (JSON.parse(answer.text) as { message?: unknown }).message;
  assert.equal(typeof message, "string", what);
}

describe(`admin API edges (${TARGET})`, () => {
  const stack = useServerWithServices();
  const admin = (method: string, path: string, body?: string | Buffer, headers = JSON_TYPE) =>
    send(stack.server.admin, method, path, body, headers);
  const query = (sql: string) =>
    admin("POST", "/query", JSON.stringify({ query: sql }), {
      ...JSON_TYPE,
      accept: "application/json",
    });

  it("answers SQL that does not parse, or holds no statement, with 400", async () => {
    for (const sql of ["SEL", "SELECT * FROM sys_invocation WHERE ((1)", "", "  ;", "-- nothing"]) {
      assertJsonError(await query(sql), 400, JSON.stringify(sql));
    }
    // More than one statement: Restate's engine runs one and says so with a 500.
    assertJsonError(await query("SELECT 1; SELECT 2"), 500, "two statements");
    assert.equal((await query("SELECT 1;")).status, 200, "one statement and a semicolon");
  });

  it("answers HEAD on a GET route as GET, without a body", async () => {
    const head = await admin("HEAD", "/deployments");
    assert.equal(head.status, 200);
    assert.equal(head.text, "");
    assert.equal((await admin("HEAD", "/services/NoSuchService")).status, 404);
  });

  it("refuses /v1 in plain text and finds no route under other unsupported /vN", async () => {
    const v1 = await admin("GET", "/v1/services");
    assert.equal(v1.status, 400);
    assert.match(v1.text, /^Unsupported Admin API version V1\./);
    for (const path of ["/v0/services", "/v5/services", "/v99/services", "/v2x/services"]) {
      const answer = await admin("GET", path);
      assert.equal(answer.status, 404, path);
      assert.equal(answer.text, "", path);
    }
    assert.equal((await admin("GET", "/v3/services")).status, 200);
  });

  it("matches paths as sent: no trailing slash, no dot segments, empty inner parameters", async () => {
    for (const path of [
      "/services/",
      "/services/Greeter/",
      "/deployments/",
      "/services/Greeter/handlers/",
    ]) {
      const answer = await admin("GET", path);
      assert.equal(answer.status, 404, path);
      assert.equal(answer.text, "", path);
    }
    // An empty service name inside the path is a service that does not exist.
    assertJsonError(await admin("GET", "/services//handlers"), 404, "empty service");
    // `%2e%2e` is an invocation id that does not parse, not a step up to `/purge`.
    for (const path of ["/invocations/%2e%2e/purge", "/invocations//purge"]) {
      assertJsonError(await admin("PATCH", path), 400, path);
    }
  });

  it("requires Content-Type: application/json on routes that read a JSON body (415)", async () => {
    const cases: [string, string, string][] = [
      ["POST", "/deployments", JSON.stringify({ uri: "http://127.0.0.1:1" })],
      ["PATCH", "/services/Counter", "{}"],
      ["POST", "/services/Counter/state", JSON.stringify({ object_key: "k", new_state: {} })],
      ["POST", "/query", JSON.stringify({ query: "SELECT 1" })],
      ["POST", "/subscriptions", "{}"],
      ["POST", "/kafka-clusters", "{}"],
    ];
    for (const [method, path, body] of cases) {
      for (const contentType of [undefined, "text/plain", "application/jsonx", ""]) {
        const headers: Record<string, string> =
          contentType === undefined ? {} : { "content-type": contentType };
        const answer = await admin(method, path, body, headers);
        const what = `${method} ${path} with ${contentType ?? "no content type"}`;
        assert.equal(answer.status, 415, `${what}: ${answer.text}`);
        assert.equal(answer.text, "Expected request with `Content-Type: application/json`", what);
      }
    }
    for (const contentType of ["application/json; charset=utf-8", "application/merge+json"]) {
      const answer = await admin("PATCH", "/services/Counter", "{}", {
        "content-type": contentType,
      });
      assert.equal(answer.status, 200, `${contentType}: ${answer.text}`);
    }
  });

  it("refuses a JSON body that is not UTF-8 instead of storing U+FFFD", async () => {
    const body = Buffer.concat([
      Buffer.from('{"object_key":"a'),
      Buffer.from([0xff]),
      Buffer.from('b","new_state":{"k":"v"}}'),
    ]);
    const answer = await admin("POST", "/services/Counter/state", body);
    assert.equal(answer.status, 400, answer.text);
    assert.match(answer.contentType, /^text\/plain/);
    assert.match(
      answer.text,
      /^Failed to parse the request body as JSON: .*invalid unicode code point/,
    );
    // A byte order mark is no JSON either.
    const marked = await admin(
      "POST",
      "/services/Counter/state",
      '\ufeff{"object_key":"a","new_state":{}}',
    );
    assert.equal(marked.status, 400, marked.text);
    assert.match(marked.text, /^Failed to parse the request body as JSON: /);
  });

  it("registers an endpoint again under other headers as the same deployment", async () => {
    const before = JSON.parse((await admin("GET", "/deployments")).text) as {
      deployments: { id: string }[];
    };
    const again = await admin(
      "POST",
      "/deployments",
      JSON.stringify({ uri: stack.services.url, additional_headers: { "x-edges": "other" } }),
    );
    assert.equal(again.status, 200, again.text);
    assert.equal((JSON.parse(again.text) as { id: string }).id, before.deployments[0]!.id);
    const after = JSON.parse((await admin("GET", "/deployments")).text) as {
      deployments: { id: string }[];
    };
    assert.equal(after.deployments.length, before.deployments.length);
  });

  it("takes Kafka cluster names the http crate takes as URI authorities, reading the body first", async () => {
    for (const name of ["@", "a@", "a:b:c", "::::::::::"]) {
      const answer = await admin("DELETE", `/kafka-clusters/${encodeURIComponent(name)}`);
      assertJsonError(answer, 400, name);
      assert.match(answer.text, /'cluster_name' is invalid\. Reason: invalid authority/, name);
    }
    for (const name of ["a%b@c", "[::1]:90", "u:p@h:1"]) {
      const answer = await admin("DELETE", `/kafka-clusters/${encodeURIComponent(name)}`);
      assertJsonError(answer, 404, name);
    }
    const missing = await admin("PATCH", "/kafka-clusters/a@", "{}");
    assert.equal(missing.status, 422, missing.text);
    const named = await admin("PATCH", "/kafka-clusters/a@", JSON.stringify({ properties: {} }));
    assertJsonError(named, 400, "a@ with properties");
    assert.match(named.text, /invalid authority/);
  });

  it("refuses a number JSON cannot hold in a known field as a parse error (400), not a wrong type", async () => {
    const cases: [string, string, string][] = [
      ["/query", '{"query":1e999}', "query"],
      ["/services/Counter/state", '{"object_key":"a","new_state":{"k":[1e999]}}', "new_state.k[0]"],
      ["/kafka-clusters", '{"name":-1e999,"properties":{}}', "name"],
    ];
    for (const [path, body, field] of cases) {
      const answer = await admin("POST", path, body);
      assert.equal(answer.status, 400, `${body}: ${answer.text}`);
      assert.ok(
        answer.text.startsWith(
          `Failed to parse the request body as JSON: ${field}: number out of range`,
        ),
        answer.text,
      );
    }
  });

  it("refuses a registration whose uri is no http::Uri as a body of neither shape (422)", async () => {
    for (const uri of ["", "not a uri", "http://[::1", "http://a@/x", "http://a:b:c/", "http://"]) {
      const answer = await admin("POST", "/deployments", JSON.stringify({ uri }));
      assert.equal(answer.status, 422, `'${uri}': ${answer.text}`);
      assert.equal(
        answer.text,
        "Failed to deserialize the JSON body into the target type: data did not match any variant of untagged enum RegisterDeploymentRequest",
      );
    }
    // A URI, but not an absolute one.
    assertJsonError(await admin("POST", "/deployments", JSON.stringify({ uri: "x" })), 400, "x");
  });

  it("refuses additional headers HTTP cannot carry, before storing them (422)", async () => {
    const listed = JSON.parse((await admin("GET", "/deployments")).text) as {
      deployments: { id: string }[];
    };
    const id = listed.deployments[0]!.id;
    for (const headers of [{ "a b": "v" }, { x: "a\u0001b" }, { x: "a\nb" }, { "": "v" }]) {
      const registered = await admin(
        "POST",
        "/deployments",
        JSON.stringify({ uri: "http://127.0.0.1:1", additional_headers: headers }),
      );
      assert.equal(registered.status, 422, `${JSON.stringify(headers)}: ${registered.text}`);
      assert.match(registered.text, /untagged enum RegisterDeploymentRequest$/);
      for (const method of ["PATCH", "PUT"]) {
        const updated = await admin(
          method,
          `/deployments/${id}`,
          JSON.stringify({ additional_headers: headers }),
        );
        assert.equal(updated.status, 422, `${method} ${JSON.stringify(headers)}: ${updated.text}`);
        assert.match(updated.text, /untagged enum UpdateDeploymentRequest$/);
      }
    }
    // Nothing was stored: the deployment still serves.
    const deployment = JSON.parse((await admin("GET", `/deployments/${id}`)).text) as {
      additional_headers?: Record<string, string>;
    };
    assert.deepEqual(deployment.additional_headers ?? {}, {});
  });

  it("answers the deprecated PUT /deployments/{id} with 405 from API v3 on, as PATCH before", async () => {
    const listed = JSON.parse((await admin("GET", "/deployments")).text) as {
      deployments: { id: string }[];
    };
    const id = listed.deployments[0]!.id;
    for (const prefix of ["", "/v3", "/v4"]) {
      const put = await admin("PUT", `${prefix}/deployments/${id}`, "{}");
      assertJsonError(put, 405, `PUT under '${prefix}'`);
      assert.match(put.text, /PUT deployment is deprecated, use PATCH instead/);
    }
    const v2 = await admin("PUT", `/v2/deployments/${id}`, "{}");
    assert.equal(v2.status, 200, v2.text);
    assert.equal((JSON.parse(v2.text) as { id: string }).id, id);
  });

  it("refuses a restart-as-new `from` that is not a u32 in plain text (it was a 500)", async () => {
    const unknown = "inv_1000000000000000000000000000000000";
    const cases: [string, string][] = [
      ["99999999999999999999", "number too large to fit in target type"],
      ["4294967296", "number too large to fit in target type"],
      ["", "cannot parse integer from empty string"],
      ["-1", "invalid digit found in string"],
    ];
    for (const [from, reason] of cases) {
      // The query string is read before the id: a bad id changes nothing.
      for (const id of [unknown, "bad"]) {
        const answer = await admin("PATCH", `/invocations/${id}/restart-as-new?from=${from}`);
        assert.equal(answer.status, 400, `from=${from}: ${answer.text}`);
        assert.equal(answer.text, `Failed to deserialize query string: from: ${reason}`);
      }
    }
    // In range, the request reaches the invocation (404; a reference node still electing its
    // partition leaders answers 503).
    const inRange = await admin("PATCH", `/invocations/${unknown}/restart-as-new?from=4294967295`);
    assert.ok([404, 503].includes(inRange.status), `from=2^32-1: ${inRange.text}`);
  });

  it("accepts the deprecated DELETE /invocations/{id} for any valid id, refusing unknown modes", async () => {
    const unknown = "inv_1000000000000000000000000000000000";
    for (const mode of ["", "?mode=Kill", "?mode=purge"]) {
      const answer = await admin("DELETE", `/invocations/${unknown}${mode}`);
      assert.equal(answer.status, 202, `${mode}: ${answer.text}`);
    }
    const bad = await admin("DELETE", `/invocations/${unknown}?mode=Nope`);
    assert.equal(bad.status, 400);
    assert.match(bad.contentType, /^text\/plain/);
    assert.match(bad.text, /^Failed to deserialize query string: mode: unknown variant `Nope`/);
  });
});
