import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { utf8 } from "../core/bytes.js";
import { InvocationPhase, InvocationStatus, ServiceType } from "../gen/keel/records.js";
import { StatusView } from "./status_view.js";

describe("lazy invocation status view", () => {
  it("reads what the generated decoder reads", () => {
    const status: InvocationStatus = {
      ...InvocationStatus.decode(new Uint8Array(0)),
      phase: InvocationPhase.INVOCATION_PHASE_SUSPENDED,
      target: {
        service: "Counter",
        handler: "add",
        key: "bob",
        serviceType: ServiceType.SERVICE_TYPE_VIRTUAL_OBJECT,
        handlerType: 1,
      },
      source: { kind: { $case: "restartedFrom", value: new Uint8Array(24).fill(3) } },
      idempotencyKey: "key-ü",
      createdAtMs: 1_795_695_270_344,
      modifiedAtMs: 2 ** 50 + 7,
      journalLength: 300,
      commandCount: 5,
      pinned: { deploymentId: "dp_1x", protocolVersion: 6, server: "s" },
      waiting: { completions: [1, 2], signals: [1], namedSignals: ["n"] },
      result: { kind: { $case: "value", value: utf8("42") } },
      completionRetentionMs: 86_400_000,
      lastFailure: { code: 500, message: "boom", metadata: [] },
      journalPurged: true,
    };
    const view = new StatusView(InvocationStatus.encode(status).finish());
    assert.equal(view.phase, status.phase);
    assert.deepEqual(view.target, status.target);
    assert.deepEqual(view.source, status.source);
    assert.equal(view.idempotencyKey, "key-ü");
    assert.equal(view.number("createdAtMs"), status.createdAtMs);
    assert.equal(view.number("modifiedAtMs"), 2 ** 50 + 7);
    assert.equal(view.number("journalLength"), 300);
    assert.equal(view.number("runningAtMs"), 0, "absent fields read as proto3 defaults");
    assert.deepEqual(view.pinned, status.pinned);
    assert.deepEqual(view.waiting, status.waiting);
    assert.deepEqual(view.result, status.result);
    assert.deepEqual(view.lastFailure, status.lastFailure);
    assert.equal(view.journalPurged, true);
    assert.equal(new StatusView(new Uint8Array(0)).phase, InvocationPhase.INVOCATION_PHASE_INBOXED);
    assert.equal(new StatusView(new Uint8Array(0)).idempotencyKey, undefined, "no key");
    const emptyKey = InvocationStatus.encode({ ...status, idempotencyKey: "" }).finish();
    assert.equal(new StatusView(emptyKey).idempotencyKey, "", "the empty key is a key");
  });
});
