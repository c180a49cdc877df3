/**
 * The invoker against a scripted endpoint, inside a whole in-memory node: attempts end, free their
 * slot and close the request stream; failed attempts are retried with backoff; suspensions resume.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fromUtf8, utf8 } from "../core/bytes.js";
import { limits } from "../core/limits.js";
import {
  HandlerType,
  InvocationPhase,
  ServiceType,
  type ServiceInvocation,
} from "../gen/keel/records.js";
import {
  CallCommandMessage,
  InputCommandMessage,
  NotificationMessage,
  SleepCommandMessage,
} from "../gen/keel/service_protocol.js";
import { InvocationId, childInvocationId, freshInvocationId } from "../core/ids.js";
import { MessageType } from "../service-protocol/message_types.js";
import { targetRefOf } from "../partition/lifecycle.js";
import { TableReader } from "../partition-store/tables.js";
import { FakeEndpoint } from "../../test/support/fake_endpoint.js";
import { NO_LOG } from "../platform/ports.js";
import {
  ingressInvocation,
  memoryNode,
  settle,
  testSchema,
  T0,
} from "../../test/support/memory_node.js";
import type { KeelNode } from "../node/node.js";
import type { InvocationTracing } from "../observability/index.js";

let counter = 0;
function invocation(node: KeelNode): ServiceInvocation {
  const uuid = new Uint8Array(16);
  uuid[0] = ++counter;
  uuid[1] = counter >> 8;
  const target = {
    service: "Svc",
    handler: "h",
    key: "",
    serviceType: ServiceType.SERVICE_TYPE_SERVICE,
    handlerType: HandlerType.HANDLER_TYPE_UNSPECIFIED,
  };
  void node;
  return ingressInvocation(target, uuid, { completionRetentionMs: 0, journalRetentionMs: 0 })
    .invocation;
}

async function callAndWait(node: KeelNode, inv: ServiceInvocation): Promise<string> {
  const id = freshInvocationId(targetRefOf(inv.target!), inv.invocationId.subarray(8));
  const { completion } = await node.submit(inv, id.partitionKey, true);
  const result = await completion!;
  assert.equal(result.kind, "completed");
  if (result.kind !== "completed") return "";
  const kind = result.result.kind;
  return kind?.$case === "value"
    ? fromUtf8(kind.value)
    : `failure ${kind?.$case === "failure" ? kind.value.message : "?"}`;
}

/** An endpoint whose every attempt outputs "done" and ends. */
function answeringDone(): FakeEndpoint {
  return new FakeEndpoint(() => (attempt) => {
    attempt.output('"done"');
    attempt.end();
  });
}

