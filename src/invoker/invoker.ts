/**
 * The invoker: runs the attempts of every invocation this node's partition leaders own, with a bound
 * on concurrent attempts, retries with exponential backoff from the service's retry policy, and
 * pausing (or failing) after the last attempt.
 *
 * Fencing: a new attempt of an invocation starts only once everything the previous attempt proposed
 * has been applied, so its journal includes all of it, and proposals of a finished attempt are never
 * made after that point. A deposed leader's proposals are dropped by the epoch fence on apply.
 *
 * Retry counts live in memory (as in Restate): a restart or leader change starts counting again.
 *
 * One-way invocations start at a bounded pace: at most `invokerBackgroundStartingMax` of their
 * attempts may be in their first `invokerBackgroundStartingMs` at once; more wait in their lane while
 * calls and takeovers go on. A burst of one-way sends otherwise opened up to the whole concurrency
 * bound of streams at once, and an SDK endpoint juggling that many new invocations spends more CPU
 * on each (measured in docs/ARCHITECTURE.md, decisions). Counting only an attempt's first window
 * keeps long-running one-way handlers (an agent waiting on a model for minutes) from holding it.
 *
 * Why one file of this length: scheduling (slots, lanes, the one-way pace), an attempt's lifecycle,
 * its proposals and the retries all act on the same table of tasks; what an attempt sends is planned
 * in attempt_plan.ts, the retry delays in retry_delay.ts, the queue in invoker_queue.ts.
 */

import {
  type InvocationId,
  assert,
  KeelError,
  type Lsn,
  type PartitionId,
  formatDurationFriendly,
  describeError,
  Fifo,
  limits,
  type Prng,
} from "../core/index.js";
import {
  InvocationPhase,
  ServiceType as RecordServiceType,
  type PinnedDeployment,
  type ResolvedCall,
  type Target,
} from "../gen/keel/records.js";
import { NotificationMessage, type Failure } from "../gen/keel/service_protocol.js";
import { TableReader } from "../partition-store/index.js";
import { relatedCompletionIds } from "../partition/index.js";
import {
  NO_METRICS,
  NO_TRACING,
  type InvocationTracing,
  type InvokerMetrics,
  type KeelMetrics,
} from "../observability/index.js";
import { entryShortName, isNotification } from "../service-protocol/index.js";
import {
  PROTOCOL_VERSION_MAX,
  PROTOCOL_VERSION_MIN,
  targetOf,
  retentionOf,
  retryPolicyOf,
  type RetryPolicy,
  type SchemaIndex,
} from "../schema/index.js";
import {
  InvocationAttempt,
  type AttemptEffect,
  type AttemptFailure,
  type AttemptOutcome,
  type CallPrecondition,
  type InvokerTestOnlyFaults,
} from "./invocation_attempt.js";
import { InvokerQueue, type Lane } from "./invoker_queue.js";
import { planAttempt } from "./attempt_plan.js";
import { retryDelayMs } from "./retry_delay.js";
import type {
  EnvelopeCommand,
  InvokeOrigin,
  PartitionHandle,
  PartitionInvoker,
} from "../worker/index.js";
import type { Cancel, Clock, Logger } from "../platform/index.js";
import type { EndpointTransport } from "./endpoint.js";

type TaskState = "queued" | "running" | "backingOff";

/** A running slot granted to a task; `running` counts it until it is freed, exactly once. */
interface Slot {
  freed: boolean;
  /** Counted among the one-way attempts in their first `invokerBackgroundStartingMs`. */
  starting: boolean;
  readonly grantedAtMs: number;
}

/** What introspection shows of an invocation's attempts (Restate's sys_invocation_state). */
export interface InvocationTaskInfo {
  readonly inFlight: boolean;
  /** Attempts started so far, as Restate counts `retry_count` (1 while the first attempt runs). */
  readonly retryCount: number;
  readonly lastStartAtMs: number | undefined;
  readonly nextRetryAtMs: number | undefined;
  readonly lastFailure: AttemptFailure | undefined;
  readonly lastDeploymentId: string | undefined;
  readonly lastServer: string | undefined;
}

