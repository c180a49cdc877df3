/**
 * The replicated-loglet driver of one node: it pumps the pure machines of this folder (sequencer,
 * tail coordinator, readers) through the node's ports (transport, clock) and offers callback-style
 * loglet operations that the `ReplicatedLoglet` handle (provider.ts) and the simulator build on.
 *
 * It hosts, per node: the sequencer of every opened loglet whose params name this very incarnation,
 * at most one tail coordinator per loglet, and the readers and broadcasts of operations in progress.
 * It serves appends and tail queries (`NodeService.loglet`); what it asks of log servers goes to
 * their role (`NodeService.logServer`, src/log-server/server_node.ts).
 *
 * Invariants:
 * - A sequencer exists only on the incarnation named in the loglet's params and lives as long as the
 *   node (closing a handle does not drop it), so each offset is assigned at most once.
 * - The known tail this node reports only grows, and never exceeds a tail that was committed (by
 *   its sequencer, or decided by a seal).
 * - After `shutdown` (or a crash in the simulator) no callback of this node runs again.
 *
 * Why one file of this length: it is the one place where the sequencer, the tail coordinator and
 * the readers of a loglet meet the node's transport and clock, and their callbacks share the
 * loglet's slot (known tail, decided tail, waiters); the machines themselves are in files of their own.
 */

import {
  assert,
  assertNever,
  LogletOffset,
  KeelError,
  type GenerationalNodeId,
  type NodeId,
  sameIncarnation,
  type Prng,
} from "../../core/index.js";
import type { LogletEntry, LogletTail } from "../loglet.js";
import { decodeLogletMessage, encodeLogletMessage } from "./codec.js";
import type { Outcome, RequestEffect } from "./effects.js";
import { checkLogletLimits, type ReplicatedLogletLimits } from "./limits.js";
import {
  serviceOfLogletMessage,
  type LogServerNotice,
  type LogletMessage,
  type SequencerStatus,
} from "./messages.js";
import { Broadcast, Reader } from "./reader.js";
import { isFMajority, isWriteQuorum, type Topology } from "./replication.js";
import { Sequencer, type SequencerEffect, type SequencerOptions } from "./sequencer.js";
import { TailCoordinator, type CoordinatorEffect } from "./tail_coordinator.js";
import { formatLogletParams, type LogletId, type LogletParams } from "./types.js";
import { NodeService, type NodeTransport, type RequestOutcome } from "../../net/index.js";
import type { Cancel, Clock } from "../../platform/index.js";

export type Result<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: KeelError };

const ok = <T>(value: T): Result<T> => ({ ok: true, value });
const fail = <T>(error: KeelError): Result<T> => ({ ok: false, error });
const sealedError = (id: LogletId): KeelError =>
  new KeelError("sealed", `loglet ${id} is sealed`, true);
const unavailable = (id: LogletId, why: string): KeelError =>
  new KeelError("unavailable", `loglet ${id}: ${why}`, true);

/** Hooks for the simulator's checkers and for metrics; all optional. */
export interface LogletObserver {
  onCommitted?(logletId: LogletId, knownGlobalTail: number): void;
  onDecided?(logletId: LogletId, tail: number): void;
  /** Something only a protocol bug can cause. */
  onAnomaly?(description: string): void;
}

export interface LogletNodeConfig {
  readonly self: GenerationalNodeId;
  readonly transport: NodeTransport;
  readonly clock: Clock;
  readonly prng: Prng;
  readonly topology: Topology;
  readonly limits: ReplicatedLogletLimits;
  readonly observer?: LogletObserver;
  readonly sequencerOptions?: SequencerOptions;
}

interface TailWaiter {
  readonly beyond: number;
  readonly done: (tail: LogletTail) => void;
}

interface LogletSlot {
  readonly params: LogletParams;
  readonly paramsJson: string;
  readonly sequencer: Sequencer | undefined;
  readonly appends: Map<number, (result: Result<LogletOffset>) => void>;
  nextAppend: number;
  coordinator:
    { readonly machine: TailCoordinator; readonly waiters: ((tail: number) => void)[] } | undefined;
  decidedTail: number | undefined;
  /** Best known committed tail. */
  knownTail: number;
  trimPoint: number;
  tailWaiters: TailWaiter[];
  polling: boolean;
}

