/** Registration rules, as Restate applies them: created, unchanged, overwritten, rejected. */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseManifest, type EndpointManifest } from "./manifest.js";
import { registerDeployment, removeDeployment, type RegistrationRequest } from "./registration.js";
import { EMPTY_SCHEMA, SchemaIndex, type Schema } from "./schema.js";

function manifest(handlers: string[], ty = "SERVICE"): EndpointManifest {
  const parsed = parseManifest({
    protocolMode: "BIDI_STREAM",
    minProtocolVersion: 5,
    maxProtocolVersion: 7,
    services: [
      {
        name: "Greeter",
        ty,
        handlers: handlers.map((name) => ({ name, input: { contentType: "application/json" } })),
      },
    ],
  });
  assert.ok(parsed.ok, parsed.ok ? "" : parsed.message);
  return parsed.manifest;
}

function request(
  m: EndpointManifest,
  overrides: Partial<RegistrationRequest> = {},
): RegistrationRequest {
  return {
    uri: "http://svc/",
    useHttp11: false,
    additionalHeaders: {},
    metadata: {},
    force: false,
    breaking: false,
    manifest: m,
    sdkVersion: "sdk/1",
    nowMs: 1000,
    newDeploymentId: "dp_1new00000000000000000",
    ...overrides,
  };
}

function registered(schema: Schema, r: RegistrationRequest): Schema {
  const result = registerDeployment(schema, r);
  assert.ok(
    result.kind === "created" || result.kind === "overwritten",
    `expected a change, got ${result.kind}`,
  );
  return result.schema;
}