interface Task {
  readonly id: InvocationId;
  /** The id's hex form: the tasks' map key (much cheaper to compute than the text form). */
  readonly key: string;
  partition: PartitionHandle;
  state: TaskState;
  attempt: InvocationAttempt | undefined;
  /** Failed attempts in a row. */
  retryCount: number;
  /** Attempts started since this task was created (Restate's `retry_count` counts them). */
  attempts: number;
  /** Attempts since the last one that journaled something (sent to the SDK in Start). */
  retriesSinceProgress: number;
  lastProgressAtMs: number;
  lastFailure: AttemptFailure | undefined;
  lastStartAtMs: number | undefined;
  nextRetryAtMs: number | undefined;
  lastDeploymentId: string | undefined;
  lastServer: string | undefined;
  /** The invocation was resumed while an attempt still ran: run again once it is over. */
  restartRequested: boolean;
  /**
   * No caller waits for the result (a one-way send): its attempts start after pending I/O and at a
   * bounded pace (see the top of the file).
   */
  readonly background: boolean;
  /** The slot of the running attempt (or of the one about to start). */
  slot: Slot | undefined;
  /** The last proposal of the current or previous attempt; the next attempt waits for it. */
  lastProposal: Promise<Lsn | undefined>;
  /** A proposal of the current attempt was refused by the log: the attempt must be retried. */
  proposalFailed: boolean;
  retryTimer: Cancel | undefined;
  /** When a failed attempt of this invocation was last logged as a warning (rate-limited). */
  lastWarnedAtMs: number | undefined;
  /** Failed attempts since that warning that were logged at debug level only. */
  failuresNotWarned: number;
}

/** Effects that follow one the log refused are never proposed: the attempt fails with the first. */
const EARLIER_PROPOSAL_REFUSED = new KeelError(
  "unavailable",
  "an earlier effect of this attempt was refused by the log",
  true,
);

export interface InvokerOptions {
  readonly concurrencyMax?: number;
  readonly backgroundStartingMax?: number;
  readonly clusterName?: string;
  /** Randomness for retry jitter (seeded from the `Entropy` port). */
  readonly prng: Prng;
  /** Deliberately broken behaviour for the node simulation's broken variants; never set otherwise. */
  readonly testOnlyFaults?: InvokerTestOnlyFaults;
  /** Where attempts, retries and endpoint latencies are counted (default: nowhere). */
  readonly metrics?: Pick<KeelMetrics, "invoker" | "startTimer">;
  /** Where attempts and their journal entries are traced (default: nowhere). */
  readonly tracing?: InvocationTracing;
}

/** How soon an attempt that the server itself failed (e.g. a full disk) is tried again. */
const SERVER_SIDE_RETRY_DELAY_MS = 1000;

export class Invoker implements PartitionInvoker {
  private readonly tasks = new Map<string, Task>();
  /** Tasks waiting for a free slot; a dropped task may linger here and is skipped (see `pump`). */
  private readonly queue = new InvokerQueue<Task>();
  private running = 0;
  private readonly concurrencyMax: number;
  private pendingIoTurn: Promise<void> | undefined;
  /** Slots of one-way attempts, oldest first; those still `starting` count against the bound. */
  private readonly backgroundStarts = new Fifo<Slot>();
  private backgroundStarting = 0;
  private readonly backgroundStartingMax: number;
  /** Wakes the pump when the oldest starting one-way attempt leaves its first window. */
  private backgroundWindowTimer: Cancel | undefined;
  private readonly metrics: InvokerMetrics;
  private readonly timer: Pick<KeelMetrics, "startTimer">;
  private readonly tracing: InvocationTracing;

  constructor(
    private readonly transport: EndpointTransport,
    private readonly schema: () => SchemaIndex,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: InvokerOptions,
  ) {
    this.concurrencyMax = options.concurrencyMax ?? limits.invokerConcurrencyMax;
    this.backgroundStartingMax =
      options.backgroundStartingMax ?? limits.invokerBackgroundStartingMax;
    this.metrics = options.metrics?.invoker ?? NO_METRICS.invoker;
    this.timer = options.metrics ?? NO_METRICS;
    this.tracing = options.tracing ?? NO_TRACING;
  }

  get runningAttempts(): number {
    return this.running;
  }

  /** Invocations waiting for a free slot to start their next attempt (dropped ones may linger). */
  get queuedInvocations(): number {
    return this.queue.length;
  }