describe("invoker", () => {
  it("frees every attempt slot: more invocations than the concurrency limit all complete", async () => {
    const endpoint = answeringDone();
    const { node } = await memoryNode(endpoint, { concurrencyMax: 2 });
    await node.updateSchema(() => ({ schema: testSchema(), result: undefined }));
    const results = await Promise.all(
      Array.from({ length: 10 }, () => callAndWait(node, invocation(node))),
    );
    assert.deepEqual(results, Array(10).fill('"done"'));
    await settle();
    assert.equal(node.invoker.runningAttempts, 0);
    assert.ok(
      endpoint.attempts.every((a) => a.requestEnded),
      "the server ends its request stream after End",
    );
    await node.stop();
  });

  it("retries a failing attempt with backoff and succeeds on the third", async () => {
    const endpoint = new FakeEndpoint((_request, n) => (attempt) => {
      if (n < 3) {
        attempt.error(500, `attempt ${n} failed`);
        return;
      }
      attempt.output(`"ok after ${n}"`);
      attempt.end();
    });
    const { node, clock } = await memoryNode(endpoint);
    await node.updateSchema(() => ({
      schema: testSchema({ initialIntervalMs: 100, exponentiationFactor: 2 }),
      result: undefined,
    }));
    const result = callAndWait(node, invocation(node));
    await settle();
    assert.equal(endpoint.attempts.length, 1);
    // Each retry waits its interval plus jitter: at least 3 ms, at most 30% of the interval.
    clock.advance(102);
    await settle();
    assert.equal(endpoint.attempts.length, 1, "no retry before the initial interval and 3 ms");
    clock.advance(28);
    await settle();
    assert.equal(endpoint.attempts.length, 2, "first retry within 100 ms + 30%");
    clock.advance(202);
    await settle();
    assert.equal(endpoint.attempts.length, 2, "second retry waits twice as long");
    clock.advance(58);
    assert.equal(await result, '"ok after 3"');
    await node.stop();
  });

  it("starts an awaited call before a one-way send applied just ahead of it", async () => {
    const endpoint = answeringDone();
    const { node } = await memoryNode(endpoint, { partitions: 1 });
    await node.updateSchema(() => ({ schema: testSchema(), result: undefined }));
    const send = { ...invocation(node), wantsResult: false };
    const call = invocation(node);
    const [sendId, callId] = [send, call].map((inv) =>
      freshInvocationId(targetRefOf(inv.target!), inv.invocationId.subarray(8)),
    );
    // Proposed in one turn: one log write, one applied batch, the send's record first.
    const sent = node.submit(send, sendId!.partitionKey, false);
    const called = node.submit(call, callId!.partitionKey, true);
    await Promise.all([sent, called]);
    await settle();
    const started = endpoint.attempts.map((a) => InvocationId.fromBytes(a.start.id).toString());
    assert.deepEqual(started, [callId!.toString(), sendId!.toString()]);
    await node.stop();
  });

  it("holds one-way sends past the bound of starting attempts, not calls, until the window passes", async () => {
    const endpoint = new FakeEndpoint(() => () => undefined);
    const { node, clock } = await memoryNode(endpoint, { backgroundStartingMax: 2 });
    await node.updateSchema(() => ({ schema: testSchema(), result: undefined }));
    const submit = (inv: ServiceInvocation, awaited: boolean) => {
      const id = freshInvocationId(targetRefOf(inv.target!), inv.invocationId.subarray(8));
      return node.submit(inv, id.partitionKey, awaited);
    };
    for (let i = 0; i < 3; i++) await submit({ ...invocation(node), wantsResult: false }, false);
    await settle();
    assert.equal(endpoint.attempts.length, 2, "the third send waits");
    void submit(invocation(node), true);
    await settle();
    assert.equal(endpoint.attempts.length, 3, "a call does not wait behind the sends");
    clock.advance(limits.invokerBackgroundStartingMs - 1);
    await settle();
    assert.equal(endpoint.attempts.length, 3);
    clock.advance(1);
    await settle();
    assert.equal(endpoint.attempts.length, 4, "the first sends left their first window");
    await node.stop();
  });

  it("gives the slot of a killed running attempt to the next invocation", async () => {
    const endpoint = new FakeEndpoint(() => () => undefined);
    const { node } = await memoryNode(endpoint, { concurrencyMax: 1 });
    await node.updateSchema(() => ({ schema: testSchema(), result: undefined }));
    const [first, second] = [invocation(node), invocation(node)];
    const firstId = freshInvocationId(targetRefOf(first.target!), first.invocationId.subarray(8));
    const secondId = freshInvocationId(
      targetRefOf(second.target!),
      second.invocationId.subarray(8),
    );
    await node.submit(first, firstId.partitionKey, false);
    await node.submit(second, secondId.partitionKey, false);
    await settle();
    assert.equal(endpoint.attempts.length, 1);
    await node.terminate(firstId, "kill");
    await settle();
    assert.equal(endpoint.attempts.length, 2, "the second runs in the freed slot");
    await node.stop();
  });

  it("pauses the invocation after the last attempt", async () => {
    const endpoint = new FakeEndpoint(() => (attempt) => attempt.error(500, "always"));
    const { node, clock } = await memoryNode(endpoint);
    await node.updateSchema(() => ({
      schema: testSchema({ initialIntervalMs: 10, maxAttempts: 3 }),
      result: undefined,
    }));
    const inv = invocation(node);
    const id = freshInvocationId(targetRefOf(inv.target!), inv.invocationId.subarray(8));
    await node.submit(inv, id.partitionKey, false);
    for (let i = 0; i < 10; i++) {
      clock.advance(100);
      await settle();
    }
    assert.equal(endpoint.attempts.length, 3);
    const attached = await node.attach(id, false);
    assert.equal(attached.kind, "notReady", "a paused invocation is not completed");
    await node.stop();
  });

  it("pauses at once, without a stream, an invocation with an entry over the bound of a message to a service", async () => {
    const endpoint = answeringDone();
    const { node, clock } = await memoryNode(endpoint);
    await node.updateSchema(() => ({
      schema: testSchema({ initialIntervalMs: 10, maxAttempts: 5 }),
      result: undefined,
    }));
    const inv = { ...invocation(node), argument: new Uint8Array(limits.attemptMessageBytesMax) };
    const id = freshInvocationId(targetRefOf(inv.target!), inv.invocationId.subarray(8));
    await node.submit(inv, id.partitionKey, false);
    for (let i = 0; i < 10; i++) {
      clock.advance(100);
      await settle();
    }
    assert.equal(endpoint.attempts.length, 0, "no attempt reached the endpoint");
    const partition = node.partitionProcessors[node.partitionTable.partitionOf(id.partitionKey)]!;
    const status = new TableReader(partition.reader()).status(id);
    assert.equal(status?.phase, InvocationPhase.INVOCATION_PHASE_PAUSED);
    assert.match(status?.lastFailure?.message ?? "", /journal entry 0 .* bytes, more than/);
    await node.stop();
  });

  it("fails an attempt whose command does not decode, journals nothing of it, and retries", async () => {
    // A sleep whose wake-up time needs more than 53 bits, and a SetState cut inside its value:
    // neither decodes, so applying either would fail at every replay of the log.
    const hugeSleep = new Uint8Array([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    const cutSetState = new Uint8Array([0x0a, 0x01, 0x6b, 0x1a, 0x05, 0x0a, 0x03, 0x61]);
    const endpoint = new FakeEndpoint((_request, n) => (attempt) => {
      if (n <= 2) {
        attempt.send(
          n === 1 ? MessageType.SleepCommand : MessageType.SetStateCommand,
          n === 1 ? hugeSleep : cutSetState,
        );
        attempt.closeResponse();
        return;
      }
      attempt.output(`"journal ${attempt.replayed.map((f) => f.type).join(",")}"`);
      attempt.end();
    });
    const { node, clock } = await memoryNode(endpoint);
    await node.updateSchema(() => ({
      schema: testSchema({ initialIntervalMs: 10 }),
      result: undefined,
    }));
    const inv = invocation(node);
    const result = callAndWait(node, inv);
    for (let i = 0; i < 5; i++) {
      await settle();
      clock.advance(20);
    }
    assert.equal(await result, `"journal ${MessageType.InputCommand}"`);
    assert.equal(endpoint.attempts.length, 3);
    const info = node.invoker.info(
      freshInvocationId(targetRefOf(inv.target!), inv.invocationId.subarray(8)),
    );
    assert.equal(info, undefined, "the invocation is done");
    await node.stop();
  });

  it("suspends on a sleep and resumes with a replay when the timer fires", async () => {
    const endpoint = new FakeEndpoint((_request, n) => (attempt) => {
      if (n === 1) {
        attempt.send(
          MessageType.SleepCommand,
          SleepCommandMessage.encode({
            wakeUpTime: T0 + 5000,
            resultCompletionId: 1,
            name: "",
          }).finish(),
        );
        attempt.suspend([1]);
        return;
      }
      const types = attempt.replayed.map((f) => f.type);
      attempt.output(JSON.stringify(types.join(",")));
      attempt.end();
    });
    const { node, clock } = await memoryNode(endpoint);
    await node.updateSchema(() => ({ schema: testSchema(), result: undefined }));
    const result = callAndWait(node, invocation(node));
    await settle();
    assert.equal(endpoint.attempts.length, 1);
    clock.advance(5000);
    const replayed = await result;
    assert.equal(
      replayed,
      `"${[MessageType.InputCommand, MessageType.SleepCommand, MessageType.SleepCompletion].join(",")}"`,
    );
    assert.equal(endpoint.attempts[1]!.start.knownEntries, 3);
    await node.stop();
  });

  it("closes the request after the replay when the inactivity timeout is 0 (suspend at every await)", async () => {
    let endedAtStart: boolean | undefined;
    const endpoint = new FakeEndpoint(() => (attempt) => {
      endedAtStart = attempt.requestEnded;
      attempt.output('"done"');
      attempt.end();
    });
    const { node } = await memoryNode(endpoint);
    await node.updateSchema(() => ({
      schema: testSchema({}, { inactivityTimeoutMs: 0 }),
      result: undefined,
    }));
    assert.equal(await callAndWait(node, invocation(node)), '"done"');
    assert.equal(endedAtStart, true, "the SDK sees the end of the request with the journal");
    await node.stop();
  });

  it("warns about a failing invocation at most once per interval, counting the failures between", async () => {
    const warnings: { text: string; fields: Record<string, unknown> }[] = [];
    const logger = {
      ...NO_LOG,
      warn: (text: string, fields: Record<string, unknown> = {}) => warnings.push({ text, fields }),
    };
    const endpoint = new FakeEndpoint((_request, n) => (attempt) => attempt.error(500, `no ${n}`));
    const { node, clock } = await memoryNode(endpoint, { logger });
    await node.updateSchema(() => ({
      schema: testSchema({ initialIntervalMs: 1000, exponentiationFactor: 1, maxIntervalMs: 1000 }),
      result: undefined,
    }));
    const inv = invocation(node);
    const id = freshInvocationId(targetRefOf(inv.target!), inv.invocationId.subarray(8));
    void node.submit(inv, id.partitionKey, false);
    await settle();
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.text, /^Invocation error, retrying in 1s \d+ms\.$/);
    assert.deepEqual(warnings[0]!.fields, {
      invocation: id.toString(),
      partition: node.partitionTable.partitionOf(id.partitionKey),
      target: "Svc/h",
      attempt: 1,
      code: 500,
      message: "no 1",
      errorCode: "RT0007",
      deployment: "dp_1fake000000000000000000",
    });
    for (let i = 0; i < 12; i++) {
      clock.advance(1300);
      await settle();
    }
    assert.ok(endpoint.attempts.length >= 9, `attempts: ${endpoint.attempts.length}`);
    assert.equal(warnings.length, 2, "one warning per 10 s");
    assert.equal(warnings[1]!.fields["failuresSinceLastWarning"], 7, JSON.stringify(warnings[1]));
    await node.stop();
  });

  it("asks an idle attempt to suspend, then aborts it after the abort timeout and retries", async () => {
    const endpoint = new FakeEndpoint((_request, n) => (attempt) => {
      if (n === 1) return; // hangs: never answers, never closes
      attempt.output('"second attempt"');
      attempt.end();
    });
    const { node, clock } = await memoryNode(endpoint);
    await node.updateSchema(() => ({
      schema: testSchema(
        { initialIntervalMs: 10 },
        { inactivityTimeoutMs: 100, abortTimeoutMs: 200 },
      ),
      result: undefined,
    }));
    const result = callAndWait(node, invocation(node));
    await settle();
    clock.advance(100);
    await settle();
    assert.equal(endpoint.attempts[0]!.requestEnded, true, "inactivity closes the request stream");
    assert.equal(endpoint.attempts.length, 1);
    clock.advance(200);
    await settle();
    clock.advance(13);
    assert.equal(await result, '"second attempt"');
    assert.equal(endpoint.attempts.length, 2);
    await node.stop();
  });

  it("delivers a call to another partition once and truncates the outbox after delivery", async () => {
    const endpoint = new FakeEndpoint(() => (attempt) => {
      const isParent =
        JSON.parse(
          new TextDecoder().decode(
            InputCommandMessage.decode(attempt.replayed[0]!.payload).value!.content,
          ),
        ) === "parent";
      if (!isParent) {
        attempt.output('"child result"');
        attempt.end();
        return;
      }
      const completed = attempt.replayed.find((f) => f.type === MessageType.CallCompletion);
      if (completed === undefined) {
        attempt.send(
          MessageType.CallCommand,
          CallCommandMessage.encode({
            serviceName: "Svc",
            handlerName: "h",
            parameter: utf8('"child"'),
            headers: [],
            key: "",
            invocationIdNotificationIdx: 1,
            resultCompletionId: 2,
            name: "",
          }).finish(),
        );
        attempt.suspend([2]);
        return;
      }
      const value = NotificationMessage.decode(completed.payload).result;
      attempt.output(value?.$case === "value" ? fromUtf8(value.value.content) : "null");
      attempt.end();
    });
    const { node } = await memoryNode(endpoint, { partitions: 4 });
    await node.updateSchema(() => ({ schema: testSchema(), result: undefined }));
    // Pick a parent whose child (derived from the parent's id) lands on another partition.
    let parent = invocation(node);
    const partitionOf = (id: InvocationId): number =>
      node.partitionTable.partitionOf(id.partitionKey);
    for (;;) {
      const parentId = InvocationId.fromBytes(parent.invocationId);
      const childId = childInvocationId(parentId, 1, {
        service: "Svc",
        handler: "h",
        key: "",
        keyed: false,
      });
      if (partitionOf(childId) !== partitionOf(parentId)) break;
      parent = invocation(node);
    }
    parent.argument = utf8('"parent"');
    const parentId = InvocationId.fromBytes(parent.invocationId);
    const { completion } = await node.submit(parent, parentId.partitionKey, true);
    const result = await completion!;
    assert.ok(result.kind === "completed" && result.result.kind?.$case === "value");
    assert.equal(fromUtf8(result.result.kind.value), '"child result"');
    await settle();
    for (const processor of node.partitionProcessors) {
      assert.deepEqual(
        processor.reader().scan("o/"),
        [],
        `partition ${processor.partitionId}: outbox truncated`,
      );
    }
    await node.stop();
  });

  it("reports each attempt to the tracing port with the invocation's stored parent and sends the headers it returns with the attempt", async () => {
    const events: string[] = [];
    const parent = `00-${"2".repeat(32)}-${"3".repeat(16)}-01`;
    const tracing: InvocationTracing = {
      attemptStarted: (attempt) => {
        events.push(`attempt ${attempt.target} parent=${attempt.parent}`);
        return {
          traceparent: `00-${"1".repeat(32)}-${String(events.length).padStart(16, "0")}-01`,
        };
      },
      journalEntry: (_id, command) => events.push(`entry ${command}`),
      entryCompleted: (_id, completionId) => events.push(`entry completed ${completionId}`),
      attemptFinished: (_id, outcome) => events.push(`finished ${outcome}`),
      invocationCompleted: (_id, outcome) => events.push(`completed ${outcome}`),
    };
    const sent: (string | undefined)[] = [];
    const endpoint = new FakeEndpoint((request, attemptNumber) => (attempt) => {
      sent.push(request.headers["traceparent"]);
      if (attemptNumber === 1) {
        attempt.error(500, "first attempt fails");
        return;
      }
      attempt.output('"done"');
      attempt.end();
    });
    const { node, clock } = await memoryNode(endpoint, { tracing });
    await node.updateSchema(() => ({ schema: testSchema(), result: undefined }));
    const done = callAndWait(node, { ...invocation(node), traceParent: parent });
    await settle();
    clock.advance(limits.retryMaxIntervalMsDefault);
    assert.equal(await done, '"done"');
    await settle();
    assert.deepEqual(events, [
      `attempt Svc/h parent=${parent}`,
      "finished failed",
      `attempt Svc/h parent=${parent}`,
      "entry Output",
      "completed succeeded",
      "finished ended",
    ]);
    assert.deepEqual(sent, [
      `00-${"1".repeat(32)}-0000000000000001-01`,
      `00-${"1".repeat(32)}-0000000000000003-01`,
    ]);
  });
});
