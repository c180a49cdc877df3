/**
 * Restate's Kafka cluster admin API (`/kafka-clusters`) and the official CLI's `kafka-clusters`
 * commands: clusters registered at run time (stored in the schema), clusters of the configuration file
 * (listed as deprecated, not changeable), secrets answered as `***`, subscriptions on a registered
 * cluster, and deletion refused while a subscription uses the cluster. Runs against both servers
 * (`KEEL_TEST_TARGET=restate`), so every expectation is Restate's behaviour. No broker is needed: the
 * brokers named are never reached by these checks.
 */

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  TARGET,
  call,
  register,
  runRestateCli,
  startServices,
  startTarget,
  tempDir,
  type CallResult,
  type KeelServer,
  type ServiceEndpoint,
} from "./harness.js";

const CONFIGURED_INFO = [
  {
    message:
      "This Kafka cluster was configured in the static cluster configuration, this is deprecated. Please register it using the new Kafka Admin functionalities.",
  },
];
/** `2026-12-06T18:05:43.262000000Z`: Restate prints a registration time with nanoseconds. */
const CREATED_AT = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/;

interface ClusterJson {
  name: string;
  properties: Record<string, string>;
  created_at: string;
  subscriptions?: { id: string; source: string; sink: string; options: Record<string, string> }[];
  info?: { message: string }[];
}

