/**
 * OpenTelemetry traces across the nodes of a cluster: three keel-server nodes export to one test
 * OTLP/HTTP receiver. A request that enters one node's ingress for a partition another node leads
 * makes one trace, the leader's spans under the first node's ingress span; an invocation whose
 * leader is killed while it waits goes on in the same trace on the new leader, because its trace
 * parent is stored with it (not kept in the old leader's memory).
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { PartitionTable, partitionKeyOf } from "../../src/core/partitioning.js";
import {
  call,
  eventually,
  postJson,
  register,
  startCluster,
  startServices,
  type KeelCluster,
  type KeelServer,
  type ServiceEndpoint,
} from "./harness.js";
import { startReceiver, type ExportedSpan } from "./otlp_receiver.js";
import { clusterStatus, type ClusterSection } from "./cluster_checks.js";

const PARTITIONS = 4;

/** The name (`n2`) of the node that leads `partition` now, once one does. */
function leaderName(section: ClusterSection, partition: number): string | undefined {
  const leader = section.partitions.find((p) => p.id === partition)?.leader ?? null;
  if (leader === null) return undefined;
  return section.nodes.find((n) => n.node_id.startsWith(`${leader}:`))?.name;
}

/** A key whose partition `leader` leads (keyed targets are placed by their key alone). */
function keyLedBy(section: ClusterSection, leader: string, prefix: string): string {
  const table = new PartitionTable(PARTITIONS);
  for (let i = 0; i < 1000; i++) {
    const key = `${prefix}-${i}`;
    if (leaderName(section, table.partitionOf(partitionKeyOf(key))) === leader) return key;
  }
  assert.fail(`no key of ${leader}'s partitions`);
}

const traceIdOf = (traceparent: string): string => traceparent.split("-")[1] ?? "";
const spanIdOf = (traceparent: string): string => traceparent.split("-")[2] ?? "";

