/**
 * The driver of one partition: it reads the partition's log in order, applies each batch of records
 * to the state machine inside one store batch (the applied LSN travels with it), and, when this node
 * leads the partition, carries out the actions: invocations, timers, the shuffle, answers to waiters
 * (who waits for what is waiters.ts).
 *
 * Leadership is taken through the log: the candidate bumps the partition's epoch in the metadata store
 * (compare-and-swap) and appends AnnounceLeader(epoch); it becomes leader when it applies its own
 * announcement, and steps down when it applies a newer one. Every record it proposes carries its epoch,
 * so a deposed leader's stragglers are dropped by every replica.
 *
 * Nothing is acknowledged before the record carrying it is durable: outcomes and completions are only
 * produced by applying records read back from the log.
 *
 * Why one file of this length: the apply loop, leadership and proposals share the role and the epoch;
 * waiters (waiters.ts), timers (timer_service.ts), the shuffle (shuffle.ts) and snapshots
 * (snapshots.ts) live apart.
 */

import {
  assert,
  Lsn,
  type PartitionId,
  type PartitionKey,
  KeelError,
  describeError,
  limits,
  InvocationId,
  type PartitionTable,
} from "../core/index.js";
import {
  Envelope,
  InvocationPhase,
  type Dedup,
  type OutboxMessage,
  type Result,
  type ServiceInvocation,
  type Target,
} from "../gen/keel/records.js";
import type { VirtualLog } from "../bifrost/index.js";
import {
  getJson,
  putJson,
  MUST_NOT_EXIST,
  matchesVersion,
  type MetadataStore,
} from "../metadata/index.js";
import { type Action, type Outcome, PartitionStateMachine } from "../partition/index.js";
import {
  ACTIVE_PREFIX,
  invocationIdAfter,
  type PartitionReader,
  TableReader,
  type PartitionStore,
} from "../partition-store/index.js";
import type { Clock, Logger } from "../platform/index.js";
import {
  NO_METRICS,
  NO_TRACING,
  type InvocationTracing,
  type KeelMetrics,
} from "../observability/index.js";
import { assertStoreWithinLog } from "./replay.js";
import { Shuffle, type ShuffleTransport } from "./shuffle.js";
import { Waiters } from "./waiters.js";
import { TimerService } from "./timer_service.js";
import { encodeMessage } from "../wire/index.js";

export type EnvelopeCommand = NonNullable<Envelope["command"]>;

/** What a waiter learns about an invocation it attaches to. */
export type AttachResult =
  | {
      readonly kind: "completed";
      readonly result: Result;
      readonly target: Target | undefined;
      readonly retainedUntilMs: number;
    }
  | { readonly kind: "notFound" }
  | { readonly kind: "notReady" };

/**
 * Why an invocation is handed to the invoker: found running when the partition was taken over
 * (after a restart or failover, possibly thousands at once), or made runnable by a record just
 * applied, with a caller waiting for its result ("awaited") or none (a one-way send: "background").
 */
export type InvokeOrigin = "takeover" | "awaited" | "background";

/** The node-wide invoker as seen by one partition. */
export interface PartitionInvoker {
  invoke(partition: PartitionHandle, id: InvocationId, origin: InvokeOrigin): void;
  notify(id: InvocationId, entryIndex: number, messageType: number, raw: Uint8Array): void;
  abort(id: InvocationId): void;
  /** Starts the next attempt of a backing-off invocation now. */
  retryNow(id: InvocationId): void;
  stopPartition(partitionId: PartitionId): void;
}

/** What the invoker needs from the partition that owns an invocation. */
export interface PartitionHandle {
  readonly partitionId: PartitionId;
  reader(): PartitionReader;
  /** Proposes records as the current leader; rejects when not leader. */
  propose(commands: EnvelopeCommand[]): Promise<Lsn>;
  /** Resolves once the record at `lsn` has been applied. */
  waitForApplied(lsn: Lsn): Promise<void>;
  readonly isLeader: boolean;
}

