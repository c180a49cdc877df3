/**
 * OpenTelemetry traces, end to end: keel-server with `--tracing-endpoint` pointed at a test OTLP/HTTP
 * receiver, a call chain service -> object -> workflow with a sleep through the official SDK, and the
 * export decoded by the field numbers of OpenTelemetry's protobuf definitions
 * (opentelemetry/proto/collector/trace/v1, trace/v1, common/v1). Checks one trace, the parent and
 * child relations, the attributes, and the `traceparent` each attempt carried to the endpoint.
 */

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
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

// ---- a protobuf reader: enough of the wire format for OTLP's export request ----

type Field = { readonly varint: bigint } | { readonly bytes: Uint8Array };

/** The fields of one message by number, in order (repeated fields repeat). */
function fieldsOf(bytes: Uint8Array): Map<number, Field[]> {
  const fields = new Map<number, Field[]>();
  let at = 0;
  const varint = (): bigint => {
    let value = 0n;
    for (let shift = 0n; ; shift += 7n) {
      assert.ok(at < bytes.length, "a varint ends inside the message");
      const byte = bytes[at++]!;
      value |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return value;
    }
  };
  while (at < bytes.length) {
    const key = Number(varint());
    const number = key >>> 3;
    let field: Field;
    switch (key & 7) {
      case 0:
        field = { varint: varint() };
        break;
      case 1:
        field = { bytes: bytes.subarray(at, at + 8) };
        at += 8;
        break;
      case 2: {
        const length = Number(varint());
        field = { bytes: bytes.subarray(at, at + length) };
        at += length;
        break;
      }
      case 5:
        field = { bytes: bytes.subarray(at, at + 4) };
        at += 4;
        break;
      default:
        assert.fail(`wire type ${key & 7} of field ${number}`);
    }
    const list = fields.get(number) ?? [];
    list.push(field);
    fields.set(number, list);
  }
  return fields;
}

const bytesOf = (f: Field | undefined): Uint8Array =>
  f !== undefined && "bytes" in f ? f.bytes : new Uint8Array();
const textOf = (f: Field | undefined): string => Buffer.from(bytesOf(f)).toString("utf8");
const hexOf = (f: Field | undefined): string => Buffer.from(bytesOf(f)).toString("hex");
/** A fixed64 field (little-endian). */
const fixed64Of = (f: Field | undefined): bigint =>
  Buffer.from(bytesOf(f)).length === 8 ? Buffer.from(bytesOf(f)).readBigUInt64LE(0) : 0n;

type AttributeValue = string | number | boolean;

/** common.v1.KeyValue list: key = 1, value = 2 (AnyValue: string 1, bool 2, int 3, double 4). */
function attributesOf(list: Field[] | undefined): Map<string, AttributeValue> {
  const out = new Map<string, AttributeValue>();
  for (const kv of list ?? []) {
    const fields = fieldsOf(bytesOf(kv));
    const value = fieldsOf(bytesOf(fields.get(2)?.[0]));
    const key = textOf(fields.get(1)?.[0]);
    const int = value.get(3)?.[0];
    const bool = value.get(2)?.[0];
    if (value.has(1)) out.set(key, textOf(value.get(1)![0]));
    else if (int !== undefined && "varint" in int)
      out.set(key, Number(BigInt.asIntN(64, int.varint)));
    else if (bool !== undefined && "varint" in bool) out.set(key, bool.varint === 1n);
  }
  return out;
}

interface ExportedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  /** trace.v1.Span.SpanKind: 1 internal, 2 server, 3 client. */
  readonly kind: number;
  readonly startNanos: bigint;
  readonly endNanos: bigint;
  readonly attributes: Map<string, AttributeValue>;
  readonly resource: Map<string, AttributeValue>;
}

/** ExportTraceServiceRequest: resource_spans = 1 (resource = 1, scope_spans = 2 (spans = 2)). */
function decodeExport(body: Uint8Array): ExportedSpan[] {
  const spans: ExportedSpan[] = [];
  for (const resourceSpans of fieldsOf(body).get(1) ?? []) {
    const rs = fieldsOf(bytesOf(resourceSpans));
    const resource = attributesOf(fieldsOf(bytesOf(rs.get(1)?.[0])).get(1));
    for (const scopeSpans of rs.get(2) ?? []) {
      for (const spanField of fieldsOf(bytesOf(scopeSpans)).get(2) ?? []) {
        const span = fieldsOf(bytesOf(spanField));
        const kind = span.get(6)?.[0];
        spans.push({
          traceId: hexOf(span.get(1)?.[0]),
          spanId: hexOf(span.get(2)?.[0]),
          parentSpanId: hexOf(span.get(4)?.[0]),
          name: textOf(span.get(5)?.[0]),
          kind: kind !== undefined && "varint" in kind ? Number(kind.varint) : 0,
          startNanos: fixed64Of(span.get(7)?.[0]),
          endNanos: fixed64Of(span.get(8)?.[0]),
          attributes: attributesOf(span.get(9)),
          resource,
        });
      }
    }
  }
  return spans;
}

/** A collector's OTLP/HTTP traces endpoint that keeps what it receives. */
async function startReceiver(): Promise<{ server: Server; url: string; spans: ExportedSpan[] }> {
  const spans: ExportedSpan[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      if (req.url !== "/v1/traces" || req.headers["content-type"] !== "application/x-protobuf") {
        res.writeHead(400).end();
        return;
      }
      spans.push(...decodeExport(Buffer.concat(chunks)));
      res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  return { server, url: `http://127.0.0.1:${address.port}`, spans };
}

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
