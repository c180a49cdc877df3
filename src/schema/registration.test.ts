/** Registration rules, as Restate applies them: created, unchanged, overwritten, rejected. */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseManifest, type EndpointManifest } from "./manifest.js";
import { registerDeployment, type RegistrationRequest } from "./registration.js";
import { EMPTY_SCHEMA, type Schema } from "./schema.js";

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

  it("refuses different services at the same URI without force, overwrites in place with force", () => {
    const schema = registered(EMPTY_SCHEMA, request(manifest(["greet"])));
    const changed = registerDeployment(schema, request(manifest(["greet", "wave"])));
    assert.equal(changed.kind, "rejected");
    assert.ok(changed.kind === "rejected" && changed.status === 409);
    const forced = registerDeployment(
      schema,
      request(manifest(["greet", "wave"]), { force: true }),
    );
    assert.equal(forced.kind, "overwritten");
    assert.ok(forced.kind === "overwritten");
    assert.equal(forced.deployment.id, "dp_1new00000000000000000", "same id");
    assert.equal(forced.services[0]!.revision, 2);
  });

  it("treats a type change or removed handlers as breaking", () => {
    const schema = registered(EMPTY_SCHEMA, request(manifest(["greet", "wave"])));
    const elsewhere = { uri: "http://other/", newDeploymentId: "dp_1second000000000000000" };
    const removed = registerDeployment(schema, request(manifest(["greet"]), elsewhere));
    assert.ok(removed.kind === "rejected" && /removes handlers wave/.test(removed.message));
    const retyped = registerDeployment(
      schema,
      request(manifest(["greet", "wave"], "VIRTUAL_OBJECT"), elsewhere),
    );
    assert.ok(retyped.kind === "rejected" && /changes type/.test(retyped.message));
    const allowed = registerDeployment(
      schema,
      request(manifest(["greet"]), { ...elsewhere, breaking: true }),
    );
    assert.equal(allowed.kind, "created");
    assert.ok(allowed.kind === "created");
    assert.equal(
      allowed.schema.services.find((s) => s.name === "Greeter")!.deploymentId,
      "dp_1second000000000000000",
      "the new deployment serves new invocations",
    );
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