export interface ProcessorDeps {
  readonly partitionId: PartitionId;
  readonly partitionTable: PartitionTable;
  readonly nodeName: string;
  readonly log: VirtualLog;
  readonly store: PartitionStore;
  readonly metadata: MetadataStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly invoker: PartitionInvoker;
  readonly shuffleTransport: ShuffleTransport;
  /** A broken invariant or storage failure: the node must stop (and restart to replay the log). */
  readonly onFatal: (error: unknown) => void;
  /** Deliberately broken behaviour for the cluster simulation's broken variant (tests only). */
  readonly testOnlyFaults?: ProcessorTestOnlyFaults;
  /** Where completions, leadership changes and log appends are counted (default: nowhere). */
  readonly metrics?: Pick<KeelMetrics, "partitions" | "log" | "startTimer">;
  /** Where invocations' completions end their traces (default: nowhere). */
  readonly tracing?: InvocationTracing;
}

export interface ProcessorTestOnlyFaults {
  /** A leader that applies a newer leader's announcement goes on acting (it must step down). */
  readonly keepsLeadingAfterNewerAnnouncement?: boolean;
}

type Role = "starting" | "follower" | "candidate" | "leader" | "stopped";

export interface PartitionDescription {
  readonly partitionId: number;
  readonly role: Role;
  readonly epoch: number;
  readonly leaderNode: string;
  readonly appliedLsn: number;
  /** The first unwritten LSN of the partition's log; undefined when its servers did not tell in time. */
  readonly logTail: number | undefined;
  readonly trimPoint: number | undefined;
  readonly segments: number;
  readonly timers: number;
  /**
   * How long this node's appends to the partition's log took to become durable, recently (an
   * exponentially weighted mean, ms); undefined where none was measured (a follower, an unobserved
   * node).
   */
  readonly appendLatencyMs: number | undefined;
}

/** The weight of the newest append in `appendLatencyMs` (about the last ten appends count). */
const APPEND_LATENCY_WEIGHT = 0.2;

const epochKey = (partitionId: number): string => `partitions/${partitionId}/epoch`;
/**
 * How long a status waits for the log's servers: an operator asks most while a node is failing,
 * when a replicated log's tail may take until its reconfiguration to be known.
 */
const DESCRIBE_LOG_WAIT_MS = 500;
/** The longest wait before reading again a log whose tail is past what can be read now. */
const UNREADABLE_TAIL_WAIT_MS_MAX = 200;

export class PartitionProcessor implements PartitionHandle {
  readonly partitionId: PartitionId;
  private role: Role = "starting";
  private machine!: PartitionStateMachine;
  private claimedEpoch = 0;
  private readonly waiters: Waiters;
  private leaderWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private readonly timers: TimerService;
  private readonly shuffle: Shuffle;
  private loop: Promise<void> | undefined;
  /** Wakes the apply loop while it waits for the log's tail (set only while it waits). */
  private wakeIdleLoop: (() => void) | undefined;

  constructor(private readonly deps: ProcessorDeps) {
    this.partitionId = deps.partitionId;
    this.waiters = new Waiters(deps.partitionId, (id) => this.attach(id, true));
    this.timers = new TimerService(
      deps.clock,
      () => this.reader(),
      (keys) => this.fireTimers(keys),
    );
    this.shuffle = new Shuffle(
      deps.partitionId,
      () => this.reader(),
      (message) => deps.partitionTable.partitionOf(destinationKey(message)),
      deps.shuffleTransport,
      async (through) => {
        await this.propose([{ $case: "truncateOutbox", value: { throughSeq: through } }]);
      },
      deps.clock,
      deps.logger,
    );
  }

  get isLeader(): boolean {
    return this.role === "leader";
  }

  get appliedLsn(): number {
    return this.machine?.appliedLsn ?? 0;
  }