  /** Invocations waiting out a retry delay after a failed attempt (a pass over the tasks). */
  get backingOffInvocations(): number {
    let count = 0;
    for (const task of this.tasks.values()) if (task.state === "backingOff") count++;
    return count;
  }

  info(id: InvocationId): InvocationTaskInfo | undefined {
    const task = this.tasks.get(id.hex);
    if (task === undefined) return undefined;
    return {
      inFlight: task.state === "running",
      retryCount: task.attempts,
      lastStartAtMs: task.lastStartAtMs,
      nextRetryAtMs: task.nextRetryAtMs,
      lastFailure: task.lastFailure,
      lastDeploymentId: task.lastDeploymentId,
      lastServer: task.attempt?.server ?? task.lastServer,
    };
  }

  invoke(partition: PartitionHandle, id: InvocationId, origin: InvokeOrigin): void {
    const key = id.hex;
    const existing = this.tasks.get(key);
    if (existing !== undefined) {
      existing.partition = partition;
      if (existing.state === "running") existing.restartRequested = true;
      return;
    }
    const task: Task = {
      id,
      key,
      partition,
      state: "queued",
      attempt: undefined,
      retryCount: 0,
      attempts: 0,
      retriesSinceProgress: 0,
      lastProgressAtMs: this.clock.nowMs(),
      lastFailure: undefined,
      lastStartAtMs: undefined,
      nextRetryAtMs: undefined,
      lastDeploymentId: undefined,
      lastServer: undefined,
      restartRequested: false,
      background: origin === "background",
      slot: undefined,
      lastProposal: Promise.resolve(undefined),
      proposalFailed: false,
      retryTimer: undefined,
      lastWarnedAtMs: undefined,
      failuresNotWarned: 0,
    };
    this.tasks.set(key, task);
    this.enqueue(task, origin === "takeover" ? "takeover" : undefined);
  }

  notify(id: InvocationId, entryIndex: number, messageType: number, raw: Uint8Array): void {
    if (this.tracing !== NO_TRACING && isNotification(messageType)) {
      const ref = NotificationMessage.decode(raw).id;
      if (ref?.$case === "completionId") this.tracing.entryCompleted(id.toString(), ref.value);
    }
    this.tasks.get(id.hex)?.attempt?.notify(entryIndex, messageType, raw);
  }

  abort(id: InvocationId): void {
    const task = this.tasks.get(id.hex);
    if (task === undefined) return;
    this.drop(task);
    this.pump();
  }

  retryNow(id: InvocationId): void {
    const task = this.tasks.get(id.hex);
    if (task?.state !== "backingOff") return;
    task.retryTimer?.();
    task.retryTimer = undefined;
    task.nextRetryAtMs = undefined;
    this.enqueue(task);
  }

  stopPartition(partitionId: PartitionId): void {
    for (const task of [...this.tasks.values()])
      if (task.partition.partitionId === partitionId) this.drop(task);
    this.forgetDropped();
    this.pump();
  }

  stopAll(): void {
    for (const task of [...this.tasks.values()]) this.drop(task);
    this.forgetDropped();
    this.backgroundWindowTimer?.();
    this.backgroundWindowTimer = undefined;
  }

  private isCurrent(task: Task): boolean {
    return this.tasks.get(task.key) === task;
  }

  /** One pass over the queue after dropping many tasks, instead of a search per dropped task. */
  private forgetDropped(): void {
    this.queue.removeWhere((task) => !this.isCurrent(task));
  }

  private drop(task: Task): void {
    this.tasks.delete(task.key);
    if (task.slot !== undefined) this.free(task.slot);
    task.slot = undefined;
    task.retryTimer?.();
    const attempt = task.attempt;
    task.attempt = undefined;
    task.restartRequested = false;
    attempt?.abort();
  }

  private enqueue(task: Task, lane?: Lane): void {
    task.state = "queued";
    this.queue.push(task, lane ?? (task.background ? "background" : "awaited"));
    this.pump();
  }