describe(`Kafka cluster admin API compatibility (${TARGET})`, () => {
  let server: KeelServer;
  let services: ServiceEndpoint;
  let home: string;

  const admin = (method: string, path: string, body?: unknown): Promise<CallResult> =>
    call(`${server.admin}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      ...(body === undefined
        ? {}
        : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
  const errorOf = (res: CallResult): [number, unknown] => [res.status, res.json()];
  const restateError = (status: number, message: string): [number, unknown] => [
    status,
    { message, restate_code: null },
  ];
  const cli = (args: string[]) =>
    runRestateCli(args, { admin: server.admin, home, env: { CI: "1" } });

  before(async () => {
    home = tempDir("compat-kafka-clusters");
    const config = join(home, "config.toml");
    writeFileSync(
      config,
      [
        "[[ingress.kafka-clusters]]",
        'name = "configured"',
        'brokers = ["127.0.0.1:9"]',
        '"sasl.password" = "hunter2"',
        "",
      ].join("\n"),
    );
    server = await startTarget(
      TARGET === "restate"
        ? { env: { RESTATE_CONFIG: config } }
        : { extraArgs: ["--config", config] },
    );
    services = await startServices();
    const registered = await register(server.admin, services.url);
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
  });

  after(async () => {
    await services?.stop();
    await server?.stop();
    server?.cleanup();
  });

  it("lists a cluster of the configuration file as deprecated, its secrets redacted", async () => {
    const list = await admin("GET", "/kafka-clusters");
    assert.equal(list.status, 200);
    assert.deepEqual(list.json(), {
      clusters: [
        {
          name: "configured",
          properties: { "metadata.broker.list": "127.0.0.1:9", "sasl.password": "***" },
          created_at: "1970-01-01T00:00:00Z",
          info: CONFIGURED_INFO,
        },
      ],
    });
    const one = await admin("GET", "/kafka-clusters/configured");
    assert.deepEqual(
      [one.status, one.json()],
      [
        200,
        {
          name: "configured",
          properties: { "metadata.broker.list": "127.0.0.1:9", "sasl.password": "***" },
          created_at: "1970-01-01T00:00:00Z",
          subscriptions: [],
          info: CONFIGURED_INFO,
        },
      ],
    );
  });

  it("registers a cluster, answering it with its secrets redacted", async () => {
    const created = await admin("POST", "/kafka-clusters", {
      name: "orders",
      properties: {
        "bootstrap.servers": "127.0.0.1:9",
        "sasl.password": "x",
        "ssl.key.pem": "k",
        "api.version.request": "false",
      },
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.headers.get("location"), "kafka-clusters/orders");
    const body = created.json<ClusterJson>();
    assert.match(body.created_at, CREATED_AT);
    assert.deepEqual(body, {
      name: "orders",
      properties: {
        "bootstrap.servers": "127.0.0.1:9",
        "sasl.password": "***",
        "ssl.key.pem": "***",
        "api.version.request": "false",
      },
      created_at: body.created_at,
    });
    const got = await admin("GET", "/kafka-clusters/orders");
    assert.deepEqual(got.json(), { ...body, subscriptions: [] });
    // Registered clusters come before the configured ones.
    const names = (await admin("GET", "/kafka-clusters"))
      .json<{ clusters: ClusterJson[] }>()
      .clusters.map((c) => c.name);
    assert.deepEqual(names, ["orders", "configured"]);
  });

  it("refuses taken names, clusters without brokers and malformed requests", async () => {
    const post = (body: unknown) => admin("POST", "/kafka-clusters", body);
    const brokers = { "bootstrap.servers": "127.0.0.1:9" };
    assert.deepEqual(
      errorOf(await post({ name: "orders", properties: brokers })),
      restateError(409, "kafka cluster 'orders' already exists in schema registry"),
    );
    assert.deepEqual(
      errorOf(await post({ name: "configured", properties: brokers })),
      restateError(
        409,
        "kafka cluster 'configured' conflicts with static configuration. Cluster names in schema registry cannot override statically configured clusters.",
      ),
    );
    assert.deepEqual(
      errorOf(await post({ name: "nobrokers", properties: { "client.id": "x" } })),
      restateError(
        400,
        "kafka cluster 'nobrokers' properties must contain either 'bootstrap.servers' or 'metadata.broker.list'",
      ),
    );
    const deserialize = "Failed to deserialize the JSON body into the target type: ";
    const malformed: [unknown, string][] = [
      [{ properties: brokers }, "missing field `name`"],
      [{ name: "x" }, "missing field `properties`"],
      [{ name: "bad name", properties: brokers }, "name: invalid uri character"],
      [{ name: "a/b", properties: brokers }, "name: invalid uri character"],
      [{ name: "", properties: brokers }, "name: empty string"],
      [{ name: 7, properties: brokers }, "name: invalid type: integer `7`, expected a string"],
      [{ name: "x", properties: { a: 1 } }, "properties.a: invalid type: integer `1`"],
    ];
    for (const [body, reason] of malformed) {
      const res = await post(body);
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.ok(
        res.text.startsWith(`${deserialize}${reason}`),
        `${JSON.stringify(body)}: ${res.text}`,
      );
    }
    const garbage = await post("garbage");
    assert.equal(garbage.status, 400);
    assert.match(garbage.text, /^Failed to parse the request body as JSON/);
    // A name is a URI authority, so `kafka://<name>/<topic>` is a URI: ports and user parts pass.
    const authority = await post({ name: "Broker-1.example:9092", properties: brokers });
    assert.equal(authority.status, 201, authority.text);
    assert.equal((await admin("DELETE", "/kafka-clusters/Broker-1.example:9092")).status, 202);
  });

  it("answers unknown clusters and bad query parameters as Restate does", async () => {
    assert.deepEqual(
      errorOf(await admin("GET", "/kafka-clusters/nope")),
      restateError(404, "The requested Kafka cluster 'nope' does not exist"),
    );
    assert.deepEqual(
      errorOf(await admin("GET", "/kafka-clusters/bad%20name")),
      restateError(404, "The requested Kafka cluster 'bad name' does not exist"),
    );
    const badQuery = await admin("GET", "/kafka-clusters/orders?include_subscriptions=yes");
    assert.deepEqual(
      [badQuery.status, badQuery.text],
      [
        400,
        "Failed to deserialize query string: include_subscriptions: provided string was not `true` or `false`",
      ],
    );
    assert.equal((await admin("PUT", "/kafka-clusters/orders", { properties: {} })).status, 405);
  });

  it("lets subscriptions name a registered cluster, and lists them with it", async () => {
    const created = await admin("POST", "/subscriptions", {
      source: "kafka://orders/orders-topic",
      sink: "service://Greeter/greet",
    });
    assert.equal(created.status, 201, created.text);
    const subscription = created.json<{ id: string; options: Record<string, string> }>();
    assert.deepEqual(subscription.options, { "group.id": subscription.id, "client.id": "restate" });
    const without = await admin("GET", "/kafka-clusters/orders?include_subscriptions=false");
    assert.deepEqual(without.json<ClusterJson>().subscriptions, []);
    const withThem = await admin("GET", "/kafka-clusters/orders?include_subscriptions=true");
    assert.deepEqual(withThem.json<ClusterJson>().subscriptions, [
      {
        id: subscription.id,
        source: "kafka://orders/orders-topic",
        sink: "service://Greeter/greet",
        options: subscription.options,
      },
    ]);
    // Secrets among a subscription's options are answered as `***` too.
    const secret = await admin("POST", "/subscriptions", {
      source: "kafka://orders/secret-topic",
      sink: "service://Greeter/greet",
      options: { "sasl.password": "p", "auto.offset.reset": "earliest" },
    });
    assert.equal(secret.status, 201, secret.text);
    const secretId = secret.json<{ id: string }>().id;
    const expected = {
      "sasl.password": "***",
      "auto.offset.reset": "earliest",
      "group.id": secretId,
      "client.id": "restate",
    };
    assert.deepEqual(secret.json<{ options: unknown }>().options, expected);
    const secretGot = await admin("GET", `/subscriptions/${secretId}`);
    assert.deepEqual(secretGot.json<{ options: unknown }>().options, expected);
    assert.equal((await admin("DELETE", `/subscriptions/${secretId}`)).status, 202);
    // An unknown cluster is refused, naming every cluster a subscription may use.
    const unknown = await admin("POST", "/subscriptions", {
      source: "kafka://nope/t",
      sink: "service://Greeter/greet",
    });
    assert.deepEqual(
      errorOf(unknown),
      restateError(
        400,
        'Kafka cluster \'nope\' not found. Available clusters: ["orders", "configured"]',
      ),
    );
  });

  it("replaces a registered cluster's properties, and refuses to change a configured one", async () => {
    const patch = (name: string, body: unknown) => admin("PATCH", `/kafka-clusters/${name}`, body);
    const updated = await patch("orders", {
      properties: { "bootstrap.servers": "127.0.0.1:10", "sasl.password": "y" },
    });
    assert.equal(updated.status, 200, updated.text);
    const body = updated.json<ClusterJson>();
    assert.deepEqual(body.properties, {
      "bootstrap.servers": "127.0.0.1:10",
      "sasl.password": "***",
    });
    assert.match(body.created_at, CREATED_AT);
    const brokers = { properties: { "bootstrap.servers": "127.0.0.1:9" } };
    assert.deepEqual(
      errorOf(await patch("orders", { properties: { "client.id": "x" } })),
      restateError(
        400,
        "kafka cluster 'orders' properties must contain either 'bootstrap.servers' or 'metadata.broker.list'",
      ),
    );
    assert.deepEqual(
      errorOf(await patch("configured", brokers)),
      restateError(
        409,
        "kafka cluster 'configured' cannot be updated, because it was defined in the restate configuration file. Update the configuration file directly, or remove the configuration file",
      ),
    );
    assert.deepEqual(
      errorOf(await patch("nope", brokers)),
      restateError(404, "not found in the schema registry: kafka cluster 'nope'"),
    );
    assert.deepEqual(
      errorOf(await patch("bad%20name", brokers)),
      restateError(
        400,
        "The request field 'cluster_name' is invalid. Reason: invalid uri character",
      ),
    );
    const missing = await patch("orders", {});
    assert.equal(missing.status, 422);
    assert.match(missing.text, /missing field `properties`/);
  });

  it("refuses to delete a cluster a subscription uses, unless forced", async () => {
    const subscriptions = (await admin("GET", "/subscriptions")).json<{
      subscriptions: { id: string; source: string }[];
    }>().subscriptions;
    const using = subscriptions.find((s) => s.source === "kafka://orders/orders-topic");
    assert.ok(using !== undefined);
    assert.deepEqual(
      errorOf(await admin("DELETE", "/kafka-clusters/orders")),
      restateError(
        409,
        `Removing the kafka cluster 'orders' leads to subscription '${using.id}' being orphan. Remove the subscription first, or use the 'force' flag.`,
      ),
    );
    const badForce = await admin("DELETE", "/kafka-clusters/orders?force=maybe");
    assert.deepEqual(
      [badForce.status, badForce.text],
      [400, "Failed to deserialize query string: force: provided string was not `true` or `false`"],
    );
    assert.deepEqual(
      errorOf(await admin("DELETE", "/kafka-clusters/configured")),
      restateError(
        409,
        "kafka cluster 'configured' cannot be updated, because it was defined in the restate configuration file. Update the configuration file directly, or remove the configuration file",
      ),
    );
    assert.deepEqual(
      errorOf(await admin("DELETE", "/kafka-clusters/nope")),
      restateError(404, "not found in the schema registry: kafka cluster named 'nope'"),
    );
    const forced = await admin("DELETE", "/kafka-clusters/orders?force=true");
    assert.deepEqual([forced.status, forced.text], [202, ""]);
    assert.equal((await admin("GET", "/kafka-clusters/orders")).status, 404);
    // The subscription stays, orphaned.
    assert.equal((await admin("GET", `/subscriptions/${using.id}`)).status, 200);
    assert.equal((await admin("DELETE", `/subscriptions/${using.id}`)).status, 202);
  });

  it("work with the official CLI", async () => {
    const created = await cli([
      "kafka-clusters",
      "create",
      "--yes",
      "cli-cluster",
      "bootstrap.servers=127.0.0.1:9",
      "sasl.password=s3cret",
    ]);
    assert.equal(created.code, 0, created.out);
    const list = await cli(["kafka-clusters", "list"]);
    assert.equal(list.code, 0, list.out);
    assert.match(list.out, /cli-cluster/);
    assert.match(list.out, /configured/);
    const patched = await cli([
      "kafka-clusters",
      "patch",
      "--yes",
      "cli-cluster",
      "--set",
      "client.id=cli",
      // The CLI refuses to send back a redacted value: secrets are set again.
      "--set",
      "sasl.password=s3cret2",
    ]);
    assert.equal(patched.code, 0, patched.out);
    const got = (await admin("GET", "/kafka-clusters/cli-cluster")).json<ClusterJson>();
    assert.deepEqual(got.properties, {
      "bootstrap.servers": "127.0.0.1:9",
      "sasl.password": "***",
      "client.id": "cli",
    });
    const described = await cli(["kafka-clusters", "describe", "cli-cluster"]);
    assert.equal(described.code, 0, described.out);
    assert.match(described.out, /client\.id/);
    assert.doesNotMatch(described.out, /s3cret/);
    const deleted = await cli(["kafka-clusters", "delete", "--yes", "cli-cluster"]);
    assert.equal(deleted.code, 0, deleted.out);
    assert.equal((await admin("GET", "/kafka-clusters/cli-cluster")).status, 404);
    const unknown = await cli(["kafka-clusters", "describe", "nope"]);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.out, /The requested Kafka cluster 'nope' does not exist/);
  });
});
