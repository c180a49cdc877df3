/**
 * The partition state machine: `apply(record) → actions`, synchronous and deterministic. The same log
 * gives the same store and the same actions on every replica. It never reads a clock (time comes from
 * the record), never does I/O and never awaits.
 *
 * Before a record's command runs, two fences apply:
 * - leadership: a record proposed under an epoch older than the latest announced one is dropped, so a
 *   deposed leader can never write;
 * - dedup: a message shuffled from another partition carries (source, seq); anything at or below the
 *   highest seq applied from that source is dropped, which makes delivery exactly-once.
 */

import {
  assert,
  assertNever,
  type Lsn,
  type PartitionId,
  InvocationId,
  type PartitionTable,
} from "../core/index.js";
import {
  Envelope,
  InvocationPhase,
  type InvokerEffect,
  type OutboxMessage,
  type PartitionFsm,
} from "../gen/keel/records.js";
import { MessageType } from "../service-protocol/index.js";
import type { Action } from "./actions.js";
import { applyAttach, applyCommand, resultToNotification } from "./commands.js";
import type { ApplyContext } from "./context.js";
import {
  appendNotification,
  completeInvocation,
  createInvocation,
  failureResult,
  purgeInvocation,
  reply,
  startInvocation,
  suspend,
  terminateInvocation,
} from "./lifecycle.js";
import {
  patchState,
  pauseInvocation,
  restartAsNew,
  resumeInvocation,
} from "./operator_commands.js";
import { INVOCATION_PHASES, Tables, type PartitionTxn } from "../partition-store/index.js";

/** The request id of records nobody waits on (the proposer numbers its requests from 1). */
const NO_REQUEST = 0;

export class PartitionStateMachine {
  private fsm: PartitionFsm;

  constructor(
    readonly partitionId: PartitionId,
    readonly partitionTable: PartitionTable,
    fsm: PartitionFsm,
  ) {
    assert(
      fsm.invocationsByPhase.length === INVOCATION_PHASES,
      "the FSM comes with its per-phase counts (TableReader.fsm)",
    );
    this.fsm = fsm;
  }

  get appliedLsn(): number {
    return this.fsm.appliedLsn;
  }

  /** How many invocation statuses the partition holds in each phase, indexed by `InvocationPhase`. */
  get invocationsByPhase(): readonly number[] {
    return this.fsm.invocationsByPhase;
  }

  get leaderEpoch(): number {
    return this.fsm.leaderEpoch;
  }

  /** The node that announced the current epoch ("" before any announcement). */
  get leaderNode(): string {
    return this.fsm.leaderNode;
  }

  /** Applies one record at `lsn` inside `txn`, appending the leader's actions to `actions`. */
  apply(txn: PartitionTxn, lsn: Lsn, payload: Uint8Array, actions: Action[]): void {
    assert(
      lsn === this.fsm.appliedLsn + 1,
      `partition ${this.partitionId}: apply ${lsn} after ${this.fsm.appliedLsn}`,
    );
    const tables = new Tables(txn);
    const envelope = Envelope.decode(payload);
    if (this.admit(tables, envelope)) this.dispatch(tables, envelope, actions);
    this.fsm.appliedLsn = lsn;
    tables.flush(this.fsm.invocationsByPhase);
    tables.putFsm(this.fsm);
  }

  /** Records that cannot be decoded are a bug or corruption: the log is written only by Keel. */
  private admit(tables: Tables, envelope: Envelope): boolean {
    const command = envelope.command;
    if (command?.$case === "announceLeader") return true;
    if (envelope.leaderEpoch !== this.fsm.leaderEpoch) return false;
    const dedup = envelope.dedup;
    if (dedup !== undefined) {
      const source = dedup.producer === "" ? dedup.sourcePartition : { producer: dedup.producer };
      const last = tables.dedupSeq(source);
      if (last !== undefined && dedup.seq <= last) return false;
      tables.putDedupSeq(source, dedup.seq);
    }
    return true;
  }