export class LogletNode {
  private readonly loglets = new Map<LogletId, LogletSlot>();
  private stopped = false;
  private ticks = 0;
  private cancelTick: Cancel | undefined;
  readonly self: GenerationalNodeId;
  private readonly limits: ReplicatedLogletLimits;

  constructor(private readonly config: LogletNodeConfig) {
    this.self = config.self;
    this.limits = checkLogletLimits(config.limits);
    assert(config.transport.self === config.self.node, "the transport speaks for this node");
    config.transport.serve(NodeService.loglet, {
      // Sequencers take requests only; notices go to log servers.
      onMessage: () => undefined,
      onRequest: (from, payload, respond) => this.onRequest(from, payload, respond),
    });
    this.armTick();
  }

  /** Stops all timers and callbacks of this node. */
  shutdown(): void {
    this.stopped = true;
    this.cancelTick?.();
  }

  /** Makes a loglet known to this node; creates its sequencer if this incarnation is named. */
  open(params: LogletParams): void {
    const json = formatLogletParams(params);
    const existing = this.loglets.get(params.logletId);
    if (existing !== undefined) {
      assert(
        existing.paramsJson === json,
        `loglet ${params.logletId} opened with different params: ${existing.paramsJson} vs ${json}`,
      );
      return;
    }
    const sequencer = sameIncarnation(params.sequencer, this.self)
      ? new Sequencer(
          params,
          this.self,
          this.config.topology,
          this.config.prng,
          this.limits,
          this.config.sequencerOptions,
        )
      : undefined;
    this.loglets.set(params.logletId, {
      params,
      paramsJson: json,
      sequencer,
      appends: new Map(),
      nextAppend: 1,
      coordinator: undefined,
      decidedTail: undefined,
      knownTail: 1,
      trimPoint: 0,
      tailWaiters: [],
      polling: false,
    });
  }

  // ---- operations ----

  append(
    id: LogletId,
    payloads: readonly Uint8Array[],
    done: (r: Result<LogletOffset>) => void,
  ): void {
    const slot = this.slot(id);
    if (payloads.length === 0) {
      return done(fail(new KeelError("bad_request", `loglet ${id}: empty append`)));
    }
    if (slot.decidedTail !== undefined) return done(fail(sealedError(id)));
    if (slot.sequencer !== undefined) {
      const token = slot.nextAppend++;
      slot.appends.set(token, done);
      return this.applySequencer(slot, slot.sequencer.append(token, payloads));
    }
    this.call(
      slot.params.sequencer.node,
      { kind: "append", logletId: id, payloads },
      this.limits.remoteAppendTimeoutTicks,
      (outcome) => {
        const answer =
          outcome.ok && outcome.response.kind === "appended" ? outcome.response : undefined;
        if (answer === undefined) {
          return done(
            fail(
              unavailable(
                id,
                "the sequencer did not answer (the append may or may not have happened)",
              ),
            ),
          );
        }
        this.learnTail(slot, answer.knownGlobalTail);
        if (answer.status === "ok") return done(ok(LogletOffset(answer.lastOffset)));
        if (answer.status === "sealed") return done(fail(sealedError(id)));
        return done(fail(unavailable(id, `sequencer answered ${answer.status}`)));
      },
    );
  }

  read(
    id: LogletId,
    from: LogletOffset,
    recordsMax: number,
    done: (r: Result<LogletEntry[]>) => void,
  ): void {
    const slot = this.slot(id);
    const start = Math.max(1, from);
    if (start <= slot.trimPoint) {
      // This node trimmed (or saw a trim) there: answer without asking servers that may lag.
      const gap: LogletEntry = {
        kind: "trimGap",
        from: LogletOffset(start),
        to: LogletOffset(slot.trimPoint),
      };
      return done(ok([gap]));
    }
    const bound = this.readBound(slot);
    if (start < bound) return this.startRead(slot, start, bound, recordsMax, done);
    // An open local sequencer knows the tail; a sealing one does not yet: the sealed tail may cover
    // repaired records beyond what it committed.
    if (slot.decidedTail !== undefined || slot.sequencer?.status === "open") return done(ok([]));
    // A remote handle may know an old tail: ask once (joining a seal in progress), then read.
    this.findTail(id, (tail) => {
      if (!tail.ok) return done(fail(tail.error));
      if (start < tail.value.offset)
        this.startRead(slot, start, tail.value.offset, recordsMax, done);
      else done(ok([]));
    });
  }

