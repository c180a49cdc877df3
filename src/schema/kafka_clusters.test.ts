import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  addKafkaCluster,
  kafkaClusterNameProblem,
  listKafkaClusters,
  removeKafkaCluster,
  replaceKafkaClusterProperties,
  resolveKafkaCluster,
} from "./kafka_clusters.js";
import { redactKafkaProperties } from "./kafka_options.js";
import { EMPTY_SCHEMA } from "./schema.js";

const configured = [
  { name: "shared", properties: { "metadata.broker.list": "config:9092" } },
  { name: "file-only", properties: { "metadata.broker.list": "file:9092" } },
];

describe("Kafka clusters", () => {
  const schema = addKafkaCluster(EMPTY_SCHEMA, {
    name: "shared",
    properties: { "bootstrap.servers": "registered:9092" },
    createdAtMs: 1000,
  });

  it("prefers a registered cluster to a configured one of the same name", () => {
    const shared = resolveKafkaCluster(schema, configured, "shared");
    assert.deepEqual(shared, {
      name: "shared",
      properties: { "bootstrap.servers": "registered:9092" },
      createdAtMs: 1000,
      configured: false,
      shadowsConfigured: true,
    });
    assert.deepEqual(resolveKafkaCluster(schema, configured, "file-only"), {
      ...configured[1],
      createdAtMs: 0,
      configured: true,
      shadowsConfigured: false,
    });
    assert.equal(resolveKafkaCluster(schema, configured, "nope"), undefined);
  });

  it("lists registered clusters first, then the configured ones they do not hide", () => {
    assert.deepEqual(
      listKafkaClusters(schema, configured).map((c) => [c.name, c.configured]),
      [
        ["shared", false],
        ["file-only", true],
      ],
    );
    assert.deepEqual(
      listKafkaClusters(removeKafkaCluster(schema, "shared"), configured).map((c) => c.name),
      ["shared", "file-only"],
    );
    // Both from the file once the registered one is gone.
    assert.ok(
      listKafkaClusters(removeKafkaCluster(schema, "shared"), configured).every(
        (c) => c.configured,
      ),
    );
  });

  it("replaces properties of the named cluster only", () => {
    const two = addKafkaCluster(schema, {
      name: "other",
      properties: { "bootstrap.servers": "o:1" },
      createdAtMs: 2000,
    });
    const next = replaceKafkaClusterProperties(two, "other", { "bootstrap.servers": "o:2" });
    assert.deepEqual(
      next.kafkaClusters?.map((c) => [c.name, c.properties["bootstrap.servers"], c.createdAtMs]),
      [
        ["shared", "registered:9092", 1000],
        ["other", "o:2", 2000],
      ],
    );
  });

  it("takes names that are URI authorities only", () => {
    for (const good of [
      "orders",
      "Broker-1.example:9092",
      "a@b",
      "[::1]",
      "[::1]:90",
      "a%b@c",
      "u:p@h:1",
      "a'b",
    ])
      assert.equal(kafkaClusterNameProblem(good), undefined, good);
    assert.equal(kafkaClusterNameProblem(""), "empty string");
    for (const bad of ["a b", "a/b", "é", "a?b"])
      assert.equal(kafkaClusterNameProblem(bad), "invalid uri character", bad);
    assert.equal(kafkaClusterNameProblem("x%41"), "invalid authority");
    assert.equal(kafkaClusterNameProblem("[::1"), "invalid authority");
    // Restate's answers, which Keel's first reading of the rules missed.
    for (const bad of ["@", "a@", "a:b:c", "::::::::::", "x]", "a[b]["])
      assert.equal(kafkaClusterNameProblem(bad), "invalid authority", bad);
  });

  it("redacts credentials and key locations", () => {
    assert.deepEqual(
      redactKafkaProperties({
        "bootstrap.servers": "b:1",
        "sasl.password": "p",
        "sasl.username": "u",
        "ssl.key.pem": "k",
        "ssl.truststore.location": "/etc/t",
        "sasl.oauthbearer.client.secret": "s",
        "client.id": "c",
      }),
      {
        "bootstrap.servers": "b:1",
        "sasl.password": "***",
        "sasl.username": "***",
        "ssl.key.pem": "***",
        "ssl.truststore.location": "***",
        "sasl.oauthbearer.client.secret": "***",
        "client.id": "c",
      },
    );
  });
});
