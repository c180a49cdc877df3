/**
 * Admin API and introspection behaviours where Keel once differed from Restate 1.7.12: terminal
 * error metadata on every surface, generated idempotency keys, `last_failure_error_code`, numeric
 * casts of time columns, per-service OpenAPI documents, the Kafka subscription routes, and the
 * revisions of services across re-registered, forced and deleted deployments. Runs against both
 * servers (`KEEL_TEST_TARGET=restate`), so every expectation is Restate's behaviour.
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { RECORDED_OPENAPI } from "../fixtures/admin_compat_openapi.js";
import {
  TARGET,
  call,
  eventually,
  invocationOf,
  postJson,
  sqlRows,
  startServices,
  startStack,
  tempDir,
  type CallResult,
  type KeelServer,
  type ServiceEndpoint,
  type SqlRow,
  type Stack,
  runRestateCli,
} from "./harness.js";

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const SUBSCRIPTION_ID = "sub_17KtIj9ZtDgK5P3BwOG8fWp";

describe(`admin API compatibility (${TARGET})`, () => {
  let stack: Stack;
  let server: KeelServer;
  let home: string;
  const extraEndpoints: ServiceEndpoint[] = [];

  const admin = (method: string, path: string, body?: unknown): Promise<CallResult> =>
    call(`${server.admin}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      ...(body === undefined
        ? {}
        : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
  const ingress = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    postJson(`${server.ingress}${path}`, body, headers);
  const rows = (query: string): Promise<SqlRow[]> => sqlRows(server.admin, query);
  const cli = (args: string[]) =>
    runRestateCli(args, { admin: server.admin, ingress: server.ingress, home });
  /** An endpoint serving one version of `AdminCompatVersioned` (test/fixtures/admin_compat_endpoint.ts). */
  const versionedEndpoint = async (version: number): Promise<ServiceEndpoint> => {
    const endpoint = await startServices({
      fixture: { script: "admin_compat_endpoint.js", args: [String(version)] },
    });
    extraEndpoints.push(endpoint);
    return endpoint;
  };

  before(async () => {
    home = tempDir("compat-admin-home");
    stack = await startStack();
    server = stack.server;
  });

  after(async () => {
    for (const endpoint of extraEndpoints) await endpoint.stop();
    await stack?.stop();
  });

  describe("terminal errors with metadata", () => {
    const failed = (tag: string) => ({
      code: 422,
      message: `failed ${tag}`,
      metadata: { key1: "value1", tag },
      source: "invocation",
    });

    it("reach the ingress caller with their metadata", async () => {
      const res = await ingress("/AdminCompatErrors/failWithMetadata", "a");
      assert.equal(res.status, 422);
      assert.deepEqual(res.json(), failed("a"));
      const inRun = await ingress("/AdminCompatErrors/failInRun", "b");
      assert.equal(inRun.status, 409);
      assert.deepEqual(inRun.json(), {
        code: 409,
        message: "run failed b",
        metadata: { key1: "value1", step: "run" },
        source: "invocation",
      });
    });

    it("reach a calling service that catches them", async () => {
      const res = await ingress("/AdminCompatErrors/catchFromCallee", "c");
      assert.equal(res.status, 200);
      assert.deepEqual(res.json(), {
        code: 422,
        message: "failed c",
        metadata: failed("c").metadata,
      });
    });

    it("come back from attach and output, by id and by idempotency key", async () => {
      const sent = await ingress("/AdminCompatErrors/failWithMetadata/send", "d", {
        "idempotency-key": "compat-metadata",
      });
      assert.equal(sent.status, 202);
      const id = sent.json<{ invocationId: string }>().invocationId;
      const attached = await call(`${server.ingress}/restate/invocation/${id}/attach`);
      assert.equal(attached.status, 422);
      assert.deepEqual(attached.json(), failed("d"));
      const output = await call(`${server.ingress}/restate/invocation/${id}/output`);
      assert.deepEqual([output.status, output.json()], [422, failed("d")]);
      const byKey = await call(
        `${server.ingress}/restate/invocation/AdminCompatErrors/failWithMetadata/compat-metadata/output`,
      );
      assert.deepEqual([byKey.status, byKey.json()], [422, failed("d")]);
    });

    it("are journaled with their metadata and summarised without it", async () => {
      const res = await ingress("/AdminCompatErrors/failInRun", "j");
      assert.equal(res.status, 409);
      const id = res.headers.get("x-restate-id");
      const journal = await rows(
        `SELECT index, entry_type, entry_json FROM sys_journal WHERE id = '${id}' ORDER BY index`,
      );
      const failure = {
        code: 409,
        message: "run failed j",
        metadata: [
          { key: "key1", value: "value1" },
          { key: "step", value: "run" },
        ],
      };
      const output = journal.find((r) => r["entry_type"] === "Command: Output");
      assert.deepEqual(JSON.parse(String(output?.["entry_json"])), {
        Command: { Output: { result: { Failure: failure }, name: "" } },
      });
      const run = journal.find((r) => r["entry_type"] === "Notification: Run");
      assert.deepEqual(JSON.parse(String(run?.["entry_json"])), {
        Notification: { Completion: { Run: { completion_id: 1, result: { Failure: failure } } } },
      });
      const [status] = await rows(
        `SELECT completion_result, completion_failure FROM sys_invocation WHERE id = '${id}'`,
      );
      assert.deepEqual(status, {
        completion_result: "failure",
        completion_failure: "[409] run failed j",
      });
    });
  });

  describe("introspection", () => {
    it("gives calls and sends without an idempotency key a generated one, except workflows", async () => {
      assert.equal((await ingress("/AdminCompatTyped/plain", "call")).status, 200);
      assert.equal((await ingress("/Counter/compat/add/send", 1)).status, 202);
      assert.equal((await ingress("/Signup/compat@example.com/run/send", "x")).status, 202);
      const keyOf = async (target: string): Promise<unknown> => {
        const id = await invocationOf(server.admin, target);
        const [row] = await rows(`SELECT idempotency_key FROM sys_invocation WHERE id = '${id}'`);
        return row?.["idempotency_key"];
      };
      const callKey = await keyOf("AdminCompatTyped/plain");
      assert.match(String(callKey), ULID);
      assert.match(String(await keyOf("Counter/compat/add")), ULID);
      assert.equal(await keyOf("Signup/compat@example.com/run"), undefined, "NULL");
      // The key is a real one: the result can be fetched by it.
      const output = await call(
        `${server.ingress}/restate/invocation/AdminCompatTyped/plain/${String(callKey)}/output`,
      );
      assert.deepEqual([output.status, output.json()], [200, "call"]);
    });

    it("names Restate's error code of the last failure of a retrying invocation", async () => {
      const sent = await ingress("/AdminCompatErrors/keepFailing/send", "e");
      const id = sent.json<{ invocationId: string }>().invocationId;
      const failing = await eventually(async () => {
        const [row] = await rows(
          `SELECT last_failure_error_code, status FROM sys_invocation WHERE id = '${id}' AND last_failure IS NOT NULL`,
        );
        return row;
      }, "the first failure");
      assert.equal(failing["last_failure_error_code"], "RT0007", "an error the SDK reported");
      const [state] = await rows(
        `SELECT last_failure_error_code FROM sys_invocation_state WHERE id = '${id}'`,
      );
      assert.equal(state?.["last_failure_error_code"], "RT0007");
      assert.equal((await admin("PATCH", `/invocations/${id}/kill`)).status, 200);
    });

    it("casts time columns to numbers as milliseconds since the epoch", async () => {
      const id = await invocationOf(server.admin, "AdminCompatTyped/plain", "completed");
      const [row] = await rows(
        `SELECT created_at, CAST(created_at AS BIGINT) AS ms, i.modified_at::BIGINT AS modified,
          TRY_CAST(created_at AS DOUBLE) AS float_ms, CAST(completion_retention AS BIGINT) AS retention
         FROM sys_invocation i WHERE id = '${id}'`,
      );
      assert.ok(row !== undefined);
      const created = Date.parse(String(row["created_at"]));
      assert.equal(row["ms"], created);
      assert.equal(row["float_ms"], created);
      assert.ok(typeof row["modified"] === "number" && row["modified"] >= created);
      assert.equal(row["retention"], 86_400_000);
    });
  });

  describe("service OpenAPI documents", () => {
    for (const service of Object.keys(RECORDED_OPENAPI)) {
      it(`documents ${service} as Restate does`, async () => {
        const res = await admin("GET", `/services/${service}/openapi`);
        assert.equal(res.status, 200);
        assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
        const { servers, ...document } = res.json<Record<string, unknown>>();
        assert.deepEqual(servers, [
          { description: "Restate Ingress URL", url: `${server.ingress}/` },
        ]);
        assert.deepEqual(document, RECORDED_OPENAPI[service]);
      });
    }

    it("refuses ingress calls to private services and handlers in Restate's words", async () => {
      for (const path of ["/AdminCompatTyped/hidden", "/AdminCompatInternal/ping/send"]) {
        const res = await ingress(path, null);
        assert.deepEqual(
          [res.status, res.json()],
          [400, { code: 400, message: "the invoked service is not public", source: "ingress" }],
          path,
        );
      }
    });

    it("serves the call and send paths the documents name", async () => {
      const called = await ingress("/restate/call/AdminCompatTyped/greet", { name: "doc" });
      assert.deepEqual([called.status, called.json()], [200, "hello doc"]);
      const sent = await ingress("/restate/send/AdminCompatTypedObject/doc/put", 7);
      assert.equal(sent.status, 202);
      assert.equal(sent.json<{ status: string }>().status, "Accepted");
      const peeked = await eventually(async () => {
        const res = await ingress("/restate/call/AdminCompatTypedObject/doc/peek", null);
        return res.json() === 7 ? res : undefined;
      }, "the sent value");
      assert.equal(peeked.status, 200);
      const tooShort = await ingress("/restate/call/AdminCompatTyped", null);
      assert.equal(tooShort.status, 400);
      assert.match(
        tooShort.json<{ message: string }>().message,
        /^bad path, expected \/restate\/call\//,
      );
    });

    it("answers 404 for an unknown service", async () => {
      const res = await admin("GET", "/services/Nope/openapi");
      assert.equal(res.status, 404);
      assert.deepEqual(res.json(), {
        message: "The requested service 'Nope' does not exist",
        restate_code: null,
      });
    });
  });

  describe("path parameters", () => {
    it("refuses one that is not UTF-8 with 400, and keeps an escape that is not hex", async () => {
      for (const [path, name] of [
        ["/services/%E0%A4%A", "service"],
        ["/deployments/%FF", "deployment"],
        ["/services/Greeter/handlers/%C3", "handler"],
      ]) {
        const res = await admin("GET", path!);
        assert.deepEqual(
          [res.status, res.text],
          [400, `Invalid URL: Invalid UTF-8 in \`${name}\``],
        );
      }
      const literal = await admin("GET", "/kafka-clusters/%ZZ");
      assert.deepEqual(
        [literal.status, literal.json()],
        [404, { message: "The requested Kafka cluster '%ZZ' does not exist", restate_code: null }],
      );
      const decoded = await admin("GET", "/services/Gr%65eter");
      assert.equal(decoded.status, 200);
    });
  });

  describe("Kafka subscriptions", () => {
    const create = (body: unknown) => admin("POST", "/subscriptions", body);
    const invalid = (field: string, uri: string, reason: string) => ({
      message: `[META0009] invalid ${field} URI '${uri}': ${reason}`,
      restate_code: "META0009",
    });

    it("lists none, and knows no subscription id", async () => {
      const list = await admin("GET", "/subscriptions");
      assert.deepEqual([list.status, list.json()], [200, { subscriptions: [] }]);
      const get = await admin("GET", `/subscriptions/${SUBSCRIPTION_ID}`);
      assert.deepEqual(
        [get.status, get.json()],
        [
          404,
          {
            message: `The requested subscription '${SUBSCRIPTION_ID}' does not exist`,
            restate_code: null,
          },
        ],
      );
      const del = await admin("DELETE", `/subscriptions/${SUBSCRIPTION_ID}`);
      assert.deepEqual(
        [del.status, del.json()],
        [
          404,
          {
            message: `not found in the schema registry: subscription with id '${SUBSCRIPTION_ID}'`,
            restate_code: null,
          },
        ],
      );
      const bad = await admin("GET", "/subscriptions/nope");
      assert.deepEqual(
        [bad.status, bad.text],
        [400, "Invalid URL: Cannot parse `subscription` with value `nope`: bad format"],
      );
    });

    it("refuses a subscription on an unknown Kafka cluster, naming the known ones", async () => {
      const res = await create({
        source: "kafka://my-cluster/orders",
        sink: "service://Greeter/greet",
        options: { "auto.offset.reset": "earliest" },
      });
      assert.equal(res.status, 400);
      assert.deepEqual(res.json(), {
        message: "Kafka cluster 'my-cluster' not found. Available clusters: []",
        restate_code: null,
      });
    });

    it("validates the source and sink first, as Restate does", async () => {
      const cases: [unknown, number, unknown][] = [
        [
          { source: "http://x/orders", sink: "service://Greeter/greet" },
          400,
          invalid(
            "source",
            "http://x/orders",
            "must have a scheme segment, with supported schemes: [kafka].",
          ),
        ],
        [
          { source: "kafka://c/t", sink: "http://Greeter/greet" },
          400,
          invalid(
            "sink",
            "http://Greeter/greet",
            "must have a scheme segment, with supported schemes: [service].",
          ),
        ],
        [
          { source: "kafka://c/t", sink: "service://Nope/greet" },
          400,
          invalid(
            "sink",
            "service://Nope/greet",
            "cannot find service/handler specified in the sink URI.",
          ),
        ],
        [
          { source: "kafka://c/t", sink: "service://Greeter" },
          400,
          invalid(
            "sink",
            "service://Greeter/",
            "cannot find service/handler specified in the sink URI.",
          ),
        ],
      ];
      for (const [body, status, answer] of cases) {
        const res = await create(body);
        assert.deepEqual([res.status, res.json()], [status, answer], JSON.stringify(body));
      }
      const deserialize = "Failed to deserialize the JSON body into the target type: ";
      const malformed: [unknown, string][] = [
        [{ sink: "service://Greeter/greet" }, "missing field `source`"],
        [{ source: "kafka://c/t" }, "missing field `sink`"],
        [{ source: "kafka:///t", sink: "service://Greeter/greet" }, "source: invalid format"],
        [
          { source: "kafka://c/t x", sink: "service://Greeter/greet" },
          "source: invalid uri character",
        ],
        [{ source: "kafka://c/t", sink: 1 }, "sink: invalid type: integer `1`, expected a string"],
        [
          { source: "kafka://c/t", sink: "service://G/h", options: { a: 1 } },
          "options.a: invalid type",
        ],
      ];
      for (const [body, reason] of malformed) {
        const res = await create(body);
        assert.equal(res.status, 422, JSON.stringify(body));
        assert.ok(
          res.text.startsWith(`${deserialize}${reason}`),
          `${JSON.stringify(body)}: ${res.text}`,
        );
      }
      const garbage = await create("garbage");
      assert.equal(garbage.status, 400);
      assert.match(garbage.text, /^Failed to parse the request body as JSON/);
    });

    it("work with the official CLI", async () => {
      const list = await cli(["subscriptions", "list"]);
      assert.equal(list.code, 0, list.out);
      assert.match(list.out, /No subscriptions registered/);
      const created = await cli([
        "subscriptions",
        "create",
        "--yes",
        "kafka://my-cluster/orders",
        "service://Greeter/greet",
      ]);
      assert.notEqual(created.code, 0);
      assert.match(created.out, /Kafka cluster 'my-cluster' not found\. Available clusters: \[\]/);
      const described = await cli(["subscriptions", "describe", SUBSCRIPTION_ID]);
      assert.notEqual(described.code, 0);
      assert.match(described.out, /The requested subscription '\w+' does not exist/);
    });
  });

  describe("deployments of several revisions of a service", () => {
    let v1: ServiceEndpoint;
    let v1Id: string;
    const register = (uri: string, extra: Record<string, unknown> = {}) =>
      admin("POST", "/deployments", { uri, ...extra });
    const revisionsOf = (res: CallResult) =>
      res
        .json<{ services: { name: string; revision: number }[] }>()
        .services.map((s) => [s.name, s.revision]);
    const activeRevision = async (): Promise<[string, number]> => {
      const res = await admin("GET", "/services/AdminCompatVersioned");
      const body = res.json<{ deployment_id: string; revision: number }>();
      return [body.deployment_id, body.revision];
    };

    it("answers a repeated registration unchanged, without a new revision", async () => {
      v1 = await versionedEndpoint(1);
      const first = await register(v1.url);
      assert.equal(first.status, 201);
      v1Id = first.json<{ id: string }>().id;
      assert.deepEqual(revisionsOf(first), [["AdminCompatVersioned", 1]]);
      const again = await register(v1.url);
      assert.equal(again.status, 200);
      assert.equal(again.headers.get("location"), `deployments/${v1Id}`);
      assert.equal(again.json<{ id: string }>().id, v1Id);
      assert.deepEqual(revisionsOf(again), [["AdminCompatVersioned", 1]]);
    });

    it("bumps the revisions of an unchanged endpoint registered with force", async () => {
      const createdAt = async (): Promise<number> =>
        Date.parse(
          (await admin("GET", `/deployments/${v1Id}`)).json<{ created_at: string }>().created_at,
        );
      const before = await createdAt();
      const forced = await register(v1.url, { force: true });
      assert.equal(forced.status, 200);
      assert.equal(forced.json<{ id: string }>().id, v1Id, "overwritten in place");
      assert.deepEqual(revisionsOf(forced), [["AdminCompatVersioned", 2]]);
      assert.deepEqual(await activeRevision(), [v1Id, 2]);
      assert.ok((await createdAt()) > before, "an overwritten deployment counts as created anew");
      const out = await cli(["deployments", "register", "--yes", "--force", v1.url]);
      assert.equal(out.code, 0, out.out);
      assert.match(out.out, /SERVICES THAT WILL BE UPDATED/);
      assert.doesNotMatch(out.out, /SERVICES THAT WILL BE ADDED/);
      assert.match(out.out, /Revision: 2 -> 3/);
      assert.match(out.out, /AdminCompatVersioned\s+3/);
      assert.deepEqual(await activeRevision(), [v1Id, 3]);
    });

    it("refuses a change of the service's type unless breaking changes are allowed", async () => {
      const asObject = await versionedEndpoint(10);
      const res = await register(asObject.url);
      assert.equal(res.status, 409);
      assert.deepEqual(res.json(), {
        message:
          "[META0006] detected a new service revision for 'AdminCompatVersioned' changing the service type from previous revision. Service type cannot be changed across revisions.",
        restate_code: "META0006",
      });
      const dryRun = await register(asObject.url, { breaking: true, dry_run: true });
      assert.equal(dryRun.status, 201);
      assert.deepEqual(revisionsOf(dryRun), [["AdminCompatVersioned", 4]]);
      assert.deepEqual(await activeRevision(), [v1Id, 3], "a dry run changes nothing");
    });

    it("refuses a reserved service name", async () => {
      const res = await register((await versionedEndpoint(30)).url);
      assert.equal(res.status, 400);
      assert.deepEqual(res.json(), {
        message:
          "[META0005] cannot insert/modify service 'RestateCompatVersioned' as it contains a reserved name",
        restate_code: "META0005",
      });
    });

    it("refuses a private service with a handler explicitly public", async () => {
      const res = await register((await versionedEndpoint(20)).url);
      assert.equal(res.status, 400);
      assert.deepEqual(res.json(), {
        message:
          "The service AdminCompatVersioned is private, but the which is explicitly set as public. This is not supported. Please make the service public, and hide the individual handlers",
        restate_code: null,
      });
    });

    it("falls back to the newest remaining revision when the newest deployment is deleted", async () => {
      const v4 = await versionedEndpoint(4);
      const v2 = await versionedEndpoint(2);
      const registeredV4 = await register(v4.url);
      assert.equal(registeredV4.status, 201);
      const v4Id = registeredV4.json<{ id: string }>().id;
      assert.deepEqual(revisionsOf(registeredV4), [["AdminCompatVersioned", 4]]);
      const registeredV2 = await register(v2.url, { force: true });
      assert.equal(registeredV2.status, 201);
      const v2Id = registeredV2.json<{ id: string }>().id;
      assert.deepEqual(revisionsOf(registeredV2), [["AdminCompatVersioned", 5]]);
      assert.deepEqual((await ingress("/AdminCompatVersioned/which", null)).json(), "v2");

      const listed = async (): Promise<Record<string, unknown>> => {
        const res = await admin("GET", "/deployments");
        const entries = res
          .json<{ deployments: { id: string; services: unknown }[] }>()
          .deployments.filter((d) => [v1Id, v2Id, v4Id].includes(d.id))
          .map((d) => [d.id, d.services]);
        return Object.fromEntries(entries);
      };
      assert.deepEqual(await listed(), {
        [v1Id]: [{ name: "AdminCompatVersioned", revision: 3 }],
        [v4Id]: [{ name: "AdminCompatVersioned", revision: 4 }],
        [v2Id]: [{ name: "AdminCompatVersioned", revision: 5 }],
      });

      assert.equal((await admin("DELETE", `/deployments/${v2Id}?force=true`)).status, 202);
      assert.deepEqual(await activeRevision(), [v4Id, 4]);
      assert.deepEqual(await listed(), {
        [v1Id]: [{ name: "AdminCompatVersioned", revision: 3 }],
        [v4Id]: [{ name: "AdminCompatVersioned", revision: 4 }],
      });
      const detailed = await admin("GET", `/deployments/${v1Id}`);
      assert.deepEqual(
        detailed
          .json<{ services: { revision: number; deployment_id: string }[] }>()
          .services.map((s) => [s.revision, s.deployment_id]),
        [[3, v1Id]],
      );
      const handlers = (await admin("GET", "/services/AdminCompatVersioned/handlers")).json<{
        handlers: { name: string }[];
      }>();
      assert.deepEqual(handlers.handlers.map((h) => h.name).sort(), ["extra", "which"]);
      const which = await eventually(async () => {
        const res = await ingress("/AdminCompatVersioned/which", null);
        return res.status === 200 && res.json() === "v4" ? res : undefined;
      }, "invocations to reach the fallback deployment");
      assert.equal(which.json(), "v4");
      assert.deepEqual(
        (await ingress("/AdminCompatVersioned/extra", null)).json(),
        "extra from v4",
      );

      assert.equal((await admin("DELETE", `/deployments/${v4Id}?force=true`)).status, 202);
      assert.deepEqual(await activeRevision(), [v1Id, 3]);
      await eventually(async () => {
        const res = await ingress("/AdminCompatVersioned/which", null);
        return res.json() === "v1" ? true : undefined;
      }, "invocations to reach the oldest deployment");
    });

    it("deletes a deployment only with force, answering as Restate does", async () => {
      const unknown = "dp_17KtIj9ZtDgK5P3BwOG8fWq";
      const graceful = await admin("DELETE", `/deployments/${v1Id}`);
      assert.deepEqual([graceful.status, graceful.text], [501, ""]);
      const bad = await admin("DELETE", `/deployments/${v1Id}?force=yes`);
      assert.deepEqual(
        [bad.status, bad.text],
        [
          400,
          "Failed to deserialize query string: force: provided string was not `true` or `false`",
        ],
      );
      const missing = await admin("DELETE", `/deployments/${unknown}?force=true`);
      assert.deepEqual(
        [missing.status, missing.json()],
        [
          404,
          {
            message: `not found in the schema registry: deployment with id '${unknown}'`,
            restate_code: null,
          },
        ],
      );
      assert.deepEqual(await activeRevision(), [v1Id, 3], "nothing was deleted");
    });

    it("answers a malformed deployment id as Restate's router does", async () => {
      const cases: [string, string][] = [
        ["nope", "bad format"],
        ["dp_1", "bad length"],
        [SUBSCRIPTION_IDLike(), "id doesn't match the expected type"],
      ];
      for (const [id, reason] of cases) {
        const res = await admin("GET", `/deployments/${id}`);
        assert.deepEqual(
          [res.status, res.text],
          [400, `Invalid URL: Cannot parse \`deployment\` with value \`${id}\`: ${reason}`],
        );
      }
    });
  });
});

function SUBSCRIPTION_IDLike(): string {
  return "sub_17KtIj9ZtDgK5P3BwOG8fWp";
}