  findTail(id: LogletId, done: (r: Result<LogletTail>) => void): void {
    const slot = this.slot(id);
    const sealedAt = (tail: number): void => done(ok({ offset: LogletOffset(tail), sealed: true }));
    if (slot.decidedTail !== undefined) return sealedAt(slot.decidedTail);
    const sequencer = slot.sequencer;
    if (sequencer !== undefined) {
      if (sequencer.status === "open") {
        return done(ok({ offset: LogletOffset(sequencer.knownGlobalTail), sealed: false }));
      }
      return this.decide(slot, sealedAt);
    }
    this.call(
      slot.params.sequencer.node,
      { kind: "getTail", logletId: id },
      this.limits.requestTimeoutTicks,
      (outcome) => {
        const answer =
          outcome.ok && outcome.response.kind === "tail" ? outcome.response : undefined;
        if (answer !== undefined) this.learnTail(slot, answer.knownGlobalTail);
        if (answer?.status === "ok" && !answer.sealed) {
          return done(ok({ offset: LogletOffset(slot.knownTail), sealed: false }));
        }
        if (answer?.sealed === true) return this.decide(slot, sealedAt);
        // The sequencer is gone or unreachable: ask the log servers.
        this.tailFromServers(slot, done);
      },
    );
  }

  seal(id: LogletId, done: (r: Result<LogletTail>) => void): void {
    const slot = this.slot(id);
    if (slot.sequencer !== undefined) this.applySequencer(slot, slot.sequencer.beginSeal());
    this.decide(slot, (tail) => done(ok({ offset: LogletOffset(tail), sealed: true })));
  }

  trim(id: LogletId, through: number, done: (r: Result<void>) => void): void {
    const slot = this.slot(id);
    this.findTail(id, (tail) => {
      if (!tail.ok) return done(fail(tail.error));
      const target = Math.min(through, tail.value.offset - 1);
      if (target < 1 || target <= slot.trimPoint) return done(ok(undefined));
      const { nodeset, replication } = slot.params;
      const broadcast = new Broadcast(nodeset, "trimmed", (answered) =>
        isWriteQuorum(answered, replication, this.config.topology),
      );
      this.runBroadcast(
        broadcast,
        { kind: "trim", header: this.header(slot), through: target },
        () => {
          if (broadcast.status !== "done") {
            return done(fail(unavailable(id, "trim reached no write quorum")));
          }
          slot.trimPoint = Math.max(slot.trimPoint, target);
          done(ok(undefined));
        },
      );
    });
  }

  trimPoint(id: LogletId, done: (r: Result<number>) => void): void {
    const slot = this.slot(id);
    this.gatherInfo(slot, (broadcast) => {
      if (broadcast.status !== "done") {
        return done(fail(unavailable(id, "no f-majority of log servers answered")));
      }
      for (const info of broadcast.answers.values()) {
        slot.trimPoint = Math.max(slot.trimPoint, info.trimPoint);
      }
      done(ok(slot.trimPoint));
    });
  }

  waitForTail(id: LogletId, beyond: LogletOffset, done: (tail: LogletTail) => void): void {
    const slot = this.slot(id);
    const now = this.tailNow(slot);
    if (now.offset > beyond || now.sealed) return done(now);
    slot.tailWaiters.push({ beyond, done });
  }

  // ---- internals: slots and tails ----

  private slot(id: LogletId): LogletSlot {
    const slot = this.loglets.get(id);
    if (slot === undefined) {
      throw new KeelError("not_found", `loglet ${id} was not opened on node ${this.self.node}`);
    }
    return slot;
  }

  private header(slot: LogletSlot): { logletId: LogletId; knownGlobalTail: number } {
    return { logletId: slot.params.logletId, knownGlobalTail: slot.knownTail };
  }

  private tailNow(slot: LogletSlot): LogletTail {
    if (slot.decidedTail !== undefined) {
      return { offset: LogletOffset(slot.decidedTail), sealed: true };
    }
    return { offset: LogletOffset(slot.knownTail), sealed: false };
  }