  private pump(): void {
    while (this.running < this.concurrencyMax) {
      const task = this.queue.shift(this.backgroundHeld());
      if (task === undefined) break;
      if (!this.isCurrent(task)) continue;
      const slot: Slot = {
        freed: false,
        starting: task.background,
        grantedAtMs: this.clock.nowMs(),
      };
      this.running++;
      if (slot.starting) {
        this.backgroundStarts.push(slot);
        this.backgroundStarting++;
      }
      task.slot = slot;
      task.state = "running";
      void this.runAttempt(task, slot);
    }
    this.watchBackgroundWindow();
  }

  /** Whether one-way invocations must wait: too many of their attempts are in their first window. */
  private backgroundHeld(): boolean {
    const windowStart = this.clock.nowMs() - limits.invokerBackgroundStartingMs;
    for (;;) {
      const oldest = this.backgroundStarts.peek();
      if (oldest === undefined || (oldest.starting && oldest.grantedAtMs > windowStart)) break;
      this.backgroundStarts.shift();
      if (oldest.starting) {
        oldest.starting = false;
        this.backgroundStarting--;
      }
    }
    return this.backgroundStarting >= this.backgroundStartingMax;
  }

  /** While one-way invocations wait only for the window to pass, wake the pump when it has. */
  private watchBackgroundWindow(): void {
    if (this.backgroundWindowTimer !== undefined) return;
    if (this.queue.waiting("background") === 0 || !this.backgroundHeld()) return;
    const oldest = this.backgroundStarts.peek()!;
    const delayMs = oldest.grantedAtMs + limits.invokerBackgroundStartingMs - this.clock.nowMs();
    this.backgroundWindowTimer = this.clock.setTimer(Math.max(1, delayMs), () => {
      this.backgroundWindowTimer = undefined;
      this.pump();
    });
  }

  /** Gives a slot back (no-op when it already was); the caller pumps. */
  private free(slot: Slot): void {
    if (slot.freed) return;
    slot.freed = true;
    this.running--;
    if (slot.starting) {
      slot.starting = false;
      this.backgroundStarting--;
    }
  }

  private release(slot: Slot): void {
    this.free(slot);
    this.pump();
  }

  private async runAttempt(task: Task, slot: Slot): Promise<void> {
    try {
      // Fence: the journal must include everything earlier attempts proposed.
      const lsn = await task.lastProposal;
      if (lsn !== undefined) await task.partition.waitForApplied(lsn);
      // Starting an attempt costs the main thread a store read, the protocol's first messages and a
      // post to the endpoint worker: for a one-way send, that waits behind the acknowledgements
      // and log writes of the same turn.
      if (task.background) await this.afterPendingIo();
      if (!this.isCurrent(task)) return this.release(slot);
      const started = this.startAttempt(task, slot);
      if (!started) return this.release(slot);
    } catch (error) {
      this.release(slot);
      this.onAttemptFinished(task, {
        kind: "failed",
        failure: { code: 500, message: describeError(error) },
      });
    }
  }

  /** One check-phase callback for every attempt deferred in a turn. */
  private afterPendingIo(): Promise<void> {
    this.pendingIoTurn ??= new Promise((resolve) =>
      this.clock.deferAfterIo(() => {
        this.pendingIoTurn = undefined;
        resolve();
      }),
    );
    return this.pendingIoTurn;
  }