  /** The partition's store (snapshots copy it). */
  get store(): PartitionStore {
    return this.deps.store;
  }

  /** The partition's log (snapshots trim it). */
  get log(): VirtualLog {
    return this.deps.log;
  }

  get epoch(): number {
    return this.machine?.leaderEpoch ?? 0;
  }

  /** The epoch this processor acts in while it leads (undefined when it does not lead). */
  get leadingEpoch(): number | undefined {
    return this.role === "leader" ? this.claimedEpoch : undefined;
  }

  status(): {
    partitionId: number;
    role: Role;
    epoch: number;
    appliedLsn: number;
    /** Records in the log past the applied LSN, as far as this node knows the log's tail. */
    lagRecords: number;
    timers: number;
    /** Invocation statuses in each phase, indexed by `InvocationPhase` (empty before recovery). */
    invocationsByPhase: readonly number[];
  } {
    return {
      partitionId: this.partitionId,
      role: this.role,
      epoch: this.epoch,
      appliedLsn: this.appliedLsn,
      lagRecords: Math.max(0, this.deps.log.knownTail - 1 - this.appliedLsn),
      timers: this.timers.size,
      invocationsByPhase: this.machine?.invocationsByPhase ?? [],
    };
  }

  reader(): PartitionReader {
    return this.deps.store.reader();
  }

  /** What an operator sees of this partition: leadership, applied LSN and its log. */
  async describe(): Promise<PartitionDescription> {
    return {
      partitionId: this.partitionId,
      role: this.role,
      epoch: this.epoch,
      leaderNode: this.machine?.leaderNode ?? "",
      appliedLsn: this.appliedLsn,
      logTail: await this.answerWithin(DESCRIBE_LOG_WAIT_MS, this.deps.log.findTail()),
      trimPoint: await this.answerWithin(DESCRIBE_LOG_WAIT_MS, this.deps.log.trimPoint()),
      segments: this.deps.log.chain.segments.length,
      timers: this.timers.size,
      appendLatencyMs: this.role === "leader" ? this.appendLatencyMs : undefined,
    };
  }

  private appendLatencyMs: number | undefined;

  private noteAppendLatency(ms: number): void {
    this.appendLatencyMs =
      this.appendLatencyMs === undefined
        ? ms
        : this.appendLatencyMs + APPEND_LATENCY_WEIGHT * (ms - this.appendLatencyMs);
  }

  /** `answer`'s value, or undefined when it fails or takes longer than `ms`. */
  private answerWithin<T>(ms: number, answer: Promise<T>): Promise<T | undefined> {
    return new Promise((resolve) => {
      const cancel = this.deps.clock.setTimer(ms, () => resolve(undefined));
      answer.then(
        (value) => {
          cancel();
          resolve(value);
        },
        () => {
          cancel();
          resolve(undefined);
        },
      );
    });
  }

  /**
   * Recovers the state machine from the store and checks the store against the log, writing nothing.
   * Returns the log's tail.
   */
  async recover(): Promise<Lsn> {
    const fsm = new TableReader(this.reader()).fsm();
    this.machine = new PartitionStateMachine(this.partitionId, this.deps.partitionTable, fsm);
    const tail = await this.deps.log.findTail();
    assertStoreWithinLog(this.partitionId, this.machine.appliedLsn, tail);
    return tail;
  }

  /**
   * Recovers from the store, replays the log to its tail and goes on following it: a follower applies
   * every record and acts on none. Whether this node leads is decided outside (the node today, the
   * cluster controller in cluster mode), which then calls `claimLeadership`.
   */
  async start(): Promise<void> {
    const tail = await this.recover();
    this.role = "follower";
    this.loop = this.applyLoop().catch((error: unknown) => {
      if (this.role !== "stopped") this.deps.onFatal(error);
    });
    if (tail > 1) await this.waitForApplied(Lsn(tail - 1));
  }