  private readBound(slot: LogletSlot): number {
    return slot.decidedTail ?? slot.sequencer?.knownGlobalTail ?? slot.knownTail;
  }

  private learnTail(slot: LogletSlot, tail: number): void {
    if (slot.decidedTail !== undefined) {
      assert(tail <= slot.decidedTail, `${slot.params.logletId}: a tail beyond the sealed tail`);
      return;
    }
    if (tail <= slot.knownTail) return;
    slot.knownTail = tail;
    this.wakeWaiters(slot);
  }

  private wakeWaiters(slot: LogletSlot): void {
    if (slot.tailWaiters.length === 0) return;
    const now = this.tailNow(slot);
    const ready = slot.tailWaiters.filter((w) => now.offset > w.beyond || now.sealed);
    if (ready.length === 0) return;
    slot.tailWaiters = slot.tailWaiters.filter((w) => !(now.offset > w.beyond || now.sealed));
    for (const waiter of ready) waiter.done(now);
  }

  private tailFromServers(slot: LogletSlot, done: (r: Result<LogletTail>) => void): void {
    this.gatherInfo(slot, (broadcast) => {
      if (broadcast.status !== "done") {
        return done(
          fail(unavailable(slot.params.logletId, "no f-majority of log servers answered")),
        );
      }
      let anySealed = false;
      for (const info of broadcast.answers.values()) {
        if (info.chosenTail !== undefined)
          return this.onDecided(slot, info.chosenTail, () => {
            done(ok({ offset: LogletOffset(info.chosenTail!), sealed: true }));
          });
        anySealed ||= info.header.sealed;
        this.learnTail(slot, info.header.knownGlobalTail);
      }
      // A seal has begun somewhere: finish it, so that the answer is final.
      if (anySealed) {
        return this.decide(slot, (tail) => done(ok({ offset: LogletOffset(tail), sealed: true })));
      }
      done(ok(this.tailNow(slot)));
    });
  }

  private gatherInfo(slot: LogletSlot, done: (broadcast: Broadcast<"info">) => void): void {
    const { nodeset, replication } = slot.params;
    const broadcast = new Broadcast(nodeset, "info", (answered) =>
      isFMajority(answered, nodeset, replication, this.config.topology),
    );
    this.runBroadcast(broadcast, { kind: "getInfo", header: this.header(slot) }, () =>
      done(broadcast),
    );
  }

  // ---- internals: running machines ----

  /** Sends a loglet request and hands back the decoded outcome (never synchronously). */
  private call(
    to: NodeId,
    request: LogletMessage,
    timeoutTicks: number,
    done: (outcome: Outcome) => void,
  ): void {
    this.config.transport.request(
      to,
      serviceOfLogletMessage(request),
      encodeLogletMessage(request),
      timeoutTicks * this.limits.tickMs,
      (result: RequestOutcome) => {
        if (this.stopped) return;
        if (!result.ok)
          return done({
            ok: false,
            error: result.error === "unreachable" ? "unavailable" : result.error,
          });
        let response: LogletMessage;
        try {
          response = decodeLogletMessage(result.payload);
        } catch {
          return done({ ok: false, error: "malformed" });
        }
        done({ ok: true, response });
      },
    );
  }

  private send(effect: RequestEffect, onOutcome: (token: number, outcome: Outcome) => void): void {
    this.call(effect.to, effect.request, effect.timeoutTicks, (outcome) =>
      onOutcome(effect.token, outcome),
    );
  }

  private notify(to: NodeId, notice: LogServerNotice): void {
    this.config.transport.send(to, NodeService.logServer, encodeLogletMessage(notice));
  }

  private runBroadcast<K extends LogletMessage["kind"]>(
    broadcast: Broadcast<K>,
    request: LogletMessage,
    done: () => void,
  ): void {
    for (const effect of broadcast.start(request, this.limits.requestTimeoutTicks)) {
      this.send(effect, (token, outcome) => {
        if (broadcast.status !== "wait") return;
        broadcast.onOutcome(token, outcome);
        if (broadcast.status !== "wait") done();
      });
    }
  }