describe("OpenTelemetry traces across a cluster's nodes", () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let cluster: KeelCluster;
  let services: ServiceEndpoint;
  let byName: (name: string) => KeelServer;
  /** The node the requests enter through (it stays up), and the leader they reach (killed later). */
  let entry: KeelServer;
  let leader: string;
  let section: ClusterSection;

  before(async () => {
    receiver = await startReceiver();
    cluster = await startCluster({
      size: 3,
      replication: "2",
      partitions: PARTITIONS,
      extraArgs: () => ["--tracing-endpoint", receiver.url],
    });
    byName = (name) => cluster.nodes[Number(name.slice(1)) - 1]!;
    services = await startServices({ fixture: { script: "tracing_services.js" } });
    assert.equal((await register(cluster.nodes[0]!.admin, services.url)).status, 201);
    entry = cluster.nodes[0]!;
    // A leader other than n1 (the node the others joined through), so n1 takes every request.
    // The placement must have settled: the controller gives a node that joined its replicas first
    // and its leaderships a pass later (it leads only partitions whose log it has read).
    let previous = "";
    section = await eventually(async () => {
      const now = clusterStatus(entry.admin);
      const others = now.partitions.map((p) => leaderName(now, p.id));
      const leaders = others.join(",");
      const settled = leaders === previous;
      previous = leaders;
      if (!settled) await new Promise((resolve) => setTimeout(resolve, 3_000));
      return settled && others.every((n) => n !== undefined) && others.some((n) => n !== "n1")
        ? now
        : undefined;
    }, "every partition led, some by a node other than n1, the same for 3 s");
    leader = section.partitions.map((p) => leaderName(section, p.id)!).find((n) => n !== "n1")!;
  });
  after(async () => {
    await services?.stop();
    await cluster?.stop();
    cluster?.cleanup();
    await new Promise((resolve) => receiver?.server.close(resolve));
  });

  const spansOf = (traceId: string): ExportedSpan[] =>
    receiver.spans.filter((s) => s.traceId === traceId);
  const nodeOf = (span: ExportedSpan): string => String(span.resource.get("keel.node"));

  it("makes one trace of a request that enters one node for a partition another node leads", async () => {
    const key = keyLedBy(section, leader, "remote");
    const callerTraceId = "5cf92f3577b34da6a3ce929d0e0e4701";
    const callerSpanId = "10f067aa0ba902b7";
    const res = await postJson(`${entry.ingress}/TraceObject/${key}/step`, key, {
      traceparent: `00-${callerTraceId}-${callerSpanId}-01`,
    });
    assert.equal(res.status, 200, res.text);
    const seen = res.json<{ object: string; flow: string }>();
    const one = (name: string): ExportedSpan | undefined => {
      const found = spansOf(callerTraceId).filter((s) => s.name === name);
      return found.length === 1 ? found[0] : undefined;
    };
    const [ingress, object, objectAttempt, flow] = await eventually(() => {
      const spans = [
        one(`ingress TraceObject/${key}/step`),
        one(`invocation TraceObject/${key}/step`),
        one(`attempt TraceObject/${key}/step`),
        one(`invocation TraceFlow/${key}/run`),
      ];
      return spans.every((s) => s !== undefined) ? spans : undefined;
    }, "the ingress span from n1 and the invocation spans from the leader");
    assert.equal(nodeOf(ingress!), "n1");
    assert.equal(ingress!.parentSpanId, callerSpanId);
    for (const span of [object!, objectAttempt!, flow!]) assert.equal(nodeOf(span), leader);
    assert.equal(
      object!.parentSpanId,
      ingress!.spanId,
      "the leader's span under n1's ingress span",
    );
    assert.equal(objectAttempt!.parentSpanId, object!.spanId);
    assert.equal(flow!.parentSpanId, objectAttempt!.spanId);
    assert.equal(seen.object, `00-${callerTraceId}-${objectAttempt!.spanId}-01`);
    assert.equal(traceIdOf(seen.flow), callerTraceId);
    // Nothing of this request went to another trace.
    const stray = receiver.spans.filter(
      (s) => s.attributes.get("restate.invocation.target") === `TraceObject/${key}/step`,
    );
    assert.ok(stray.every((s) => s.traceId === callerTraceId));
  });

  it("keeps an invocation in its trace when its attempts move to a new leader", async () => {
    const key = keyLedBy(section, leader, "moved");
    const partition = new PartitionTable(PARTITIONS).partitionOf(partitionKeyOf(key));
    const callerTraceId = "5cf92f3577b34da6a3ce929d0e0e4702";
    const callerSpanId = "20f067aa0ba902b7";
    const sent = await postJson(`${entry.ingress}/TraceHold/${key}/run/send`, key, {
      traceparent: `00-${callerTraceId}-${callerSpanId}-01`,
    });
    assert.equal(sent.status, 202, sent.text);
    const awakeable = await eventually(async () => {
      const res = await postJson(`${entry.ingress}/TraceHold/${key}/awakeableId`, null);
      return res.status === 200 ? (res.json<string | null>() ?? undefined) : undefined;
    }, "the workflow waits on its awakeable");
    // The leader's own spans joined the trace: its SetState (ended at once) is exported by it.
    await eventually(
      () =>
        spansOf(callerTraceId).some((s) => s.name === "SetState" && nodeOf(s) === leader)
          ? true
          : undefined,
      "the first leader's SetState span in the caller's trace",
    );
    const ingress = spansOf(callerTraceId).find((s) => s.name === `ingress TraceHold/${key}/run`);
    assert.ok(ingress !== undefined && nodeOf(ingress) === "n1");

    await byName(leader).kill9();
    const successor = await eventually(() => {
      const name = leaderName(clusterStatus(entry.admin), partition);
      return name !== undefined && name !== leader ? name : undefined;
    }, `a new leader of partition ${partition}`);
    // The new leader runs the invocation again; the resolution reaches its attempt.
    const resolved = await eventually(async () => {
      const res = await postJson(`${entry.ingress}/restate/awakeables/${awakeable}/resolve`, "go");
      return res.status === 202 ? res : undefined;
    }, "the awakeable resolved through n1");
    assert.equal(resolved.status, 202);
    const output = await eventually(async () => {
      const res = await call(`${entry.ingress}/restate/workflow/TraceHold/${key}/output`);
      return res.status === 200 ? res.json<{ attempt: string; value: string }>() : undefined;
    }, "the workflow's output");
    assert.equal(output.value, "go");
    assert.equal(traceIdOf(output.attempt), callerTraceId, "the new leader's attempt, same trace");

    const invocation = await eventually(
      () =>
        spansOf(callerTraceId).find(
          (s) => s.name === `invocation TraceHold/${key}/run` && nodeOf(s) === successor,
        ),
      "the new leader's invocation span",
    );
    assert.equal(invocation.parentSpanId, ingress.spanId, "under n1's ingress span, as before");
    assert.equal(invocation.attributes.get("restate.invocation.outcome"), "succeeded");
    const attempt = spansOf(callerTraceId).find((s) => s.spanId === spanIdOf(output.attempt));
    assert.ok(attempt !== undefined, "the attempt that finished is exported");
    assert.equal(nodeOf(attempt), successor);
    assert.equal(attempt.parentSpanId, invocation.spanId);
    // Every span of this invocation, from any node, is in the caller's trace.
    const ofKey = receiver.spans.filter(
      (s) => s.attributes.get("restate.invocation.target") === `TraceHold/${key}/run`,
    );
    assert.ok(ofKey.length >= 3 && ofKey.every((s) => s.traceId === callerTraceId));
  });
});