  /**
   * Takes the next epoch and announces it through the log; resolves once this node leads, fails when
   * a newer leader's announcement comes first or the processor stops. A follower that is caught up
   * leads at once: the announcement is the only record it waits for.
   */
  async claimLeadership(): Promise<void> {
    assert(
      this.role === "follower",
      `partition ${this.partitionId} claims as a follower, not as ${this.role}`,
    );
    this.role = "candidate";
    // No epoch taken yet: announcements applied meanwhile are older than the one it will take.
    this.claimedEpoch = 0;
    try {
      this.claimedEpoch = await this.takeNextEpoch();
      const becameLeader = new Promise<void>((resolve, reject) =>
        this.leaderWaiters.push({ resolve, reject }),
      );
      // A stop (or a newer leader) may refuse the claim while the announcement is still being
      // appended: that refusal is this call's to report, not an unhandled rejection that ends the
      // process.
      becameLeader.catch(() => undefined);
      await this.append(
        [
          {
            $case: "announceLeader",
            value: { epoch: this.claimedEpoch, node: this.deps.nodeName },
          },
        ],
        0,
      );
      await becameLeader;
    } catch (error) {
      // A claim that failed leaves a follower, which may claim again.
      if (this.role === "candidate") this.role = "follower";
      throw error;
    }
  }

  /** Bumps the partition's epoch in the metadata store (compare-and-swap); returns the one taken. */
  private async takeNextEpoch(): Promise<number> {
    const key = epochKey(this.partitionId);
    for (;;) {
      const current = await getJson<{ epoch: number; node: string }>(this.deps.metadata, key);
      const epoch = Math.max(current?.value.epoch ?? 0, this.machine.leaderEpoch) + 1;
      try {
        await putJson(
          this.deps.metadata,
          key,
          { epoch, node: this.deps.nodeName },
          current === undefined ? MUST_NOT_EXIST : matchesVersion(current.version),
        );
        return epoch;
      } catch (error) {
        if (!(error instanceof KeelError && error.code === "conflict")) throw error;
      }
    }
  }

  async stop(): Promise<void> {
    if (this.role === "stopped") return;
    const wasLeader = this.role === "leader";
    this.role = "stopped";
    this.wakeIdleLoop?.();
    if (wasLeader) this.stepDownEffects();
    await this.loop;
    for (const waiter of this.leaderWaiters)
      waiter.reject(new KeelError("unavailable", "partition processor stopped", true));
    this.leaderWaiters = [];
  }

  // ---- proposals ----

  propose(
    commands: EnvelopeCommand[],
    options: { requestId?: number; dedup?: Dedup[] } = {},
  ): Promise<Lsn> {
    if (this.role !== "leader") {
      return Promise.reject(
        new KeelError("not_leader", `partition ${this.partitionId} is not led by this node`, true),
      );
    }
    return this.append(commands, this.claimedEpoch, options);
  }

  private append(
    commands: EnvelopeCommand[],
    epoch: number,
    options: { requestId?: number; dedup?: Dedup[] } = {},
  ): Promise<Lsn> {
    const now = this.deps.clock.nowMs();
    const payloads = commands.map((command, i) =>
      encodeMessage(Envelope, {
        timestampMs: now,
        leaderEpoch: epoch,
        dedup: options.dedup?.[i],
        requestId: options.requestId ?? 0,
        command,
      }),
    );
    const metrics = this.deps.metrics;
    // Unobserved, the append resolves as it always did (no extra turn for the simulator to order).
    if (metrics === undefined) return this.deps.log.append(payloads);
    const started = metrics.startTimer();
    const startedMs = this.deps.clock.nowMs();
    let bytes = 0;
    for (const payload of payloads) bytes += payload.length;
    return this.deps.log.append(payloads).then(
      (lsn) => {
        metrics.log.appendCommitted(payloads.length, bytes, started);
        this.noteAppendLatency(this.deps.clock.nowMs() - startedMs);
        return lsn;
      },
      (error: unknown) => {
        metrics.log.appendFailed();
        throw error;
      },
    );
  }