  private context(tables: Tables, envelope: Envelope, actions: Action[]): ApplyContext {
    const ctx: ApplyContext = {
      tables,
      actions,
      fsm: this.fsm,
      nowMs: envelope.timestampMs,
      requestId: envelope.requestId,
      partitionId: this.partitionId,
      partitionTable: this.partitionTable,
      // A message to this partition applies as it would arriving from another one: with no request
      // to answer. Otherwise its outcome (a killed child that had already completed) would answer
      // the request of the record that sent it.
      applyLocally: (message) => this.applyMessage(routed, message),
    };
    const routed: ApplyContext = { ...ctx, requestId: NO_REQUEST };
    return ctx;
  }

  private dispatch(tables: Tables, envelope: Envelope, actions: Action[]): void {
    const command = envelope.command;
    if (command === undefined) return;
    const ctx = this.context(tables, envelope, actions);
    switch (command.$case) {
      case "announceLeader": {
        const { epoch, node } = command.value;
        if (epoch <= this.fsm.leaderEpoch) return;
        this.fsm.leaderEpoch = epoch;
        this.fsm.leaderNode = node;
        actions.push({ kind: "leadership", epoch, node });
        return;
      }
      case "invoke":
        return createInvocation(ctx, command.value);
      case "invokerEffect":
        return this.applyInvokerEffect(ctx, command.value);
      case "timerFired":
        return this.fireTimer(ctx, command.value.timerKey);
      case "invocationResponse":
      case "notifySignal":
      case "terminate":
      case "attach":
        return this.applyMessage(ctx, { command });
      case "truncateOutbox":
        tables.truncateOutbox(command.value.throughSeq);
        return;
      case "purge": {
        const id = InvocationId.fromBytes(command.value.invocationId);
        const status = tables.status(id);
        if (status === undefined) return reply(ctx, { kind: "notFound" });
        if (status.phase !== InvocationPhase.INVOCATION_PHASE_COMPLETED) {
          return reply(ctx, {
            kind: "rejected",
            code: 409,
            message: `The invocation '${id.toString()}' is not yet completed.`,
          });
        }
        purgeInvocation(ctx, id, command.value.journalOnly);
        return reply(ctx, { kind: "done" });
      }
      case "patchState":
        return patchState(ctx, command.value);
      case "pause":
        return pauseInvocation(ctx, InvocationId.fromBytes(command.value.invocationId));
      case "resume":
        return resumeInvocation(ctx, command.value);
      case "restartAsNew":
        return restartAsNew(ctx, command.value);
      case "leadershipBarrier":
        return;
      default:
        return assertNever(command);
    }
  }

  /** Messages that may also arrive from another partition's outbox. */
  private applyMessage(ctx: ApplyContext, message: OutboxMessage): void {
    const command = message.command;
    if (command === undefined) return;
    switch (command.$case) {
      case "invoke":
        return createInvocation(ctx, command.value);
      case "invocationResponse": {
        const { sink, result } = command.value;
        if (sink === undefined || result === undefined) return;
        appendNotification(ctx, InvocationId.fromBytes(sink.invocationId), sink.notificationType, {
          id: { $case: "completionId", value: sink.completionId },
          result: resultToNotification(result),
        });
        return;
      }
      case "notifySignal": {
        const { invocationId, signalId, result } = command.value;
        if (signalId === undefined || result === undefined) return;
        appendNotification(
          ctx,
          InvocationId.fromBytes(invocationId),
          MessageType.SignalNotification,
          {
            id:
              signalId.$case === "idx"
                ? { $case: "signalIdx", value: signalId.value }
                : { $case: "signalName", value: signalId.value },
            result: resultToNotification(result),
          },
        );
        return;
      }
      case "terminate":
        return terminateInvocation(
          ctx,
          InvocationId.fromBytes(command.value.invocationId),
          command.value.kind,
        );
      case "attach": {
        const { invocationId, sink, block } = command.value;
        if (sink === undefined) return;
        return applyAttach(ctx, InvocationId.fromBytes(invocationId), sink, block);
      }
      default:
        return assertNever(command);
    }
  }