  private startRead(
    slot: LogletSlot,
    from: number,
    bound: number,
    recordsMax: number,
    done: (r: Result<LogletEntry[]>) => void,
  ): void {
    const reader = new Reader(slot.params, this.self.node, this.config.prng, this.limits, {
      from,
      bound,
      recordsMax: Math.max(1, recordsMax),
    });
    const finish = (): void => {
      const result = reader.result;
      assert(result !== undefined, "a finished reader has a result");
      switch (result.kind) {
        case "records":
          for (const r of result.records) assert(r.offset < bound, "reads stay below the tail");
          return done(
            ok(
              result.records.map((r) => ({
                kind: "record",
                offset: LogletOffset(r.offset),
                payload: r.payload,
              })),
            ),
          );
        case "trimGap":
          slot.trimPoint = Math.max(slot.trimPoint, result.through);
          return done(
            ok([{ kind: "trimGap", from: LogletOffset(from), to: LogletOffset(result.through) }]),
          );
        case "unavailable":
          return done(fail(unavailable(slot.params.logletId, result.why)));
        default:
          assertNever(result, "read result");
      }
    };
    const pump = (effects: RequestEffect[]): void => {
      for (const effect of effects) {
        this.send(effect, (token, outcome) => pump(reader.onOutcome(token, outcome)));
      }
      if (effects.length === 0 && reader.result !== undefined) finish();
    };
    pump(reader.start());
  }

  private applySequencer(slot: LogletSlot, effects: SequencerEffect[]): void {
    const sequencer = slot.sequencer;
    assert(sequencer !== undefined, "sequencer effects come from a sequencer");
    for (const effect of effects) {
      switch (effect.kind) {
        case "request":
          this.send(effect, (token, outcome) =>
            this.applySequencer(slot, sequencer.onStoreOutcome(token, outcome)),
          );
          break;
        case "notice":
          this.notify(effect.to, effect.notice);
          break;
        case "committed": {
          const done = slot.appends.get(effect.append);
          slot.appends.delete(effect.append);
          done?.(ok(LogletOffset(effect.lastOffset)));
          break;
        }
        case "rejected": {
          const done = slot.appends.get(effect.append);
          slot.appends.delete(effect.append);
          const id = slot.params.logletId;
          done?.(
            fail(
              effect.reason === "sealed"
                ? sealedError(id)
                : unavailable(id, "too many appends are waiting"),
            ),
          );
          break;
        }
        case "flushSoon":
          this.config.clock.defer(() => {
            if (!this.stopped) this.applySequencer(slot, sequencer.flush());
          });
          break;
        case "sealDetected":
          this.decide(slot, () => undefined);
          break;
        case "tailAdvanced":
          this.config.observer?.onCommitted?.(slot.params.logletId, effect.knownGlobalTail);
          this.learnTail(slot, effect.knownGlobalTail);
          break;
        default:
          assertNever(effect, "sequencer effect");
      }
    }
    for (const anomaly of sequencer.anomalies.splice(0)) this.config.observer?.onAnomaly?.(anomaly);
  }

  /** Runs (or joins) the seal / find-tail / repair procedure; `done` gets the decided tail. */
  private decide(slot: LogletSlot, done: (tail: number) => void): void {
    if (slot.decidedTail !== undefined) return done(slot.decidedTail);
    if (slot.coordinator !== undefined) {
      slot.coordinator.waiters.push(done);
      return;
    }
    const machine = new TailCoordinator(
      slot.params,
      this.self,
      this.config.topology,
      this.config.prng,
      this.limits,
      this.readBound(slot),
    );
    slot.coordinator = { machine, waiters: [done] };
    this.applyCoordinator(slot, machine, machine.start());
  }

  private applyCoordinator(
    slot: LogletSlot,
    machine: TailCoordinator,
    effects: CoordinatorEffect[],
  ): void {
    if (slot.coordinator?.machine !== machine) return;
    for (const effect of effects) {
      switch (effect.kind) {
        case "request":
          this.send(effect, (token, outcome) =>
            this.applyCoordinator(slot, machine, machine.onOutcome(token, outcome)),
          );
          break;
        case "notice":
          this.notify(effect.to, effect.notice);
          break;
        case "decided":
          this.onDecided(slot, effect.tail, () => undefined);
          break;
        default:
          assertNever(effect, "coordinator effect");
      }
    }
    for (const anomaly of machine.anomalies.splice(0)) this.config.observer?.onAnomaly?.(anomaly);
  }