  /** Proposes a command whose application answers with an outcome. */
  request(
    command: EnvelopeCommand,
    awaitResult = false,
  ): Promise<{ outcome: Outcome; completion?: Promise<AttachResult> }> {
    return this.waiters.request(
      awaitResult,
      (requestId) => this.propose([command], { requestId }),
      () => this.appliedLsn,
    );
  }

  /** Submits a new invocation; with `awaitResult` the completion promise answers once it completes. */
  submit(
    invocation: ServiceInvocation,
    awaitResult: boolean,
  ): Promise<{ outcome: Outcome; completion?: Promise<AttachResult> }> {
    return this.request({ $case: "invoke", value: invocation }, awaitResult);
  }

  /** Appends messages shuffled from another partition, with their dedup tags, in order. */
  /**
   * Takes messages from another partition's outbox. Resolves only once they are applied here: the
   * source then forgets them (truncates its outbox), so an append that a newer leader's epoch fences
   * off must fail, for the source to deliver again (the dedup tags make that harmless).
   */
  async acceptShuffled(
    source: PartitionId,
    messages: { seq: number; message: OutboxMessage }[],
  ): Promise<void> {
    const commands = messages.map(({ message }) => message.command as EnvelopeCommand);
    await this.proposeApplied(commands, {
      dedup: messages.map(({ seq }) => ({ sourcePartition: source, seq, producer: "" })),
    });
  }

  /**
   * Proposes and resolves once the records are applied under this leadership; rejects (retryable
   * `not_leader`) when a newer leader's epoch may have fenced them off. For senders that forget what
   * they sent once it is accepted, and may send it again (the records must be idempotent).
   */
  async proposeApplied(
    commands: EnvelopeCommand[],
    options: { dedup?: Dedup[] } = {},
  ): Promise<void> {
    const epoch = this.claimedEpoch;
    const lsn = await this.propose(commands, options);
    await this.waitForApplied(lsn);
    // The leader epoch only grows: unchanged now, it was unchanged when the records were applied.
    if (this.machine.leaderEpoch !== epoch) {
      throw new KeelError(
        "not_leader",
        `partition ${this.partitionId} changed leader before the records were applied`,
        true,
      );
    }
  }

  /** Waits for (block) or reads (no block) the result of an invocation of this partition. */
  attach(id: InvocationId, block: boolean): Promise<AttachResult> {
    if (this.role !== "leader") {
      return Promise.reject(
        new KeelError("not_leader", `partition ${this.partitionId} is not led by this node`, true),
      );
    }
    const status = new TableReader(this.reader()).status(id);
    if (status === undefined) return this.attachUnknown(id, block);
    if (
      status.phase === InvocationPhase.INVOCATION_PHASE_COMPLETED &&
      status.result !== undefined
    ) {
      const retainedUntilMs =
        status.completionRetentionMs > 0 ? status.completedAtMs + status.completionRetentionMs : 0;
      return Promise.resolve({
        kind: "completed",
        result: status.result,
        target: status.target,
        retainedUntilMs,
      });
    }
    if (!block) return Promise.resolve({ kind: "notReady" });
    return this.waiters.completion(id);
  }

  /**
   * This node's store does not know the invocation, but a leader that another node has deposed may
   * not have applied the records its successor appended yet (the invocation's among them): it
   * answers "not found" only once a barrier it proposed is applied under its own epoch, after every
   * record acknowledged before. Otherwise the newer leader is asked (the error is retryable).
   */
  private async attachUnknown(id: InvocationId, block: boolean): Promise<AttachResult> {
    await this.proposeApplied([{ $case: "leadershipBarrier", value: {} }]);
    if (new TableReader(this.reader()).status(id) === undefined) return { kind: "notFound" };
    return this.attach(id, block);
  }

