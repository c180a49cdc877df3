/**
 * Scenarios with user-chosen names far longer than a store key (Restate takes object keys of 60 KB):
 * an object's lock, inbox and state, a workflow's promises and an invocation's named signals work as
 * with short names, and nothing of them is left once they are cleared or purged. The scenario's store
 * refuses any key longer than a real store holds.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fromUtf8, utf8 } from "../core/bytes.js";
import {
  ClearAllStateCommandMessage,
  CompletePromiseCommandMessage,
  GetLazyStateCommandMessage,
  GetLazyStateKeysCommandMessage,
  GetPromiseCommandMessage,
  NotificationMessage,
  OutputCommandMessage,
  SendSignalCommandMessage,
  SetStateCommandMessage,
} from "../gen/keel/service_protocol.js";
import type { InvocationId } from "../core/ids.js";
import { MessageType } from "../service-protocol/message_types.js";
import type { Action } from "./actions.js";
import {
  PartitionScenario,
  kinds,
  objectTarget,
  serviceTarget,
  workflowTarget,
} from "./testing.js";

const LONG_KEY = "k".repeat(60_000);
const LONG_STATE_KEY = utf8("s".repeat(3000));
const LONG_NAME = "n".repeat(5000);

const invoked = (actions: Action[]): InvocationId =>
  (actions.find((a) => a.kind === "invoke") as Extract<Action, { kind: "invoke" }>).invocationId;

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

function notifications(actions: Action[]): NotificationMessage[] {
  return actions.flatMap((a) => (a.kind === "notify" ? [NotificationMessage.decode(a.raw)] : []));
}

/** Keys of the scenario's store under `prefix`. */
const stored = (s: PartitionScenario, prefix: string): string[] =>
  s.store.scan(prefix).map(([key]) => key);

describe("long user-chosen names in the partition state machine", () => {
  it("runs an object with a 60 KB key: lock, inbox, long state keys, clear", () => {
    const s = new PartitionScenario();
    s.announce();
    const first = s.invoke(s.invocation(objectTarget("Obj", LONG_KEY, "add"), "1"));
    const second = s.invoke(s.invocation(objectTarget("Obj", LONG_KEY, "add"), "2"));
    assert.deepEqual(kinds(first), ["invoke", "outcome"]);
    assert.deepEqual(kinds(second), ["outcome"], "the second waits in the key's inbox");
    assert.equal(stored(s, "l/").length, 1);
    assert.equal(stored(s, "i/").length, 1);
    const firstId = invoked(first);
    for (const key of [LONG_STATE_KEY, utf8("count")]) {
      s.command(
        firstId,
        MessageType.SetStateCommand,
        SetStateCommandMessage.encode({ key, value: { content: utf8("v") }, name: "" }).finish(),
      );
    }
    const listed = notifications(
      s.command(
        firstId,
        MessageType.GetLazyStateKeysCommand,
        GetLazyStateKeysCommandMessage.encode({ resultCompletionId: 1, name: "" }).finish(),
      ),
    );
    const names = listed[0]?.result?.$case === "stateKeys" ? listed[0].result.value.keys : [];
    assert.deepEqual(
      names.map((k) => fromUtf8(k)),
      ["count", fromUtf8(LONG_STATE_KEY)],
      "state keys in full",
    );
    const nextId = invoked(finish(s, firstId, "1"));
    const read = notifications(
      s.command(
        nextId,
        MessageType.GetLazyStateCommand,
        GetLazyStateCommandMessage.encode({
          key: LONG_STATE_KEY,
          resultCompletionId: 1,
          name: "",
        }).finish(),
      ),
    );
    assert.equal(read[0]?.result?.$case === "value" && fromUtf8(read[0].result.value.content), "v");
    assert.deepEqual(stored(s, "i/"), [], "the inbox entry left with the invocation it held");
    s.command(
      nextId,
      MessageType.ClearAllStateCommand,
      ClearAllStateCommandMessage.encode({ name: "" }).finish(),
    );
    finish(s, nextId, "2");
    assert.deepEqual([...stored(s, "s/"), ...stored(s, "l/"), ...stored(s, "i/")], []);
  });

  it("resolves a workflow's long-named promise, and forgets it with the workflow", () => {
    const s = new PartitionScenario();
    s.announce();
    const runId = invoked(s.invoke(s.invocation(workflowTarget("Flow", LONG_KEY), '"go"')));
    s.command(
      runId,
      MessageType.GetPromiseCommand,
      GetPromiseCommandMessage.encode({ key: LONG_NAME, resultCompletionId: 1, name: "" }).finish(),
    );
    s.effect(runId, {
      $case: "suspended",
      value: { completions: [1], signals: [], namedSignals: [] },
    });
    const resolverId = invoked(
      s.invoke(s.invocation(workflowTarget("Flow", LONG_KEY, "resolve"), '"x"')),
    );
    const resolved = s.command(
      resolverId,
      MessageType.CompletePromiseCommand,
      CompletePromiseCommandMessage.encode({
        key: LONG_NAME,
        completion: { $case: "completionValue", value: { content: utf8('"done"') } },
        resultCompletionId: 1,
        name: "",
      }).finish(),
    );
    assert.ok(
      resolved.some((a) => a.kind === "invoke" && a.invocationId.equals(runId)),
      "the run resumes",
    );
    assert.equal(stored(s, "p/").length, 1);
    const done = finish(s, runId, "done");
    const cleanup = done.find((a) => a.kind === "registerTimer");
    assert.ok(cleanup?.kind === "registerTimer");
    s.nowMs = cleanup.wakeAtMs;
    s.fireTimer(cleanup.key);
    assert.deepEqual(stored(s, "p/"), [], "the promise went with the workflow");
  });

  it("delivers a long-named signal, and drops its index with the journal", () => {
    const s = new PartitionScenario();
    s.announce();
    const waiter = s.invoke(
      s.invocation(serviceTarget("Waiter", "wait"), "", { completionRetentionMs: 0 }),
    );
    const waiterId = invoked(waiter);
    const senderId = invoked(s.invoke(s.invocation(serviceTarget("Sender", "send"), "")));
    s.command(
      senderId,
      MessageType.SendSignalCommand,
      SendSignalCommandMessage.encode({
        targetInvocationId: waiterId.toString(),
        signalId: { $case: "signalName", value: LONG_NAME },
        result: { $case: "value", value: { content: utf8('"sig"') } },
        entryName: "",
      }).finish(),
    );
    const journal = s.reader.journal(waiterId, s.reader.status(waiterId)!.journalLength);
    assert.equal(journal[journal.length - 1]!.messageType, MessageType.SignalNotification);
    assert.equal(s.reader.notificationIndex(waiterId, { kind: "namedSignal", name: LONG_NAME }), 1);
    finish(s, waiterId, "woke");
    assert.deepEqual(stored(s, `jn/${waiterId.hex}/`), [], "purged with the journal");
  });
});
