/**
 * A scenario harness for the partition state machine: builds records the way a leader and its invoker
 * would, applies them to an in-memory store and returns the actions. Used by the scenario tests.
 */

import {
  assert,
  Lsn,
  PartitionId,
  utf8,
  type InvocationId,
  freshInvocationId,
  idempotentInvocationId,
  workflowRunInvocationId,
  PartitionTable,
} from "../core/index.js";
import {
  Envelope,
  HandlerType,
  ServiceType,
  type InvokerEffect,
  type ResolvedCall,
  type ServiceInvocation,
  type Target,
} from "../gen/keel/records.js";
import type { Action } from "./actions.js";
import { targetRefOf } from "./lifecycle.js";
import { PartitionStateMachine } from "./state_machine.js";
import { MemoryPartitionStore, TableReader, emptyFsm } from "../partition-store/index.js";
import { encodeMessage } from "../wire/index.js";

export function serviceTarget(service: string, handler: string): Target {
  return {
    service,
    handler,
    key: "",
    serviceType: ServiceType.SERVICE_TYPE_SERVICE,
    handlerType: HandlerType.HANDLER_TYPE_UNSPECIFIED,
  };
}

export function objectTarget(
  service: string,
  key: string,
  handler: string,
  shared = false,
): Target {
  return {
    service,
    handler,
    key,
    serviceType: ServiceType.SERVICE_TYPE_VIRTUAL_OBJECT,
    handlerType: shared ? HandlerType.HANDLER_TYPE_SHARED : HandlerType.HANDLER_TYPE_EXCLUSIVE,
  };
}

export function workflowTarget(service: string, key: string, handler = "run"): Target {
  return {
    service,
    handler,
    key,
    serviceType: ServiceType.SERVICE_TYPE_WORKFLOW,
    handlerType:
      handler === "run" ? HandlerType.HANDLER_TYPE_WORKFLOW : HandlerType.HANDLER_TYPE_SHARED,
  };
}

/** One partition (of one) with an in-memory store, applying records in order. */
export class PartitionScenario {
  readonly store = new MemoryPartitionStore();
  readonly table = new PartitionTable(1);
  readonly machine = new PartitionStateMachine(PartitionId(0), this.table, emptyFsm());
  readonly reader = new TableReader(this.store);
  nowMs = 1_000_000;
  epoch = 0;
  private nextRequestId = 1;
  private uuidCounter = 0;

  apply(command: Envelope["command"], extra: Partial<Envelope> = {}): Action[] {
    const actions: Action[] = [];
    const envelope: Envelope = {
      timestampMs: this.nowMs,
      leaderEpoch: this.epoch,
      dedup: undefined,
      requestId: this.nextRequestId++,
      command,
      ...extra,
    };
    this.machine.apply(
      this.store,
      Lsn(this.machine.appliedLsn + 1),
      encodeMessage(Envelope, envelope),
      actions,
    );
    // Every scenario checks the per-phase counts the FSM keeps against the statuses stored.
    const kept = this.machine.invocationsByPhase.join(",");
    const stored = this.reader.countByPhase().join(",");
    assert(
      kept === stored,
      `invocations by phase: the FSM keeps ${kept}, the store holds ${stored}`,
    );
    return actions;
  }

  announce(epoch = this.epoch + 1): Action[] {
    this.epoch = epoch;
    return this.apply({ $case: "announceLeader", value: { epoch, node: "n1" } });
  }

  newId(target: Target, idempotencyKey = ""): InvocationId {
    if (target.handlerType === HandlerType.HANDLER_TYPE_WORKFLOW)
      return workflowRunInvocationId(target.service, target.key);
    if (idempotencyKey !== "") return idempotentInvocationId(targetRefOf(target), idempotencyKey);
    const uuid = new Uint8Array(16);
    uuid[15] = ++this.uuidCounter;
    return freshInvocationId(targetRefOf(target), uuid);
  }

  invocation(
    target: Target,
    argument: string,
    overrides: Partial<ServiceInvocation> = {},
  ): ServiceInvocation {
    return {
      invocationId: this.newId(target, overrides.idempotencyKey ?? "").bytes,
      target,
      argument: utf8(argument),
      headers: [],
      source: { kind: { $case: "ingress", value: {} } },
      responseSink: undefined,
      traceParent: "",
      idempotencyKey: undefined,
      executionTimeMs: 0,
      completionRetentionMs: 86_400_000,
      journalRetentionMs: 86_400_000,
      wantsResult: true,
      ...overrides,
    };
  }

  invoke(invocation: ServiceInvocation): Action[] {
    return this.apply({ $case: "invoke", value: invocation });
  }

  /** Applies an effect of the current attempt; non-command effects carry its command count. */
  effect(id: InvocationId, kind: InvokerEffect["kind"], afterCommandCount?: number): Action[] {
    const count =
      afterCommandCount ??
      (kind?.$case === "command" ? 0 : (this.reader.status(id)?.commandCount ?? 0));
    return this.apply({
      $case: "invokerEffect",
      value: { invocationId: id.bytes, pinned: undefined, afterCommandCount: count, kind },
    });
  }

  /** Appends the next command of an invocation, as its attempt would. */
  command(
    id: InvocationId,
    messageType: number,
    raw: Uint8Array,
    resolvedCall?: ResolvedCall,
  ): Action[] {
    const status = this.reader.status(id);
    if (status === undefined) throw new Error(`no status for ${id.toString()}`);
    return this.effect(id, {
      $case: "command",
      value: { commandIndex: status.commandCount, messageType, raw, resolvedCall },
    });
  }

  fireTimer(key: string): Action[] {
    return this.apply({ $case: "timerFired", value: { timerKey: key } });
  }
}

export function kinds(actions: readonly Action[]): string[] {
  return actions.map((a) => a.kind);
}
