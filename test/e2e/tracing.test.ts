/**
 * OpenTelemetry traces, end to end: keel-server with `--tracing-endpoint` pointed at a test OTLP/HTTP
 * receiver, a call chain service -> object -> workflow with a sleep through the official SDK, and the
 * export decoded by the field numbers of OpenTelemetry's protobuf definitions
 * (opentelemetry/proto/collector/trace/v1, trace/v1, common/v1). Checks one trace, the parent and
 * child relations, the attributes, and the `traceparent` each attempt carried to the endpoint.
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  eventually,
  postJson,
  register,
  startKeel,
  startServices,
  type KeelServer,
  type ServiceEndpoint,
} from "./harness.js";
import { startReceiver, type ExportedSpan } from "./otlp_receiver.js";

describe("OpenTelemetry traces of invocations", () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let server: KeelServer;
  let services: ServiceEndpoint;

  before(async () => {
    receiver = await startReceiver();
    server = await startKeel({ extraArgs: ["--tracing-endpoint", receiver.url] });
    services = await startServices({ fixture: { script: "tracing_services.js" } });
    assert.equal((await register(server.admin, services.url)).status, 201);
  });
  after(async () => {
    await services?.stop();
    await server?.stop();
    server?.cleanup();
    await new Promise((resolve) => receiver?.server.close(resolve));
  });

  it("exports one trace for a call chain, under the caller's traceparent", async () => {
    const callerTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const callerSpanId = "00f067aa0ba902b7";
    const res = await postJson(`${server.ingress}/TraceEntry/start`, "chain-1", {
      traceparent: `00-${callerTraceId}-${callerSpanId}-01`,
    });
    assert.equal(res.status, 200);
    const entryId = res.headers.get("x-restate-id")!;
    const seen = res.json<{ service: string; object: string; flow: string }>();

    const byName = (name: string): ExportedSpan[] => receiver.spans.filter((s) => s.name === name);
    const one = (name: string): ExportedSpan => {
      const found = byName(name);
      assert.equal(
        found.length,
        1,
        `one span '${name}' (found ${found.map((s) => s.name).join(", ")})`,
      );
      return found[0]!;
    };
    // The entry's invocation span ends last of the chain's, the ingress span once the answer is
    // sent; the export is batched, so wait for both.
    await eventually(
      () =>
        byName("invocation TraceEntry/start").length > 0 &&
        byName("ingress TraceEntry/start").length > 0
          ? true
          : undefined,
      "the entry invocation's and the ingress request's spans at the receiver",
    );

    // One trace: the caller's.
    assert.ok(receiver.spans.length >= 10, `${receiver.spans.length} spans`);
    assert.deepEqual([...new Set(receiver.spans.map((s) => s.traceId))], [callerTraceId]);

    const ingress = one("ingress TraceEntry/start");
    const entry = one("invocation TraceEntry/start");
    const entryAttempt = one("attempt TraceEntry/start");
    const object = one("invocation TraceObject/chain-1/step");
    const objectAttempt = one("attempt TraceObject/chain-1/step");
    const flow = one("invocation TraceFlow/chain-1/run");
    const flowAttempt = one("attempt TraceFlow/chain-1/run");

    // The tree: caller -> ingress -> invocation -> attempt -> callee invocation -> ...
    assert.equal(ingress.parentSpanId, callerSpanId);
    assert.equal(ingress.kind, 2, "the ingress span is a server span");
    assert.equal(entry.parentSpanId, ingress.spanId);
    assert.equal(entryAttempt.parentSpanId, entry.spanId);
    assert.equal(entryAttempt.kind, 3, "an attempt is a client span");
    assert.equal(object.parentSpanId, entryAttempt.spanId);
    assert.equal(objectAttempt.parentSpanId, object.spanId);
    assert.equal(flow.parentSpanId, objectAttempt.spanId);
    assert.equal(flowAttempt.parentSpanId, flow.spanId);

    // Journal entries under the attempt that wrote them.
    const entriesUnder = (attempt: ExportedSpan): string[] =>
      receiver.spans
        .filter((s) => s.parentSpanId === attempt.spanId && !s.name.startsWith("invocation "))
        .map((s) => s.name)
        .sort();
    assert.ok(entriesUnder(entryAttempt).includes("Run"), entriesUnder(entryAttempt).join());
    assert.ok(entriesUnder(entryAttempt).includes("Call"), entriesUnder(entryAttempt).join());
    assert.ok(entriesUnder(objectAttempt).includes("SetState"), entriesUnder(objectAttempt).join());
    assert.ok(entriesUnder(objectAttempt).includes("Call"), entriesUnder(objectAttempt).join());
    assert.ok(entriesUnder(flowAttempt).includes("Sleep"), entriesUnder(flowAttempt).join());
    // A command that waits lasts until its completion: the sleep of 50 ms, the call to its result.
    const under = (attempt: ExportedSpan, name: string): ExportedSpan =>
      receiver.spans.find((s) => s.parentSpanId === attempt.spanId && s.name === name)!;
    const sleep = under(flowAttempt, "Sleep");
    const millis = (span: ExportedSpan): number => Number(span.endNanos - span.startNanos) / 1e6;
    assert.ok(millis(sleep) >= 40, `the sleep's span lasted ${millis(sleep)} ms`);
    const call = under(entryAttempt, "Call");
    assert.ok(millis(call) >= millis(sleep), `the call (${millis(call)} ms) waited for the sleep`);
    for (const span of [sleep, call])
      assert.equal(span.attributes.get("keel.entry.completed"), undefined);

    // Attributes: the invocation id, target, partition, and the node on the resource.
    assert.equal(entry.attributes.get("restate.invocation.id"), entryId);
    assert.equal(ingress.attributes.get("restate.invocation.id"), entryId);
    assert.equal(entry.attributes.get("restate.invocation.target"), "TraceEntry/start");
    assert.equal(flow.attributes.get("restate.invocation.target"), "TraceFlow/chain-1/run");
    assert.match(String(object.attributes.get("restate.invocation.id")), /^inv_1/);
    assert.notEqual(object.attributes.get("restate.invocation.id"), entryId);
    for (const span of [entry, entryAttempt, object, flow])
      assert.equal(typeof span.attributes.get("keel.partition"), "number");
    assert.equal(ingress.attributes.get("http.response.status_code"), 200);
    assert.equal(entry.attributes.get("restate.invocation.outcome"), "succeeded");
    assert.equal(entryAttempt.attributes.get("keel.attempt.outcome"), "ended");
    assert.ok(receiver.spans.every((s) => s.resource.get("keel.node") === "n1"));
    assert.ok(receiver.spans.every((s) => s.resource.get("service.name") === "keel"));

    // Each attempt carried its own span's context to the endpoint (the SDK's spans join there).
    assert.equal(seen.service, `00-${callerTraceId}-${entryAttempt.spanId}-01`);
    assert.equal(seen.object, `00-${callerTraceId}-${objectAttempt.spanId}-01`);
    assert.equal(seen.flow, `00-${callerTraceId}-${flowAttempt.spanId}-01`);
  });

  it("starts a trace of its own for a request without traceparent", async () => {
    const res = await postJson(`${server.ingress}/TraceEntry/start`, "chain-2");
    assert.equal(res.status, 200);
    const ingress = await eventually(
      () =>
        receiver.spans.find(
          (s) =>
            s.name === "ingress TraceEntry/start" &&
            s.attributes.get("restate.invocation.id") === res.headers.get("x-restate-id"),
        ),
      "the second request's ingress span",
    );
    assert.equal(ingress.parentSpanId, "");
    await eventually(
      () =>
        receiver.spans.some(
          (s) => s.name === "invocation TraceFlow/chain-2/run" && s.traceId === ingress.traceId,
        )
          ? true
          : undefined,
      "the chain's last invocation in the same trace",
    );
  });
});