  /** Builds and opens the attempt; false when there is nothing to run. */
  private startAttempt(task: Task, slot: Slot): boolean {
    const tables = new TableReader(task.partition.reader());
    const status = tables.status(task.id);
    if (status === undefined || status.phase !== InvocationPhase.INVOCATION_PHASE_INVOKED) {
      this.tasks.delete(task.key);
      return false;
    }
    const now = this.clock.nowMs();
    const plan = planAttempt(
      task.id,
      status,
      tables,
      this.schema(),
      task,
      now,
      this.options.clusterName ?? "localcluster",
    );
    if (plan.kind === "failed") {
      this.free(slot);
      this.onAttemptFinished(task, { kind: "failed", failure: plan.failure });
      this.pump();
      return true;
    }
    const { pinned, pinNeeded } = plan;
    const setup = this.traced(task, status.traceParent, plan.setup);
    // The calls this attempt makes go under its span: each callee stores it (see `resolveCall`).
    const traceParent = setup.headers["traceparent"] ?? "";
    task.lastStartAtMs = now;
    task.attempts++;
    this.metrics.attemptStarted();
    const sentAt = this.timer.startTimer();
    task.nextRetryAtMs = undefined;
    task.lastDeploymentId = pinned.deploymentId;
    const attempt = new InvocationAttempt(
      {
        ...setup,
        resolveCall: (svc, h, key, idem) => this.resolveCall(svc, h, key, idem, traceParent),
        ...(this.options.testOnlyFaults === undefined
          ? {}
          : { testOnlyFaults: this.options.testOnlyFaults }),
      },
      this.transport,
      this.clock,
      {
        onEffects: (effects) => {
          if (task.attempt !== attempt) return;
          if (pinNeeded && pinned.server === "" && attempt.server !== undefined)
            pinned.server = attempt.server;
          if (this.tracing !== NO_TRACING) this.traceEntries(task, effects);
          this.propose(task, effects, pinNeeded ? pinned : undefined);
        },
        onResponded: () => this.metrics.endpointResponded(sentAt),
        onFinished: (outcome) => {
          if (task.attempt !== attempt) return;
          task.attempt = undefined;
          task.slot = undefined;
          task.lastServer = attempt.server ?? task.lastServer;
          this.release(slot);
          // The outcome counts only once everything the attempt proposed is durable: an End whose
          // append failed leaves the invocation running, so the attempt must be retried.
          void task.lastProposal.then(() => {
            const counted: AttemptOutcome =
              task.proposalFailed && outcome.kind !== "aborted"
                ? {
                    kind: "failed",
                    failure: { serverSide: true, code: 503, message: "the log refused a proposal" },
                  }
                : outcome;
            this.metrics.attemptFinished(counted.kind);
            this.tracing.attemptFinished(task.id.toString(), counted.kind);
            this.onAttemptFinished(task, counted);
          });
        },
      },
    );
    task.attempt = attempt;
    task.proposalFailed = false;
    this.logger.debug("attempt started", {
      invocation: task.id.toString(),
      partition: task.partition.partitionId,
      journalLength: setup.journal.length,
      deployment: pinned.deploymentId,
    });
    attempt.start();
    return true;
  }

  private propose(
    task: Task,
    effects: AttemptEffect[],
    pinned: PinnedDeployment | undefined,
  ): void {
    const id = task.id.bytes;
    const commands: EnvelopeCommand[] = effects.map((effect) => {
      let kind: NonNullable<Extract<EnvelopeCommand, { $case: "invokerEffect" }>["value"]["kind"]>;
      switch (effect.kind) {
        case "command":
          kind = { $case: "command", value: effect.command };
          break;
        case "runCompletion":
          kind = { $case: "runCompletion", value: effect.proposal };
          break;
        case "suspended":
          kind = { $case: "suspended", value: effect.waiting };
          break;
        case "end":
          kind = { $case: "end", value: {} };
          break;
      }
      const afterCommandCount = effect.kind === "command" ? 0 : effect.afterCommandCount;
      return {
        $case: "invokerEffect",
        value: { invocationId: id, pinned, afterCommandCount, kind },
      };
    });
    if (effects.some((e) => e.kind === "command" || e.kind === "runCompletion")) {
      task.retriesSinceProgress = 0;
      task.lastProgressAtMs = this.clock.nowMs();
    }
    // One attempt's effects land in the order it produced them, or not at all past the first the
    // log refused: a run's completion refused while the log was sealed, followed by the suspension
    // that waits for it appended once the log was extended, would suspend the invocation for good.
    const proposal = task.lastProposal.then(() => {
      if (task.proposalFailed) throw EARLIER_PROPOSAL_REFUSED;
      return task.partition.propose(commands);
    });
    task.lastProposal = proposal.then(
      (lsn) => lsn,
      (error: unknown) => {
        // The log refused (not leader, sealed, disk full): this attempt cannot go on; retry later.
        if (error === EARLIER_PROPOSAL_REFUSED) return undefined;
        task.proposalFailed = true;
        this.logger.warn("invoker proposal failed", {
          invocation: task.id.toString(),
          partition: task.partition.partitionId,
          error: describeError(error),
        });
        task.attempt?.failWith({
          serverSide: true,
          code: 503,
          message: `the log refused a proposal: ${describeError(error)}`,
        });
        return undefined;
      },
    );
  }

