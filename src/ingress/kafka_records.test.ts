import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvocationId, partitionKeyOf, utf8 } from "../core/index.js";
import { SchemaIndex, type ServiceSchema, type SubscriptionSchema } from "../schema/index.js";
import { DEFAULT_RETRY_POLICY } from "../schema/schema.js";
import { kafkaProducer, recordInvocation, type KafkaRecord } from "./kafka_records.js";

function service(name: string, ty: ServiceSchema["ty"]): ServiceSchema {
  return {
    name,
    ty,
    handlers: [{ name: "add", public: true, ...(ty === "Service" ? {} : { ty: "Exclusive" }) }],
    deploymentId: "dp_1",
    revision: 1,
    public: true,
    idempotencyRetentionMs: 86_400_000,
    journalRetentionMs: 0,
    inactivityTimeoutMs: 60_000,
    abortTimeoutMs: 600_000,
    enableLazyState: false,
    retryPolicy: DEFAULT_RETRY_POLICY,
  };
}

const schema = new SchemaIndex(
  {
    deployments: [],
    services: [service("Log", "VirtualObject"), service("Sink", "Service")],
  },
  1,
);

const subscription = (sink: string): SubscriptionSchema => ({
  id: "sub_1abc",
  cluster: "local",
  topic: "orders",
  service: sink,
  handler: "add",
  options: {},
});

const record: KafkaRecord = {
  topic: "orders",
  partition: 2,
  offset: 41,
  key: utf8("order-7"),
  value: utf8('{"n":1}'),
  timestampMs: 1_700_000_000_000,
  headers: [["x-trace", utf8("abc")]],
};

describe("Kafka records as invocations", () => {
  it("invokes an object keyed by the record key, with Restate's kafka.* headers and a dedup tag", () => {
    const made = recordInvocation(schema, subscription("Log"), record);
    assert.equal(made.kind, "invocation");
    if (made.kind !== "invocation") return;
    assert.equal(made.invocation.target?.key, "order-7");
    assert.equal(made.partitionKey, partitionKeyOf("order-7"));
    assert.deepEqual(made.invocation.argument, utf8('{"n":1}'));
    assert.deepEqual(made.dedup, { sourcePartition: 0, seq: 41, producer: "sub_1abc/orders/2" });
    assert.equal(kafkaProducer("sub_1abc", "orders", 2), "sub_1abc/orders/2");
    assert.deepEqual(made.invocation.headers, [
      { key: "x-trace", value: "abc" },
      { key: "kafka.offset", value: "41" },
      { key: "kafka.topic", value: "orders" },
      { key: "kafka.partition", value: "2" },
      { key: "kafka.timestamp", value: "1700000000000" },
      { key: "restate.subscription.id", value: "sub_1abc" },
      { key: "kafka.key", value: "b3JkZXItNw==" },
    ]);
    assert.deepEqual(made.invocation.source, {
      kind: { $case: "subscription", value: "sub_1abc" },
    });
  });

  it("gives the same record the same id, on the same partition, even for a service without keys", () => {
    const first = recordInvocation(schema, subscription("Sink"), record);
    const again = recordInvocation(schema, subscription("Sink"), record);
    const next = recordInvocation(schema, subscription("Sink"), { ...record, offset: 42 });
    assert.ok(first.kind === "invocation" && again.kind === "invocation");
    assert.ok(next.kind === "invocation");
    assert.deepEqual(first.invocation.invocationId, again.invocation.invocationId);
    assert.equal(first.partitionKey, again.partitionKey);
    assert.notDeepEqual(first.invocation.invocationId, next.invocation.invocationId);
    assert.equal(
      InvocationId.fromBytes(first.invocation.invocationId).partitionKey,
      first.partitionKey,
    );
  });

  it("skips a record whose key an object cannot take; one whose sink is gone must wait", () => {
    const badKey = recordInvocation(schema, subscription("Log"), {
      ...record,
      key: new Uint8Array([0xff, 0xfe]),
    });
    assert.deepEqual(badKey, { kind: "skip", reason: "the record key must be valid UTF-8" });
    assert.equal(recordInvocation(schema, subscription("Gone"), record).kind, "unavailable");
  });
});
