/**
 * Scenario tests of the partition state machine: records in, store and actions out. Each test tells
 * one story of an invocation's life the way the log would see it.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fromUtf8, utf8 } from "../core/bytes.js";
import { InvocationPhase, TerminationKind } from "../gen/keel/records.js";
import {
  CallCommandMessage,
  GetLazyStateCommandMessage,
  GetPromiseCommandMessage,
  CompletePromiseCommandMessage,
  NotificationMessage,
  OutputCommandMessage,
  RunCommandMessage,
  SetStateCommandMessage,
  SleepCommandMessage,
} from "../gen/keel/service_protocol.js";
import { MessageType } from "../service-protocol/message_types.js";
import type { Action } from "./actions.js";
import {
  PartitionScenario,
  kinds,
  objectTarget,
  serviceTarget,
  workflowTarget,
} from "./testing.js";
import type { InvocationId } from "../core/ids.js";

const output = (text: string): Uint8Array =>
  OutputCommandMessage.encode({
    result: { $case: "value", value: { content: utf8(text) } },
    name: "",
  }).finish();

function finish(s: PartitionScenario, id: InvocationId, text: string): Action[] {
  s.command(id, MessageType.OutputCommand, output(text));
  return s.effect(id, { $case: "end", value: {} });
}

function completedValue(actions: Action[]): string | undefined {
  for (const a of actions) {
    if (a.kind === "completed" && a.result.kind?.$case === "value")
      return fromUtf8(a.result.kind.value);
  }
  return undefined;
}

function notifications(actions: Action[]): NotificationMessage[] {
  return actions.flatMap((a) => (a.kind === "notify" ? [NotificationMessage.decode(a.raw)] : []));
}

describe("partition state machine", () => {
  it("runs a service invocation: invoke, a run step, output, end", () => {
    const s = new PartitionScenario();
    s.announce();
    const inv = s.invocation(serviceTarget("Greeter", "greet"), '"alice"');
    const started = s.invoke(inv);
    assert.deepEqual(kinds(started), ["invoke", "outcome"]);
    const id = (started[0] as Extract<Action, { kind: "invoke" }>).invocationId;
    assert.equal(s.reader.journal(id, 1)[0]!.messageType, MessageType.InputCommand);

    s.command(
      id,
      MessageType.RunCommand,
      RunCommandMessage.encode({ resultCompletionId: 1, name: "step" }).finish(),
    );
    const proposed = s.effect(id, {
      $case: "runCompletion",
      value: { completionId: 1, result: { kind: { $case: "value", value: utf8("42") } } },
    });
    const [runDone] = notifications(proposed);
    assert.equal(runDone?.id?.$case === "completionId" && runDone.id.value, 1);
    assert.equal(
      runDone?.result?.$case === "value" && fromUtf8(runDone.result.value.content),
      "42",
    );

    // A duplicate proposal of the same completion (a retried attempt) is dropped.
    assert.deepEqual(
      s.effect(id, {
        $case: "runCompletion",
        value: { completionId: 1, result: { kind: { $case: "value", value: utf8("43") } } },
      }),
      [],
    );

    const done = finish(s, id, '"hello alice"');
    assert.equal(completedValue(done), '"hello alice"');
    const status = s.reader.status(id)!;
    assert.equal(status.phase, InvocationPhase.INVOCATION_PHASE_COMPLETED);
    assert.equal(status.journalLength, 4, "input, run, run completion, output");
    assert.ok(
      done.some((a) => a.kind === "registerTimer"),
      "retention is a cleanup timer",
    );
  });

  it("drops a command proposed at the wrong index and effects after completion", () => {
    const s = new PartitionScenario();
    s.announce();
    const realId = (
      s.invoke(s.invocation(serviceTarget("Svc", "h"), "2"))[0] as Extract<
        Action,
        { kind: "invoke" }
      >
    ).invocationId;
    const stale = s.effect(realId, {
      $case: "command",
      value: {
        commandIndex: 5,
        messageType: MessageType.RunCommand,
        raw: new Uint8Array(),
        resolvedCall: undefined,
      },
    });
    assert.deepEqual(stale, []);
    assert.equal(s.reader.status(realId)!.journalLength, 1);
    finish(s, realId, "x");
    assert.deepEqual(finish(s, realId, "y"), [], "an attempt that was overtaken cannot write");
  });

  it("serializes exclusive handlers of one object key and lets shared ones through", () => {
    const s = new PartitionScenario();
    s.announce();
    const first = s.invoke(s.invocation(objectTarget("Counter", "k", "add"), "1"));
    const second = s.invoke(s.invocation(objectTarget("Counter", "k", "add"), "2"));
    const shared = s.invoke(s.invocation(objectTarget("Counter", "k", "get", true), ""));
    const other = s.invoke(s.invocation(objectTarget("Counter", "other", "add"), "3"));
    assert.deepEqual(kinds(first), ["invoke", "outcome"]);
    assert.deepEqual(kinds(second), ["outcome"], "the second exclusive call waits in the inbox");
    assert.deepEqual(kinds(shared), ["invoke", "outcome"], "shared handlers bypass the lock");
    assert.deepEqual(kinds(other), ["invoke", "outcome"], "other keys are independent");
    const firstId = (first[0] as Extract<Action, { kind: "invoke" }>).invocationId;
    const secondId = (second[0] as Extract<Action, { kind: "outcome" }>).outcome;
    assert.equal(secondId.kind, "accepted");
    s.command(
      firstId,
      MessageType.SetStateCommand,
      SetStateCommandMessage.encode({
        key: utf8("v"),
        value: { content: utf8("1") },
        name: "",
      }).finish(),
    );
    const released = finish(s, firstId, "1");
    const next = released.find((a) => a.kind === "invoke");
    assert.ok(next !== undefined, "completing the holder starts the next inboxed invocation");
    assert.ok(
      secondId.kind === "accepted" &&
        next.kind === "invoke" &&
        next.invocationId.equals(secondId.invocationId),
    );
    // The state written by the first is visible to the second through lazy state.
    const nextId = next.invocationId;
    const lazy = s.command(
      nextId,
      MessageType.GetLazyStateCommand,
      GetLazyStateCommandMessage.encode({
        key: utf8("v"),
        resultCompletionId: 1,
        name: "",
      }).finish(),
    );
    const [value] = notifications(lazy);
    assert.equal(value?.result?.$case === "value" && fromUtf8(value.result.value.content), "1");
  });

  it("answers a repeated idempotent request with the same invocation and result", () => {
    const s = new PartitionScenario();
    s.announce();
    const target = serviceTarget("Greeter", "greet");
    const first = s.invoke(s.invocation(target, "1", { idempotencyKey: "key-1" }));
    const id = (first[0] as Extract<Action, { kind: "invoke" }>).invocationId;
    const again = s.invoke(s.invocation(target, "1", { idempotencyKey: "key-1" }));
    assert.deepEqual(kinds(again), ["outcome"]);
    const outcome = (again[0] as Extract<Action, { kind: "outcome" }>).outcome;
    assert.ok(outcome.kind === "previouslyAccepted" && outcome.invocationId.equals(id));
    finish(s, id, "once");
    const after = s.invoke(s.invocation(target, "1", { idempotencyKey: "key-1" }));
    assert.equal(
      (after[0] as Extract<Action, { kind: "outcome" }>).outcome.kind,
      "previouslyAccepted",
    );
  });

  it("runs a workflow once per id; its promise resolved by a shared handler wakes the run", () => {
    const s = new PartitionScenario();
    s.announce();
    const run = s.invoke(s.invocation(workflowTarget("Signup", "wf1"), '"a@b.c"'));
    const runId = (run[0] as Extract<Action, { kind: "invoke" }>).invocationId;
    const twice = s.invoke(s.invocation(workflowTarget("Signup", "wf1"), '"again"'));
    assert.equal(
      (twice[0] as Extract<Action, { kind: "outcome" }>).outcome.kind,
      "workflowAlreadyInvoked",
    );

    s.command(
      runId,
      MessageType.GetPromiseCommand,
      GetPromiseCommandMessage.encode({ key: "click", resultCompletionId: 1, name: "" }).finish(),
    );
    const suspended = s.effect(runId, {
      $case: "suspended",
      value: { completions: [1], signals: [1], namedSignals: [] },
    });
    assert.deepEqual(suspended, []);
    assert.equal(s.reader.status(runId)!.phase, InvocationPhase.INVOCATION_PHASE_SUSPENDED);

    const click = s.invoke(s.invocation(workflowTarget("Signup", "wf1", "click"), '"s3cret"'));
    const clickId = (click[0] as Extract<Action, { kind: "invoke" }>).invocationId;
    const resolved = s.command(
      clickId,
      MessageType.CompletePromiseCommand,
      CompletePromiseCommandMessage.encode({
        key: "click",
        completion: { $case: "completionValue", value: { content: utf8('"s3cret"') } },
        resultCompletionId: 1,
        name: "",
      }).finish(),
    );
    assert.ok(
      resolved.some((a) => a.kind === "invoke" && a.invocationId.equals(runId)),
      "the suspended run resumes when its promise completes",
    );
    const journal = s.reader.journal(runId, s.reader.status(runId)!.journalLength);
    assert.equal(journal[journal.length - 1]!.messageType, MessageType.GetPromiseCompletion);
  });

  it("sleeps on a durable timer and resumes a suspended invocation when it fires", () => {
    const s = new PartitionScenario();
    s.announce();
    const id = (
      s.invoke(s.invocation(serviceTarget("Svc", "nap"), ""))[0] as Extract<
        Action,
        { kind: "invoke" }
      >
    ).invocationId;
    const sleep = s.command(
      id,
      MessageType.SleepCommand,
      SleepCommandMessage.encode({
        wakeUpTime: s.nowMs + 5000,
        resultCompletionId: 1,
        name: "",
      }).finish(),
    );
    const timer = sleep.find((a) => a.kind === "registerTimer");
    assert.ok(timer?.kind === "registerTimer" && timer.wakeAtMs === s.nowMs + 5000);
    s.effect(id, {
      $case: "suspended",
      value: { completions: [1], signals: [1], namedSignals: [] },
    });
    s.nowMs += 5000;
    const fired = s.fireTimer(timer.key);
    assert.deepEqual(kinds(fired), ["invoke"]);
    assert.deepEqual(s.fireTimer(timer.key), [], "a timer fires once");
  });

  it("kills a running invocation, answering its caller and releasing its key", () => {
    const s = new PartitionScenario();
    s.announce();
    const first = (
      s.invoke(s.invocation(objectTarget("Obj", "k", "slow"), ""))[0] as Extract<
        Action,
        { kind: "invoke" }
      >
    ).invocationId;
    s.invoke(s.invocation(objectTarget("Obj", "k", "slow"), ""));
    const killed = s.apply({
      $case: "terminate",
      value: { invocationId: first.bytes, kind: TerminationKind.TERMINATION_KIND_KILL },
    });
    assert.deepEqual(kinds(killed), ["abort", "completed", "registerTimer", "invoke", "outcome"]);
    const completed = killed.find((a) => a.kind === "completed");
    assert.ok(completed?.kind === "completed" && completed.result.kind?.$case === "failure");
    assert.deepEqual(completed.result.kind.value, { code: 409, message: "killed", metadata: [] });
    const again = s.apply({
      $case: "terminate",
      value: { invocationId: first.bytes, kind: TerminationKind.TERMINATION_KIND_KILL },
    });
    assert.deepEqual(
      again.map((a) => a.kind === "outcome" && a.outcome.kind),
      ["alreadyCompleted"],
    );
  });

  it("cancels by appending the cancel signal, which resumes a suspended invocation", () => {
    const s = new PartitionScenario();
    s.announce();
    const id = (
      s.invoke(s.invocation(serviceTarget("Svc", "wait"), ""))[0] as Extract<
        Action,
        { kind: "invoke" }
      >
    ).invocationId;
    s.effect(id, {
      $case: "suspended",
      value: { completions: [1], signals: [1], namedSignals: [] },
    });
    const cancelled = s.apply({
      $case: "terminate",
      value: { invocationId: id.bytes, kind: TerminationKind.TERMINATION_KIND_CANCEL },
    });
    assert.deepEqual(kinds(cancelled), ["invoke", "outcome"]);
    assert.equal(
      (cancelled[1] as Extract<Action, { kind: "outcome" }>).outcome.kind,
      "signalAppended",
    );
    const last = s.reader.journalEntry(id, 1)!;
    assert.equal(last.messageType, MessageType.SignalNotification);
  });

  it("calls another service: the child runs and its result completes the parent's call", () => {
    const s = new PartitionScenario();
    s.announce();
    const parent = (
      s.invoke(s.invocation(serviceTarget("Caller", "run"), ""))[0] as Extract<
        Action,
        { kind: "invoke" }
      >
    ).invocationId;
    const callActions = s.command(
      parent,
      MessageType.CallCommand,
      CallCommandMessage.encode({
        serviceName: "Greeter",
        handlerName: "greet",
        parameter: utf8('"bob"'),
        headers: [],
        key: "",
        invocationIdNotificationIdx: 1,
        resultCompletionId: 2,
        name: "",
      }).finish(),
      {
        target: serviceTarget("Greeter", "greet"),
        completionRetentionMs: 0,
        journalRetentionMs: 0,
        failure: undefined,
        traceParent: "",
      },
    );
    const child = callActions.find((a) => a.kind === "invoke");
    assert.ok(child?.kind === "invoke", "the child is invoked in the same partition at once");
    const [idNotification] = notifications(callActions);
    assert.equal(
      idNotification?.result?.$case === "invocationId" && idNotification.result.value,
      child.invocationId.toString(),
    );
    const childDone = finish(s, child.invocationId, '"hi bob"');
    const [callResult] = notifications(childDone);
    assert.equal(callResult?.id?.$case === "completionId" && callResult.id.value, 2);
    assert.equal(
      callResult?.result?.$case === "value" && fromUtf8(callResult.result.value.content),
      '"hi bob"',
    );
    assert.equal(
      s.reader.status(child.invocationId),
      undefined,
      "no retention: the child is forgotten",
    );
  });

  it("drops records of a deposed leader's epoch", () => {
    const s = new PartitionScenario();
    s.announce(1);
    s.announce(2);
    s.epoch = 1;
    assert.deepEqual(s.invoke(s.invocation(serviceTarget("Svc", "h"), "")), []);
    s.epoch = 2;
    assert.deepEqual(kinds(s.invoke(s.invocation(serviceTarget("Svc", "h"), ""))), [
      "invoke",
      "outcome",
    ]);
  });

  it("applies a shuffled message once, however often it is delivered", () => {
    const s = new PartitionScenario();
    s.announce();
    const inv = s.invocation(serviceTarget("Svc", "h"), "");
    const deliver = (): Action[] =>
      s.apply(
        { $case: "invoke", value: inv },
        { dedup: { sourcePartition: 3, seq: 7, producer: "" } },
      );
    assert.deepEqual(kinds(deliver()), ["invoke", "outcome"]);
    assert.deepEqual(deliver(), []);
  });

  it("drops a Kafka record at or below the highest offset applied from its topic partition", () => {
    const s = new PartitionScenario();
    s.announce();
    const deliver = (producer: string, seq: number): Action[] =>
      s.apply(
        { $case: "invoke", value: s.invocation(serviceTarget("Svc", "h"), "") },
        { dedup: { sourcePartition: 0, seq, producer } },
      );
    assert.deepEqual(kinds(deliver("sub_a/orders/0", 5)), ["invoke", "outcome"]);
    assert.deepEqual(deliver("sub_a/orders/0", 5), []);
    assert.deepEqual(deliver("sub_a/orders/0", 4), []);
    // Another topic partition, and the shuffle's source partition 0, count on their own.
    assert.deepEqual(kinds(deliver("sub_a/orders/1", 0)), ["invoke", "outcome"]);
    assert.deepEqual(kinds(deliver("", 1)), ["invoke", "outcome"]);
    assert.deepEqual(kinds(deliver("sub_a/orders/0", 6)), ["invoke", "outcome"]);
  });

  it("holds a delayed invocation until its timer fires", () => {
    const s = new PartitionScenario();
    s.announce();
    const inv = s.invocation(serviceTarget("Svc", "later"), "", {
      executionTimeMs: s.nowMs + 60_000,
    });
    const scheduled = s.invoke(inv);
    assert.deepEqual(kinds(scheduled), ["registerTimer", "outcome"]);
    const timer = scheduled[0] as Extract<Action, { kind: "registerTimer" }>;
    s.nowMs += 60_000;
    assert.deepEqual(kinds(s.fireTimer(timer.key)), ["invoke"]);
  });

  it("forgets an idempotency key once its retention has passed", () => {
    const s = new PartitionScenario();
    s.announce();
    const target = serviceTarget("Greeter", "greet");
    const first = s.invoke(
      s.invocation(target, "1", { idempotencyKey: "k", completionRetentionMs: 1000 }),
    );
    const id = (first[0] as Extract<Action, { kind: "invoke" }>).invocationId;
    const done = finish(s, id, "once");
    const cleanup = done.find((a) => a.kind === "registerTimer");
    assert.ok(cleanup?.kind === "registerTimer" && cleanup.wakeAtMs === s.nowMs + 1000);
    assert.equal(
      (
        s.invoke(s.invocation(target, "1", { idempotencyKey: "k" }))[0] as Extract<
          Action,
          { kind: "outcome" }
        >
      ).outcome.kind,
      "previouslyAccepted",
    );
    s.nowMs += 1000;
    s.fireTimer(cleanup.key);
    assert.equal(s.reader.status(id), undefined, "status and journal are gone");
    assert.deepEqual(s.reader.journal(id, 0), []);
    const again = s.invoke(s.invocation(target, "1", { idempotencyKey: "k" }));
    assert.deepEqual(kinds(again), ["invoke", "outcome"], "the same key starts a new invocation");
  });

  it("drops an attempt's later effect when an earlier command of it never reached the journal", () => {
    const s = new PartitionScenario();
    s.announce();
    const id = (
      s.invoke(s.invocation(serviceTarget("Svc", "h"), ""))[0] as Extract<
        Action,
        { kind: "invoke" }
      >
    ).invocationId;
    // The attempt sent Output (command 1) then End; the Output's append failed, the End's did not.
    assert.deepEqual(
      s.effect(id, { $case: "end", value: {} }, 2),
      [],
      "End after a lost Output is dropped",
    );
    assert.equal(s.reader.status(id)!.phase, InvocationPhase.INVOCATION_PHASE_INVOKED);
    assert.equal(
      completedValue(finish(s, id, "retried")),
      "retried",
      "the next attempt completes it",
    );
  });
});