  /** The attempt's setup with the headers that carry its trace context, when tracing is on. */
  private traced<S extends { readonly headers: Record<string, string>; readonly target: Target }>(
    task: Task,
    parent: string,
    setup: S,
  ): S {
    if (this.tracing === NO_TRACING) return setup;
    const headers = this.tracing.attemptStarted({
      invocationId: task.id.toString(),
      target: targetText(setup.target),
      partition: task.partition.partitionId,
      parent,
    });
    return headers === undefined ? setup : { ...setup, headers: { ...setup.headers, ...headers } };
  }

  private traceEntries(task: Task, effects: readonly AttemptEffect[]): void {
    const id = task.id.toString();
    for (const effect of effects) {
      if (effect.kind !== "command") continue;
      const { messageType, raw } = effect.command;
      // A call waits for its callee's id, then its result: the span ends with the result (last).
      const completionId = relatedCompletionIds(messageType, raw).at(-1);
      const name = entryShortName(messageType) ?? `0x${messageType.toString(16)}`;
      this.tracing.journalEntry(id, name, completionId);
    }
  }

  private onAttemptFinished(task: Task, outcome: AttemptOutcome): void {
    this.logger.debug("attempt finished", {
      invocation: task.id.toString(),
      partition: task.partition.partitionId,
      outcome: outcome.kind,
      ...(outcome.kind === "failed"
        ? { code: outcome.failure.code, message: outcome.failure.message }
        : {}),
    });
    if (!this.isCurrent(task)) return;
    switch (outcome.kind) {
      case "ended":
      case "suspended":
        task.retryCount = 0;
        if (task.restartRequested) {
          task.restartRequested = false;
          this.enqueue(task);
        } else {
          this.tasks.delete(task.key);
        }
        return;
      case "aborted":
        this.tasks.delete(task.key);
        return;
      case "failed":
        return this.retryOrGiveUp(task, outcome.failure);
    }
  }

  private retryOrGiveUp(task: Task, failure: AttemptFailure): void {
    task.lastFailure = failure;
    task.restartRequested = false;
    if (!task.partition.isLeader) {
      this.tasks.delete(task.key);
      return;
    }
    const target = new TableReader(task.partition.reader()).status(task.id)?.target;
    if (failure.serverSide === true) {
      const next = `retrying in ${formatDurationFriendly(SERVER_SIDE_RETRY_DELAY_MS)}`;
      this.warnFailure(task, target, failure, next);
      return this.retryAfter(task, SERVER_SIDE_RETRY_DELAY_MS);
    }
    task.retryCount++;
    task.retriesSinceProgress++;
    const policy = this.policyFor(target);
    if (task.retryCount >= policy.maxAttempts || failure.retryable === false) {
      const last: Failure = { code: failure.code, message: failure.message, metadata: [] };
      const kind = policy.onMaxAttempts === "Kill" ? ("failed" as const) : ("paused" as const);
      // Giving up is always logged: it happens once per invocation.
      task.lastWarnedAtMs = undefined;
      const next = kind === "failed" ? "not going to retry" : "pausing the invocation";
      this.warnFailure(task, target, failure, next);
      this.tasks.delete(task.key);
      void task.lastProposal.then(() =>
        task.partition
          .propose([
            {
              $case: "invokerEffect",
              value: {
                invocationId: task.id.bytes,
                pinned: undefined,
                afterCommandCount: 0,
                kind: { $case: kind, value: last },
              },
            },
          ])
          .catch((error: unknown) =>
            this.logger.warn("could not record giving up", {
              invocation: task.id.toString(),
              partition: task.partition.partitionId,
              error: describeError(error),
            }),
          ),
      );
      return;
    }
    // An SDK's own retry delay is taken as it is; the policy's interval gets jitter, as in Restate.
    const delayMs =
      failure.nextRetryDelayMs ?? retryDelayMs(policy, task.retryCount, this.options.prng);
    this.warnFailure(task, target, failure, `retrying in ${formatDurationFriendly(delayMs)}`);
    this.retryAfter(task, delayMs);
  }

