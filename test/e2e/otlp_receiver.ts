/**
 * A test OTLP/HTTP receiver: keeps the spans of every export it is sent, decoded by the field
 * numbers of OpenTelemetry's protobuf definitions (opentelemetry/proto/collector/trace/v1,
 * trace/v1, common/v1). Used by the tracing tests, on one node and on a cluster.
 */

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";

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

export interface ExportedSpan {
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
export async function startReceiver(): Promise<{
  server: Server;
  url: string;
  spans: ExportedSpan[];
}> {
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
