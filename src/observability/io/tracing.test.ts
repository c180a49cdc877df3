import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { OpenTelemetryTracing, TRACED_INVOCATIONS_MAX, tracesUrl } from "./tracing.js";

function tracing(): { tracing: OpenTelemetryTracing; exporter: InMemorySpanExporter } {
  const exporter = new InMemorySpanExporter();
  return {
    tracing: new OpenTelemetryTracing({ endpoint: "http://unused:4318", nodeName: "n1", exporter }),
    exporter,
  };
}

const byName = (spans: ReadableSpan[], name: string): ReadableSpan => {
  const found = spans.filter((s) => s.name === name);
  assert.equal(found.length, 1, `one span ${name}: ${spans.map((s) => s.name).join(", ")}`);
  return found[0]!;
};
const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId;

describe("OpenTelemetry tracing", () => {
  it("names the traces URL of a collector address", () => {
    assert.equal(tracesUrl("http://c:4318"), "http://c:4318/v1/traces");
    assert.equal(tracesUrl("http://c:4318/"), "http://c:4318/v1/traces");
    assert.equal(tracesUrl("https://c/otlp/v1/traces"), "https://c/otlp/v1/traces");
  });

  it("parents an invocation by its stored parent: its ingress request, or the caller's attempt", async () => {
    const { tracing: t, exporter } = tracing();
    const request = t.startIngressRequest("POST", "/Svc/h", {});
    const ingressParent = request.invocation("inv_caller", "Svc/h");
    const headers = t.attemptStarted({
      invocationId: "inv_caller",
      target: "Svc/h",
      partition: 3,
      parent: ingressParent,
    });
    assert.match(headers["traceparent"] ?? "", /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    t.journalEntry("inv_caller", "Call", 2);
    t.journalEntry("inv_caller", "SetState", undefined);
    t.journalEntry("inv_caller", "Sleep", 3);
    t.attemptStarted({
      invocationId: "inv_callee",
      target: "Obj/k/h",
      partition: 1,
      // What the caller's attempt stored with the call.
      parent: headers["traceparent"] ?? "",
    });
    t.attemptFinished("inv_callee", "ended");
    t.invocationCompleted("inv_callee", "succeeded");
    t.entryCompleted("inv_caller", 2);
    t.attemptFinished("inv_caller", "ended");
    t.invocationCompleted("inv_caller", "succeeded");
    request.end(200);
    await t.flush();
    const spans = exporter.getFinishedSpans();
    const ingress = byName(spans, "ingress Svc/h");
    const caller = byName(spans, "invocation Svc/h");
    const callerAttempt = byName(spans, "attempt Svc/h");
    const callee = byName(spans, "invocation Obj/k/h");
    assert.equal(parentOf(caller), ingress.spanContext().spanId);
    assert.equal(parentOf(callerAttempt), caller.spanContext().spanId);
    const call = byName(spans, "Call");
    assert.equal(parentOf(call), callerAttempt.spanContext().spanId);
    // The call ended with its completion, not with its invocation.
    assert.equal(call.attributes["keel.entry.completed"], undefined);
    // A sleep whose completion never came ends with its invocation, marked so.
    assert.equal(byName(spans, "Sleep").attributes["keel.entry.completed"], false);
    assert.equal(parentOf(byName(spans, "SetState")), callerAttempt.spanContext().spanId);
    assert.equal(parentOf(callee), callerAttempt.spanContext().spanId);
    assert.equal(headers["traceparent"]?.split("-")[2], callerAttempt.spanContext().spanId);
    assert.equal(callee.attributes["keel.partition"], 1);
    assert.equal(callee.attributes["restate.invocation.outcome"], "succeeded");
    assert.equal(new Set(spans.map((s) => s.spanContext().traceId)).size, 1, "one trace");
    await t.close();
  });

  it("continues an invocation's trace on another node from its stored parent", async () => {
    const a = tracing();
    const b = tracing();
    const request = a.tracing.startIngressRequest("POST", "/Svc/h", {});
    const parent = request.invocation("inv_moved", "Svc/h");
    request.end(200);
    // The attempt runs on node b (the partition's leader), and again on b after a restart.
    b.tracing.attemptStarted({ invocationId: "inv_moved", target: "Svc/h", partition: 0, parent });
    b.tracing.attemptFinished("inv_moved", "ended");
    b.tracing.invocationCompleted("inv_moved", "succeeded");
    await a.tracing.flush();
    await b.tracing.flush();
    const ingress = byName(a.exporter.getFinishedSpans(), "ingress Svc/h");
    const invocation = byName(b.exporter.getFinishedSpans(), "invocation Svc/h");
    assert.equal(invocation.spanContext().traceId, ingress.spanContext().traceId);
    assert.equal(parentOf(invocation), ingress.spanContext().spanId);
    await a.tracing.close();
    await b.tracing.close();
  });

  it("ends a suspended invocation's waiting commands when it resumes", async () => {
    const { tracing: t, exporter } = tracing();
    t.attemptStarted({ invocationId: "inv_s", target: "Svc/h", partition: 0, parent: "" });
    t.journalEntry("inv_s", "Sleep", 1);
    t.attemptFinished("inv_s", "suspended");
    await t.flush();
    assert.deepEqual(
      exporter.getFinishedSpans().map((s) => s.name),
      ["attempt Svc/h"],
      "the sleep goes on while the invocation is suspended",
    );
    t.attemptStarted({ invocationId: "inv_s", target: "Svc/h", partition: 0, parent: "" });
    await t.flush();
    const sleep = byName(exporter.getFinishedSpans(), "Sleep");
    assert.equal(sleep.attributes["keel.entry.ended_at_resume"], true);
    await t.close();
  });

  it("keeps at most TRACED_INVOCATIONS_MAX invocations open, ending the oldest as truncated", async () => {
    const { tracing: t, exporter } = tracing();
    for (let i = 0; i <= TRACED_INVOCATIONS_MAX; i++)
      t.attemptStarted({ invocationId: `inv_${i}`, target: "Svc/h", partition: 0, parent: "" });
    await t.flush();
    const ended = exporter.getFinishedSpans();
    const truncated = ended.filter((s) => s.attributes["keel.trace.truncated"] === true);
    assert.equal(truncated.length, 1);
    assert.equal(truncated[0]!.attributes["restate.invocation.id"], "inv_0");
    // The oldest one's attempt ended with it; no other invocation's span did.
    assert.equal(ended.length, 2);
    await t.close();
  });
});