  waitForApplied(lsn: Lsn): Promise<void> {
    return this.waiters.forApplied(lsn, this.appliedLsn);
  }

  // ---- the apply loop ----

  private async applyLoop(): Promise<void> {
    let emptyReads = 0;
    while (this.role !== "stopped") {
      const from = this.machine.appliedLsn + 1;
      let entries: Awaited<ReturnType<VirtualLog["read"]>>;
      try {
        entries = await this.deps.log.read(Lsn(from), limits.applyBatchRecordsMax);
      } catch (error) {
        // A replicated log that cannot be read for a moment (its log servers unreachable while a
        // node fails over) is read again later; anything else stops the node.
        if (!(error instanceof KeelError && error.retryable)) throw error;
        entries = [];
      }
      if (entries.length === 0) {
        emptyReads++;
        // Not a race with a promise of the processor's lifetime: every race would leave a reaction
        // on it, one per idle wait, never collected while the processor runs.
        await new Promise<void>((resolve, reject) => {
          // A stop that came while the loop was reading found no wait to wake.
          if (this.role === "stopped") return resolve();
          this.wakeIdleLoop = resolve;
          this.deps.log.waitForTail(Lsn(from)).then(
            () => resolve(),
            (error: unknown) =>
              error instanceof KeelError && error.retryable
                ? resolve()
                : reject(error instanceof Error ? error : new Error(String(error))),
          );
        });
        // The tail is past what can be read now (a replicated log whose copies are on log servers
        // this node cannot reach): wait before reading again rather than spin.
        if (emptyReads > 1)
          await new Promise<void>((resolve) => {
            if (this.role === "stopped") return resolve();
            this.wakeIdleLoop = resolve;
            this.deps.clock.setTimer(
              Math.min(UNREADABLE_TAIL_WAIT_MS_MAX, 2 ** Math.min(emptyReads, 8)),
              resolve,
            );
          });
        this.wakeIdleLoop = undefined;
        continue;
      }
      emptyReads = 0;
      const batch = this.deps.store.beginBatch();
      const actions: Action[] = [];
      for (const entry of entries) {
        if (entry.kind === "trimGap") {
          throw new KeelError(
            "storage",
            `partition ${this.partitionId}: log trimmed at ${entry.from}..${entry.to} before it was applied (needs a snapshot)`,
          );
        }
        this.machine.apply(batch, entry.lsn, entry.payload, actions);
      }
      this.deps.store.commit(batch);
      this.handleActions(actions);
      this.waiters.wakeApplied(this.appliedLsn);
      this.waiters.expireUnanswered(this.appliedLsn);
    }
  }

  private handleActions(actions: Action[]): void {
    for (let i = 0; i < actions.length; i++) {
      const action = actions[i]!;
      if (action.kind === "leadership") {
        if (
          action.epoch === this.claimedEpoch &&
          action.node === this.deps.nodeName &&
          this.role === "candidate"
        ) {
          this.becomeLeader();
          // Everything the remaining actions of this batch ask for was just re-derived from the store.
          for (const rest of actions.slice(i + 1))
            if (rest.kind === "leadership") this.handleActions([rest]);
          return;
        }
        const keepsLeading =
          this.role === "leader" &&
          this.deps.testOnlyFaults?.keepsLeadingAfterNewerAnnouncement === true;
        // A candidate that has not taken its epoch yet, or took a newer one, still claims: the
        // announcement is an older leader's, which a lagging replica applies only now.
        const outclaimed =
          this.role === "candidate" && this.claimedEpoch !== 0 && action.epoch > this.claimedEpoch;
        if ((this.role === "leader" && !keepsLeading) || outclaimed) this.stepDown(action.epoch);
        continue;
      }
      if (this.role !== "leader") continue;
      try {
        this.execute(action);
      } catch (error) {
        this.deps.logger.error("action failed", {
          partition: this.partitionId,
          action: action.kind,
          error: describeError(error),
        });
      }
    }
  }

