/**
 * Scenario tests of what operators do to invocations and keys: pause, resume, restart-as-new and
 * state edits, told the way the log sees them.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fromUtf8, utf8 } from "../core/bytes.js";
import { InvocationPhase, type PatchState } from "../gen/keel/records.js";
import {
  NotificationMessage,
  OutputCommandMessage,
  RunCommandMessage,
  SetStateCommandMessage,
  SleepCommandMessage,
} from "../gen/keel/service_protocol.js";
import { InvocationId } from "../core/ids.js";
import { MessageType } from "../service-protocol/message_types.js";
import { partitionKeyOf } from "../core/partitioning.js";
import type { Action, Outcome } from "./actions.js";
import { stateVersion } from "./state_mutation.js";
import {
  PartitionScenario,
  kinds,
  objectTarget,
  serviceTarget,
  workflowTarget,
} from "./testing.js";

function started(actions: Action[]): InvocationId {
  const invoke = actions.find((a) => a.kind === "invoke");
  assert.ok(invoke?.kind === "invoke", `expected an invoke action in ${kinds(actions).join()}`);
  return invoke.invocationId;
}

function outcomeOf(actions: Action[]): Outcome {
  const outcome = actions.find((a) => a.kind === "outcome");
  assert.ok(outcome?.kind === "outcome", `expected an outcome in ${kinds(actions).join()}`);
  return outcome.outcome;
}

function finish(s: PartitionScenario, id: InvocationId, text: string): Action[] {
  s.command(
    id,
    MessageType.OutputCommand,
    OutputCommandMessage.encode({
      result: { $case: "value", value: { content: utf8(text) } },
      name: "",
    }).finish(),
  );
  return s.effect(id, { $case: "end", value: {} });
}

function setState(s: PartitionScenario, id: InvocationId, key: string, value: string): void {
  s.command(
    id,
    MessageType.SetStateCommand,
    SetStateCommandMessage.encode({
      key: utf8(key),
      value: { content: utf8(value) },
      name: "",
    }).finish(),
  );
}

function stateOf(s: PartitionScenario, service: string, key: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of s.reader.stateEntries({ partitionKey: partitionKeyOf(key), service, key }))
    out[fromUtf8(e.key)] = fromUtf8(e.value);
  return out;
}

const pause = (s: PartitionScenario, id: InvocationId) =>
  s.apply({ $case: "pause", value: { invocationId: id.bytes } });
const resume = (s: PartitionScenario, id: InvocationId, deploymentId = "") =>
  s.apply({ $case: "resume", value: { invocationId: id.bytes, deploymentId } });

describe("operator commands", () => {
  it("pauses a running invocation, keeps journaling notifications, and resumes it on request", () => {
    const s = new PartitionScenario();
    s.announce();
    const id = started(s.invoke(s.invocation(serviceTarget("Svc", "nap"), "")));
    const sleep = s.command(
      id,
      MessageType.SleepCommand,
      SleepCommandMessage.encode({
        wakeUpTime: s.nowMs + 10,
        resultCompletionId: 1,
        name: "",
      }).finish(),
    );
    const paused = pause(s, id);
    assert.deepEqual(kinds(paused), ["abort", "outcome"], "the running attempt is stopped");
    assert.equal(outcomeOf(paused).kind, "done");
    assert.equal(s.reader.status(id)?.phase, InvocationPhase.INVOCATION_PHASE_PAUSED);
    assert.equal(outcomeOf(pause(s, id)).kind, "alreadyPaused");

    const timer = sleep.find((a) => a.kind === "registerTimer");
    assert.ok(timer?.kind === "registerTimer");
    assert.deepEqual(kinds(s.fireTimer(timer.key)), [], "no attempt while paused");
    assert.equal(s.reader.status(id)?.journalLength, 3, "the completion is journaled anyway");
    assert.deepEqual(
      kinds(s.effect(id, { $case: "end", value: {} })),
      [],
      "a straggling effect of the stopped attempt is dropped",
    );

    const resumed = resume(s, id);
    assert.deepEqual(kinds(resumed), ["invoke", "outcome"]);
    assert.equal(s.reader.status(id)?.phase, InvocationPhase.INVOCATION_PHASE_INVOKED);
  });

  it("leaves a suspended invocation suspended: pausing it answers 'already paused'", () => {
    const s = new PartitionScenario();
    s.announce();
    const id = started(s.invoke(s.invocation(serviceTarget("Svc", "wait"), "")));
    s.effect(id, {
      $case: "suspended",
      value: { completions: [1], signals: [], namedSignals: [] },
    });
    const paused = pause(s, id);
    assert.deepEqual(kinds(paused), ["outcome"], "nothing runs, so nothing is aborted");
    assert.equal(outcomeOf(paused).kind, "alreadyPaused");
    assert.equal(s.reader.status(id)?.phase, InvocationPhase.INVOCATION_PHASE_SUSPENDED);
    assert.deepEqual(kinds(resume(s, id)), ["invoke", "outcome"], "resuming starts an attempt");
  });

  it("answers pause and resume of invocations that cannot take them as Restate does", () => {
    const s = new PartitionScenario();
    s.announce();
    const holder = started(s.invoke(s.invocation(objectTarget("Obj", "k", "a"), "")));
    const inboxed = outcomeOf(s.invoke(s.invocation(objectTarget("Obj", "k", "b"), "")));
    assert.ok(inboxed.kind === "accepted");
    assert.equal(outcomeOf(pause(s, inboxed.invocationId)).kind, "notRunning");
    assert.equal(outcomeOf(resume(s, inboxed.invocationId)).kind, "notStarted");
    finish(s, holder, "done");
    assert.equal(outcomeOf(pause(s, holder)).kind, "notRunning");
    assert.equal(outcomeOf(resume(s, holder)).kind, "alreadyCompleted");
    const unknown = s.newId(serviceTarget("Nope", "x"));
    assert.equal(outcomeOf(pause(s, unknown)).kind, "notFound");
    assert.equal(outcomeOf(resume(s, unknown)).kind, "notFound");
  });

  it("resumes a backing-off invocation by retrying now, and repins only paused ones", () => {
    const s = new PartitionScenario();
    s.announce();
    const id = started(s.invoke(s.invocation(serviceTarget("Svc", "flaky"), "")));
    const retried = resume(s, id);
    assert.deepEqual(kinds(retried), ["retryNow", "outcome"]);
    const repinRunning = outcomeOf(resume(s, id, "dp_other"));
    assert.ok(repinRunning.kind === "rejected" && repinRunning.code === 409);

    s.apply({
      $case: "invokerEffect",
      value: {
        invocationId: id.bytes,
        pinned: { deploymentId: "dp_first", protocolVersion: 6, server: "" },
        afterCommandCount: 0,
        kind: { $case: "paused", value: { code: 500, message: "boom", metadata: [] } },
      },
    });
    assert.equal(s.reader.status(id)?.phase, InvocationPhase.INVOCATION_PHASE_PAUSED);
    assert.deepEqual(kinds(resume(s, id, "dp_second")), ["invoke", "outcome"]);
    assert.equal(s.reader.status(id)?.pinned?.deploymentId, "dp_second");
  });

  it("restarts a completed invocation as new: same input, a new id, linked to the original", () => {
    const s = new PartitionScenario();
    s.announce();
    const id = started(s.invoke(s.invocation(serviceTarget("Greeter", "greet"), '"bob"')));
    finish(s, id, "hello bob");
    const newId = InvocationId.fromParts(id.partitionKey, new Uint8Array(16).fill(7));
    const restarted = s.apply({
      $case: "restartAsNew",
      value: {
        invocationId: id.bytes,
        newInvocationId: newId.bytes,
        copyPrefixUpToIndex: 0,
        deploymentId: "",
      },
    });
    assert.deepEqual(kinds(restarted), ["invoke", "outcome"]);
    const outcome = outcomeOf(restarted);
    assert.ok(outcome.kind === "restarted" && outcome.newInvocationId.equals(newId));
    const status = s.reader.status(newId)!;
    assert.equal(status.journalLength, 1);
    assert.equal(status.source?.kind?.$case, "restartedFrom");
    assert.deepEqual(status.randomSeedFrom, id.bytes, "the original's random seed is kept");
    assert.deepEqual(s.reader.journalEntry(newId, 0)?.raw, s.reader.journalEntry(id, 0)?.raw);
    assert.equal(s.reader.status(id)?.phase, InvocationPhase.INVOCATION_PHASE_COMPLETED);
  });

  it("restarts from a journal prefix, copying the completions of the copied commands", () => {
    const s = new PartitionScenario();
    s.announce();
    const id = started(s.invoke(s.invocation(serviceTarget("Greeter", "greet"), '"bob"')));
    s.apply({
      $case: "invokerEffect",
      value: {
        invocationId: id.bytes,
        pinned: { deploymentId: "dp_1", protocolVersion: 6, server: "" },
        afterCommandCount: 0,
        kind: {
          $case: "command",
          value: {
            commandIndex: 1,
            messageType: MessageType.RunCommand,
            raw: RunCommandMessage.encode({ resultCompletionId: 1, name: "a" }).finish(),
            resolvedCall: undefined,
          },
        },
      },
    });
    s.command(
      id,
      MessageType.RunCommand,
      RunCommandMessage.encode({ resultCompletionId: 2, name: "b" }).finish(),
    );
    const complete = (completionId: number): void => {
      s.effect(id, {
        $case: "runCompletion",
        value: {
          completionId,
          result: { kind: { $case: "value", value: utf8(`r${completionId}`) } },
        },
      });
    };
    complete(2);
    complete(1);
    finish(s, id, "done");
    // Journal: 0 input, 1 run#1, 2 run#2, 3 completion#2, 4 completion#1, 5 output.
    const restart = (from: number, uuid: number) =>
      s.apply({
        $case: "restartAsNew",
        value: {
          invocationId: id.bytes,
          newInvocationId: InvocationId.fromParts(id.partitionKey, new Uint8Array(16).fill(uuid))
            .bytes,
          copyPrefixUpToIndex: from,
          deploymentId: "",
        },
      });
    const fromRun = outcomeOf(restart(1, 1));
    assert.ok(fromRun.kind === "restarted");
    const copy = s.reader.status(fromRun.newInvocationId)!;
    assert.equal(copy.journalLength, 3, "input, run#1 and its completion found later");
    assert.equal(copy.commandCount, 2);
    const notification = NotificationMessage.decode(
      s.reader.journalEntry(fromRun.newInvocationId, 2)!.raw,
    );
    assert.equal(notification.id?.$case === "completionId" && notification.id.value, 1);
    assert.equal(
      s.reader.notificationIndex(fromRun.newInvocationId, { kind: "completion", id: 1 }),
      2,
    );

    const outOfRange = outcomeOf(restart(6, 2));
    assert.ok(outOfRange.kind === "rejected" && outOfRange.code === 400);
  });

  it("refuses to restart running invocations, workflows and purged journals", () => {
    const s = new PartitionScenario();
    s.announce();
    const restart = (id: InvocationId) =>
      outcomeOf(
        s.apply({
          $case: "restartAsNew",
          value: {
            invocationId: id.bytes,
            newInvocationId: InvocationId.fromParts(id.partitionKey, new Uint8Array(16).fill(9))
              .bytes,
            copyPrefixUpToIndex: 0,
            deploymentId: "",
          },
        }),
      );
    const running = started(s.invoke(s.invocation(serviceTarget("Svc", "x"), "")));
    assert.equal(restart(running).kind, "stillRunning");
    const workflow = started(s.invoke(s.invocation(workflowTarget("Wf", "w1"), "")));
    finish(s, workflow, "ok");
    const refused = restart(workflow);
    assert.ok(refused.kind === "rejected" && refused.code === 422);
    finish(s, running, "ok");
    s.apply({ $case: "purge", value: { invocationId: running.bytes, journalOnly: true } });
    const purged = restart(running);
    assert.ok(purged.kind === "rejected" && purged.code === 410);
  });

  it("edits an unlocked key's state at once, checking the version token", () => {
    const s = new PartitionScenario();
    s.announce();
    const edit = (newState: Record<string, string>, expectedVersion = ""): Action[] =>
      s.apply({ $case: "patchState", value: patch("Counter", "k", newState, expectedVersion) });
    assert.equal(outcomeOf(edit({ count: "1", other: "x" })).kind, "done");
    assert.deepEqual(stateOf(s, "Counter", "k"), { count: "1", other: "x" });
    edit({ count: "2" }, "not-the-version");
    assert.deepEqual(
      stateOf(s, "Counter", "k"),
      { count: "1", other: "x" },
      "stale edits are dropped",
    );
    const version = stateVersion([
      { key: utf8("count"), value: utf8("1") },
      { key: utf8("other"), value: utf8("x") },
    ]);
    edit({ count: "2" }, version);
    assert.deepEqual(
      stateOf(s, "Counter", "k"),
      { count: "2" },
      "the edit replaces the whole state",
    );
  });

  it("queues a state edit behind the invocations holding or waiting for the key's lock", () => {
    const s = new PartitionScenario();
    s.announce();
    const holder = started(s.invoke(s.invocation(objectTarget("Counter", "k", "add"), "")));
    const queued = outcomeOf(s.invoke(s.invocation(objectTarget("Counter", "k", "add"), "")));
    assert.ok(queued.kind === "accepted");
    setState(s, holder, "count", "1");
    assert.equal(
      outcomeOf(s.apply({ $case: "patchState", value: patch("Counter", "k", { count: "100" }) }))
        .kind,
      "done",
    );
    assert.deepEqual(stateOf(s, "Counter", "k"), { count: "1" }, "not applied while locked");
    const afterHolder = finish(s, holder, "1");
    assert.ok(
      started(afterHolder).equals(queued.invocationId),
      "the earlier invocation goes first",
    );
    assert.deepEqual(stateOf(s, "Counter", "k"), { count: "1" });
    setState(s, queued.invocationId, "count", "2");
    const afterQueued = finish(s, queued.invocationId, "2");
    assert.ok(!afterQueued.some((a) => a.kind === "invoke"));
    assert.deepEqual(stateOf(s, "Counter", "k"), { count: "100" }, "then the edit applies");
  });
});

function patch(
  service: string,
  key: string,
  newState: Record<string, string>,
  expectedVersion = "",
): PatchState {
  return {
    service,
    key,
    newState: Object.entries(newState).map(([k, v]) => ({ key: utf8(k), value: utf8(v) })),
    expectedVersion,
  };
}