describe("deployment registration", () => {
  it("creates a deployment with revision 1 services, then answers unchanged for the same endpoint", () => {
    const first = registerDeployment(EMPTY_SCHEMA, request(manifest(["greet"])));
    assert.equal(first.kind, "created");
    assert.ok(first.kind === "created");
    assert.equal(first.services[0]!.revision, 1);
    assert.equal(first.services[0]!.retryPolicy.maxAttempts, 70);
    const again = registerDeployment(
      first.schema,
      request(manifest(["greet"]), { newDeploymentId: "dp_1other0000000000000000" }),
    );
    assert.equal(again.kind, "unchanged");
    assert.ok(again.kind === "unchanged");
    assert.equal(again.deployment.id, "dp_1new00000000000000000");
  });

  it("answers unchanged for a known endpoint without force, overwrites it with new revisions with force", () => {
    const schema = registered(EMPTY_SCHEMA, request(manifest(["greet"])));
    const changed = registerDeployment(schema, request(manifest(["greet", "wave"])));
    assert.equal(changed.kind, "unchanged", "without force, a known endpoint is not looked at");
    const forced = registerDeployment(schema, request(manifest(["greet"]), { force: true }));
    assert.equal(forced.kind, "overwritten");
    assert.ok(forced.kind === "overwritten");
    assert.equal(forced.deployment.id, "dp_1new00000000000000000", "same id");
    assert.equal(forced.services[0]!.revision, 2, "even an unchanged service gets a new revision");
    assert.equal(forced.schema.services.length, 1, "the overwritten revision is gone");
  });

  it("knows an endpoint by its authority and path, whatever its headers or scheme, as Restate does", () => {
    const schema = registered(EMPTY_SCHEMA, request(manifest(["greet"])));
    for (const overrides of [
      { additionalHeaders: { "x-tenant": "a" } },
      { uri: "https://svc/" },
    ] as Partial<RegistrationRequest>[]) {
      const again = registerDeployment(schema, request(manifest(["greet"]), overrides));
      assert.equal(again.kind, "unchanged", JSON.stringify(overrides));
    }
    assert.equal(
      registerDeployment(schema, request(manifest(["greet"]), { uri: "http://svc/v2" })).kind,
      "created",
    );
    const forced = registerDeployment(
      schema,
      request(manifest(["greet"]), { force: true, additionalHeaders: { "x-tenant": "b" } }),
    );
    assert.ok(forced.kind === "overwritten");
    assert.equal(forced.schema.deployments.length, 1);
    assert.deepEqual(forced.deployment.additionalHeaders, { "x-tenant": "b" });
  });

  it("treats only a type change as breaking", () => {
    const schema = registered(EMPTY_SCHEMA, request(manifest(["greet", "wave"])));
    const elsewhere = { uri: "http://other/", newDeploymentId: "dp_1second000000000000000" };
    const removed = registerDeployment(schema, request(manifest(["greet"]), elsewhere));
    assert.equal(removed.kind, "created", "removing handlers is allowed");
    const retyped = registerDeployment(
      schema,
      request(manifest(["greet", "wave"], "VIRTUAL_OBJECT"), elsewhere),
    );
    assert.ok(retyped.kind === "rejected" && retyped.status === 409);
    assert.match(retyped.message, /^\[META0006\] .* changing the service type/);
    const allowed = registerDeployment(
      schema,
      request(manifest(["greet"], "VIRTUAL_OBJECT"), { ...elsewhere, breaking: true }),
    );
    assert.equal(allowed.kind, "created");
    assert.ok(allowed.kind === "created");
    const index = new SchemaIndex(allowed.schema, 2);
    assert.equal(index.service("Greeter")!.deploymentId, "dp_1second000000000000000");
    assert.equal(
      index.service("Greeter")!.revision,
      2,
      "the new deployment serves new invocations",
    );
    assert.equal(
      index.servicesOf("dp_1new00000000000000000")[0]!.revision,
      1,
      "the old one keeps its revision",
    );
  });

  it("falls back to the highest revision left when the active one's deployment is removed", () => {
    let schema = registered(EMPTY_SCHEMA, request(manifest(["greet"])));
    schema = registered(
      schema,
      request(manifest(["greet", "wave"]), { uri: "http://b/", newDeploymentId: "dp_1b" }),
    );
    schema = registered(
      schema,
      request(manifest(["greet"]), { uri: "http://c/", newDeploymentId: "dp_1c" }),
    );
    assert.equal(new SchemaIndex(schema, 3).service("Greeter")!.revision, 3);
    const removed = removeDeployment(schema, "dp_1c")!;
    const index = new SchemaIndex(removed, 4);
    assert.equal(index.service("Greeter")!.deploymentId, "dp_1b");
    assert.equal(index.service("Greeter")!.revision, 2);
    assert.deepEqual(
      index.service("Greeter")!.handlers.map((h) => h.name),
      ["greet", "wave"],
    );
    const last = new SchemaIndex(
      removeDeployment(removeDeployment(removed, "dp_1b")!, "dp_1new00000000000000000")!,
      5,
    );
    assert.equal(last.service("Greeter"), undefined, "no deployment left, no service");
  });

  it("rejects manifests it cannot use, saying why", () => {
    const cases: [unknown, RegExp][] = [
      [{ minProtocolVersion: 5, maxProtocolVersion: 7, services: [] }, /protocolMode is missing/],
      [
        { protocolMode: "BIDI_STREAM", minProtocolVersion: 1, maxProtocolVersion: 4, services: [] },
        /unsupported service protocol versions/,
      ],
      [
        { protocolMode: "BIDI_STREAM", minProtocolVersion: 6, maxProtocolVersion: 5, services: [] },
        /greater than/,
      ],
      [
        {
          protocolMode: "BIDI_STREAM",
          minProtocolVersion: 5,
          maxProtocolVersion: 7,
          services: [{ name: "9bad", ty: "SERVICE", handlers: [] }],
        },
        /invalid service name/,
      ],
      [
        {
          protocolMode: "BIDI_STREAM",
          minProtocolVersion: 5,
          maxProtocolVersion: 7,
          services: [{ name: "S", ty: "SERVICE", handlers: [{ name: "h", ty: "SHARED" }] }],
        },
        /plain service have no type/,
      ],
      [
        {
          protocolMode: "BIDI_STREAM",
          minProtocolVersion: 5,
          maxProtocolVersion: 7,
          services: [{ name: "W", ty: "WORKFLOW", handlers: [{ name: "a", ty: "SHARED" }] }],
        },
        /exactly one WORKFLOW handler/,
      ],
      ["nope", /must be a JSON object/],
    ];
    for (const [input, message] of cases) {
      const parsed = parseManifest(input);
      assert.ok(
        !parsed.ok && message.test(parsed.message),
        `${JSON.stringify(input)} -> ${parsed.ok ? "accepted" : parsed.message}`,
      );
    }
  });
});