  private execute(action: Exclude<Action, { kind: "leadership" }>): void {
    switch (action.kind) {
      case "invoke":
        return this.deps.invoker.invoke(
          this,
          action.invocationId,
          action.awaited ? "awaited" : "background",
        );
      case "notify":
        return this.deps.invoker.notify(
          action.invocationId,
          action.entryIndex,
          action.messageType,
          action.raw,
        );
      case "abort":
        return this.deps.invoker.abort(action.invocationId);
      case "retryNow":
        return this.deps.invoker.retryNow(action.invocationId);
      case "registerTimer":
        return this.timers.add(action.key, action.wakeAtMs);
      case "outbox":
        return this.shuffle.enqueue(action.seq, action.destination, action.message);
      case "completed":
        this.observeCompletion(action.invocationId, action.result);
        // Requests that waited for the completion get no `idempotency-expires`, as in Restate: the
        // header only tells a later request that found the result retained.
        return this.waiters.completed(action.invocationId, {
          kind: "completed",
          result: action.result,
          target: action.target,
          retainedUntilMs: 0,
        });
      case "outcome":
        return this.waiters.answer(action.requestId, action.outcome);
    }
  }

  /** Counts a completion the leader applied, and ends its trace. */
  private observeCompletion(id: InvocationId, result: Result): void {
    const outcome = result.kind?.$case === "failure" ? "failed" : "succeeded";
    (this.deps.metrics ?? NO_METRICS).partitions.invocationCompleted(outcome);
    const tracing = this.deps.tracing ?? NO_TRACING;
    if (tracing !== NO_TRACING) tracing.invocationCompleted(id.toString(), outcome);
  }

  private becomeLeader(): void {
    this.role = "leader";
    (this.deps.metrics ?? NO_METRICS).partitions.leadershipGained(this.partitionId);
    this.deps.logger.debug("partition leader", {
      partition: this.partitionId,
      epoch: this.claimedEpoch,
    });
    for (const [key] of this.reader().scan(ACTIVE_PREFIX)) {
      const id = invocationIdAfter(ACTIVE_PREFIX, key);
      assert(id !== undefined, `active index key ${key} holds an invocation id`);
      this.deps.invoker.invoke(this, id, "takeover");
    }
    this.timers.start();
    this.shuffle.start();
    for (const waiter of this.leaderWaiters) waiter.resolve();
    this.leaderWaiters = [];
  }

  private stepDown(epoch: number): void {
    this.deps.logger.info("partition leadership lost", { partition: this.partitionId, epoch });
    this.role = "follower";
    (this.deps.metrics ?? NO_METRICS).partitions.leadershipLost(this.partitionId);
    this.stepDownEffects();
    for (const waiter of this.leaderWaiters)
      waiter.reject(new KeelError("not_leader", "another node took the leadership", true));
    this.leaderWaiters = [];
  }

  private stepDownEffects(): void {
    this.deps.invoker.stopPartition(this.partitionId);
    this.timers.stop();
    this.shuffle.stop();
    this.waiters.leadershipLost();
  }

  private async fireTimers(keys: string[]): Promise<void> {
    await this.propose(
      keys.map((timerKey) => ({ $case: "timerFired" as const, value: { timerKey } })),
    );
  }
}

/** The partition key a shuffled message is addressed to. */
export function destinationKey(message: OutboxMessage): PartitionKey {
  const command = message.command;
  assert(command !== undefined, "an outbox message has a command");
  switch (command.$case) {
    case "invoke":
      return InvocationId.fromBytes(command.value.invocationId).partitionKey;
    case "invocationResponse":
      return InvocationId.fromBytes(command.value.sink!.invocationId).partitionKey;
    case "notifySignal":
    case "terminate":
    case "attach":
      return InvocationId.fromBytes(command.value.invocationId).partitionKey;
  }
}