  private onDecided(slot: LogletSlot, tail: number, then: () => void): void {
    if (slot.decidedTail !== undefined) {
      assert(
        slot.decidedTail === tail,
        `${slot.params.logletId}: sealed tail decided as ${slot.decidedTail} and ${tail}`,
      );
      return then();
    }
    assert(
      tail >= slot.knownTail,
      `${slot.params.logletId}: sealed tail ${tail} is below the committed tail ${slot.knownTail}`,
    );
    slot.decidedTail = tail;
    slot.knownTail = tail;
    this.config.observer?.onDecided?.(slot.params.logletId, tail);
    if (slot.sequencer !== undefined) this.applySequencer(slot, slot.sequencer.onSealDecided(tail));
    const waiters = slot.coordinator?.waiters ?? [];
    slot.coordinator = undefined;
    for (const waiter of waiters) waiter(tail);
    this.wakeWaiters(slot);
    then();
  }

  // ---- internals: serving ----

  private onRequest(
    _from: NodeId,
    payload: Uint8Array,
    respond: (payload: Uint8Array) => void,
  ): void {
    if (this.stopped) return;
    let message: LogletMessage;
    try {
      message = decodeLogletMessage(payload);
    } catch {
      return; // a malformed request gets no answer; the peer times out
    }
    switch (message.kind) {
      case "append":
        return this.serveAppend(message.logletId, message.payloads, respond);
      case "getTail": {
        const slot = this.loglets.get(message.logletId);
        const sequencer = slot?.sequencer;
        respond(
          encodeLogletMessage({
            kind: "tail",
            logletId: message.logletId,
            status: sequencer === undefined ? "notSequencer" : "ok",
            knownGlobalTail: slot === undefined ? 1 : this.readBound(slot),
            sealed:
              slot?.decidedTail !== undefined ||
              (sequencer !== undefined && sequencer.status !== "open"),
          }),
        );
        return;
      }
      case "store":
      case "prepare":
      case "accept":
      case "getRecords":
      case "getInfo":
      case "trim":
        return; // requests for log servers (src/log-server/server_node.ts)
      case "release":
      case "decided":
      case "stored":
      case "prepared":
      case "acceptReply":
      case "records":
      case "info":
      case "trimmed":
      case "appended":
      case "tail":
        return; // notices and responses never arrive as requests
      default:
        assertNever(message, "loglet request");
    }
  }

  private serveAppend(
    id: LogletId,
    payloads: readonly Uint8Array[],
    respond: (payload: Uint8Array) => void,
  ): void {
    const slot = this.loglets.get(id);
    const answer = (status: SequencerStatus, lastOffset: number): void => {
      respond(
        encodeLogletMessage({
          kind: "appended",
          logletId: id,
          status,
          lastOffset,
          knownGlobalTail: slot === undefined ? 1 : this.readBound(slot),
          sealed: slot?.decidedTail !== undefined,
        }),
      );
    };
    if (slot?.sequencer === undefined) return answer("notSequencer", 0);
    if (payloads.length === 0) return answer("unavailable", 0);
    this.append(id, payloads, (result) => {
      if (result.ok) return answer("ok", result.value);
      answer(result.error.code === "sealed" ? "sealed" : "unavailable", 0);
    });
  }

  // ---- internals: time ----

  private armTick(): void {
    if (this.stopped) return;
    this.cancelTick = this.config.clock.setTimer(this.limits.tickMs, () => {
      if (this.stopped) return;
      this.ticks++;
      this.onTick();
      this.armTick();
    });
  }

  private onTick(): void {
    for (const slot of this.loglets.values()) {
      if (slot.sequencer !== undefined) this.applySequencer(slot, slot.sequencer.tick());
      const coordinator = slot.coordinator?.machine;
      if (coordinator !== undefined) this.applyCoordinator(slot, coordinator, coordinator.tick());
      if (
        slot.tailWaiters.length > 0 &&
        slot.sequencer === undefined &&
        !slot.polling &&
        this.ticks % this.limits.tailPollTicks === 0
      ) {
        slot.polling = true;
        this.findTail(slot.params.logletId, (tail) => {
          slot.polling = false;
          if (tail.ok && tail.value.sealed)
            this.onDecided(slot, tail.value.offset, () => undefined);
        });
      }
    }
  }
}