  /**
   * Logs a failed attempt as Restate does at its default level: a warning naming the invocation, its
   * target, the attempt and the failure. At most one warning per invocation per
   * `invokerFailureWarningIntervalMs`; the failures between two warnings go to the debug level and
   * are counted in the next warning.
   */
  private warnFailure(
    task: Task,
    target: Target | undefined,
    failure: AttemptFailure,
    next: string,
  ): void {
    const now = this.clock.nowMs();
    const fields: Record<string, unknown> = {
      invocation: task.id.toString(),
      partition: task.partition.partitionId,
      ...(target === undefined ? {} : { target: targetText(target) }),
      attempt: task.attempts,
      code: failure.code,
      message: failure.message,
      ...(failure.errorCode === undefined ? {} : { errorCode: failure.errorCode }),
      ...(task.lastDeploymentId === undefined ? {} : { deployment: task.lastDeploymentId }),
    };
    const quiet =
      task.lastWarnedAtMs !== undefined &&
      now - task.lastWarnedAtMs < limits.invokerFailureWarningIntervalMs;
    if (quiet) {
      task.failuresNotWarned++;
      this.logger.debug(`Invocation error, ${next}.`, fields);
      return;
    }
    if (task.failuresNotWarned > 0) fields["failuresSinceLastWarning"] = task.failuresNotWarned;
    task.failuresNotWarned = 0;
    task.lastWarnedAtMs = now;
    this.logger.warn(`Invocation error, ${next}.`, fields);
  }

  private retryAfter(task: Task, delay: number): void {
    this.logger.debug("attempt retry scheduled", {
      invocation: task.id.toString(),
      partition: task.partition.partitionId,
      delayMs: delay,
    });
    this.metrics.retryScheduled();
    task.state = "backingOff";
    task.nextRetryAtMs = this.clock.nowMs() + delay;
    task.retryTimer = this.clock.setTimer(delay, () => {
      task.retryTimer = undefined;
      if (this.isCurrent(task)) this.enqueue(task);
    });
  }

  private policyFor(target: Target | undefined): RetryPolicy {
    const resolved =
      target === undefined ? undefined : this.schema().handler(target.service, target.handler);
    if (resolved === undefined) {
      return {
        initialIntervalMs: limits.retryInitialIntervalMsDefault,
        exponentiationFactor: limits.retryExponentiationFactorDefault,
        maxAttempts: limits.retryMaxAttemptsDefault,
        maxIntervalMs: limits.retryMaxIntervalMsDefault,
        onMaxAttempts: "Pause",
      };
    }
    return retryPolicyOf(resolved.service, resolved.handler);
  }

  /**
   * Resolves a Call/OneWayCall target against the schema the moment the SDK issues it. A target the
   * schema cannot take (Restate's command preconditions: an unknown service or handler, a key for a
   * service without keys, an empty idempotency key) fails the attempt instead, and the command is
   * issued again by the next attempt, against the schema of then: a target registered meanwhile is
   * called then, exactly once.
   */
  private resolveCall(
    serviceName: string,
    handlerName: string,
    key: string,
    idempotencyKey: string | undefined,
    traceParent: string,
  ): ResolvedCall | CallPrecondition {
    const resolved = this.schema().handler(serviceName, handlerName);
    if (resolved === undefined) {
      return {
        precondition: `the service handler ${serviceName}/${handlerName} was not found`,
        errorCode: "RT0018",
      };
    }
    const { service, handler } = resolved;
    if (key !== "" && service.ty === "Service") {
      return {
        precondition: `a key was provided, but the callee '${service.name}' is a Service. Only VirtualObjects or Workflows accept a key`,
        errorCode: "RT0017",
      };
    }
    if (idempotencyKey === "") {
      return {
        precondition: "the idempotency key provided in the request is empty",
        errorCode: "RT0017",
      };
    }
    const target = targetOf(service, handler, key);
    const retention = retentionOf(
      service,
      handler,
      idempotencyKey !== undefined && idempotencyKey !== "",
    );
    return { target, ...retention, failure: undefined, traceParent };
  }
}

/** `Svc/handler` or `Obj/key/handler`, as Restate's logs and SQL name targets. */
function targetText(target: Target): string {
  return target.serviceType === RecordServiceType.SERVICE_TYPE_SERVICE
    ? `${target.service}/${target.handler}`
    : `${target.service}/${target.key}/${target.handler}`;
}

assert(PROTOCOL_VERSION_MIN <= PROTOCOL_VERSION_MAX, "protocol version range");