  private applyInvokerEffect(ctx: ApplyContext, effect: InvokerEffect): void {
    const id = InvocationId.fromBytes(effect.invocationId);
    const status = ctx.tables.status(id);
    // Effects of an attempt that was overtaken (killed, completed, suspended meanwhile) are stale.
    if (status?.phase !== InvocationPhase.INVOCATION_PHASE_INVOKED) return;
    const kind = effect.kind;
    if (kind === undefined) return;
    // An attempt's effects apply strictly in order: one whose earlier commands never made it into
    // the journal (their append failed) belongs to a broken attempt and is dropped.
    if (effect.afterCommandCount !== 0 && effect.afterCommandCount !== status.commandCount) return;
    if (effect.pinned !== undefined && status.pinned === undefined) status.pinned = effect.pinned;
    switch (kind.$case) {
      case "command": {
        const command = kind.value;
        if (command.commandIndex !== status.commandCount) return;
        const index = status.journalLength;
        ctx.tables.putJournalEntry(id, index, {
          messageType: command.messageType,
          raw: command.raw,
          appendedAtMs: ctx.nowMs,
        });
        status.journalLength = index + 1;
        status.commandCount += 1;
        status.modifiedAtMs = ctx.nowMs;
        ctx.tables.putStatus(id, status);
        applyCommand(ctx, id, status.target!, command);
        return;
      }
      case "runCompletion": {
        const { completionId, result } = kind.value;
        ctx.tables.putStatus(id, status);
        appendNotification(ctx, id, MessageType.RunCompletion, {
          id: { $case: "completionId", value: completionId },
          result: resultToNotification(
            result ?? failureResult({ code: 500, message: "empty run result", metadata: [] }),
          ),
        });
        return;
      }
      case "suspended":
        return suspend(ctx, id, status, kind.value);
      case "end": {
        const result =
          status.output ??
          failureResult({
            code: 571,
            message: "the invocation ended without an output",
            metadata: [],
          });
        return completeInvocation(ctx, id, status, result);
      }
      case "paused":
        status.phase = InvocationPhase.INVOCATION_PHASE_PAUSED;
        status.lastFailure = kind.value;
        status.modifiedAtMs = ctx.nowMs;
        ctx.tables.putStatus(id, status);
        ctx.tables.setActive(id, false);
        return;
      case "failed":
        return completeInvocation(ctx, id, status, failureResult(kind.value));
      default:
        return assertNever(kind);
    }
  }

  private fireTimer(ctx: ApplyContext, key: string): void {
    const timer = ctx.tables.timer(key);
    if (timer?.kind === undefined) return;
    ctx.tables.deleteTimer(key);
    const kind = timer.kind;
    switch (kind.$case) {
      case "sleep":
        appendNotification(
          ctx,
          InvocationId.fromBytes(kind.value.invocationId),
          MessageType.SleepCompletion,
          {
            id: { $case: "completionId", value: kind.value.completionId },
            result: { $case: "void", value: {} },
          },
        );
        return;
      case "delayedInvocationId": {
        const id = InvocationId.fromBytes(kind.value);
        const status = ctx.tables.status(id);
        if (status?.phase === InvocationPhase.INVOCATION_PHASE_SCHEDULED)
          startInvocation(ctx, id, status);
        return;
      }
      case "cleanupInvocationId":
        purgeInvocation(ctx, InvocationId.fromBytes(kind.value), false);
        return;
      default:
        return assertNever(kind);
    }
  }

  /** Exposed for operations that need the current FSM (the driver persists it through apply). */
  snapshotFsm(): PartitionFsm {
    return { ...this.fsm, invocationsByPhase: [...this.fsm.invocationsByPhase] };
  }
}
