/**
 * The `loglet` simulation component: a seeded run of a whole replicated-loglet cluster with faults,
 * ending in checks. `npm run sim -- --component loglet --seeds N [--seed S]`.
 *
 * One run:
 * 1. Pick a cluster from the seed: 3–5 log servers, `{node: 2}`, `{node: 3}` or `{zone: 2}` over
 *    three zones; network delays, drops and duplicates; disk sync latency.
 * 2. Fault phase: clients append small batches through random nodes to the tail segment of one log;
 *    readers follow the log through random nodes; a trimmer trims old offsets; the nemesis crashes
 *    and restarts nodes (unsynced writes are lost) and partitions the network; a controller plays
 *    Bifrost: when the tail segment's sequencer incarnation is gone (and sometimes for no reason,
 *    racing in-flight appends) it seals the segment through some node and appends a new segment,
 *    starting at the sealed tail, with a live sequencer and a fresh nodeset avoiding nodes that
 *    recently failed.
 * 3. Heal everything; require progress (an append commits); seal the tail segment.
 * 4. Verify with r − 1 log servers down: every acknowledged record, and every record below a sealed
 *    tail, is read back; then, from what each disk kept after a final crash of every node, every such
 *    record still has copies on a write quorum.
 *
 * Checkers (any violation fails the seed, which then replays exactly):
 * - acknowledged ⇒ durable and readable (the two checks of step 4);
 * - no two reads ever return different payloads at one offset, nor differ from what was acknowledged;
 * - reads never return an offset at or past the committed tail (the highest known global tail any
 *   sequencer reached, or the sealed tail);
 * - every node that learns a sealed tail learns the same one (no fork across a seal), every
 *   acknowledged batch lies wholly below it and no sealed tail splits an acknowledged batch;
 * - trim gaps never cover offsets that were not asked to be trimmed;
 * - no assertion fails anywhere and no protocol anomaly is reported.
 *
 * Why one file of this length: one seed's story (setup, workload, nemesis, controller, settle,
 * checks) reads top to bottom; the cluster and the checkers it needs are in files of their own.
 */

import {
  AssertionFailure,
  describeError,
  type NodeId,
  seededPrng,
  type Prng,
} from "../core/index.js";
import {
  checkLogletLimits,
  DEFAULT_LOGLET_LIMITS,
  type ReplicatedLogletLimits,
  selectNodeset,
  copiesOf,
  formatReplication,
  isWriteQuorum,
  parseReplication,
  shuffled,
  type ReplicationProperty,
  logletIdOf,
  type LogletId,
  type LogletParams,
} from "../bifrost/index.js";
import { SIM_COMPONENTS, type SimRunResult } from "./components.js";
import { LogletCluster, type SimNode } from "./loglet_cluster.js";
import { SimLogStore, simPayload, simText } from "./ports.js";

export interface LogletSimOptions {
  readonly verbose?: boolean;
  /**
   * TEST ONLY: run a deliberately broken sequencer that acknowledges a batch after a single store.
   * The simulator must catch it (see test/sim/loglet_sim.test.ts).
   */
  readonly brokenAckAfterOneStore?: boolean;
  /** Virtual milliseconds of faults before healing. */
  readonly faultPhaseMs?: number;
}

const LOG_ID = 7;
const CLIENTS = 4;
const READERS = 2;
const OPERATION_WATCHDOG_MS = 3_000;
const SETTLE_LIMIT_MS = 30_000;

interface Segment {
  readonly index: number;
  /** LSN of offset 1. */
  readonly base: number;
  readonly params: LogletParams;
}

interface Config {
  readonly nodes: number;
  readonly limits: ReplicatedLogletLimits;
  readonly syncMaxMs: number;
  readonly locations: readonly string[] | undefined;
  readonly replication: ReplicationProperty;
  readonly drop: number;
  readonly duplicate: number;
  readonly delayMaxMs: number;
}

/** Timeouts short enough to fail over within a run; window and batch sizes from tiny to default. */
function pickLimits(prng: Prng): ReplicatedLogletLimits {
  const storeTimeoutTicks = [10, 30, 60][prng.nextInt(3)]!;
  const inflightRecordsMax = [8, 64, 4096][prng.nextInt(3)]!;
  return checkLogletLimits({
    ...DEFAULT_LOGLET_LIMITS,
    storeTimeoutTicks,
    requestTimeoutTicks: 30,
    graylistTicks: 100,
    remoteAppendTimeoutTicks: 100,
    coordinatorBackoffTicksMax: 10,
    inflightRecordsMax,
    batchRecordsMax: Math.min(inflightRecordsMax, [1, 4, 1024][prng.nextInt(3)]!),
    queuedAppendsMax: [4, 10_000][prng.nextInt(2)]!,
  });
}

function pickConfig(prng: Prng): Config {
  const nodes = 3 + prng.nextInt(3);
  let locations: string[] | undefined;
  let replication = parseReplication({ node: 2 });
  const shape = prng.nextInt(4);
  if (shape === 0) {
    locations = Array.from({ length: nodes }, (_, i) => `r1.z${(i % 3) + 1}`);
    replication = parseReplication({ zone: 2 });
  } else if (shape === 1 && nodes >= 5) {
    replication = parseReplication({ node: 3 });
  }
  const lossy = prng.chance(0.7);
  return {
    nodes,
    limits: pickLimits(prng),
    syncMaxMs: [1, 3, 20][prng.nextInt(3)]!,
    locations,
    replication,
    drop: lossy ? prng.nextFloat() * 0.05 : 0,
    duplicate: lossy ? prng.nextFloat() * 0.05 : 0,
    delayMaxMs: 1 + prng.nextInt(15),
  };
}

class LogletSimulation {
  readonly violations: string[] = [];
  private readonly config: Config;
  private readonly cluster: LogletCluster;
  private readonly prng: Prng;
  private readonly chain: Segment[] = [];
  /** Acknowledged payload per (segment, offset). */
  private readonly acked = new Map<number, Map<number, string>>();
  private readonly ackedBatches: { segment: number; first: number; end: number }[] = [];
  /** Payload read per (segment, offset). */
  private readonly observed = new Map<number, Map<number, string>>();
  private readonly committed = new Map<LogletId, number>();
  private readonly decided = new Map<LogletId, number>();
  private readonly trimRequested = new Map<number, number>();
  private readonly recentlyFailed = new Map<NodeId, number>();
  private faultPhase = true;
  private workloadRunning = true;
  /** Off once the final checks begin: the chain must stay as it is while it is verified. */
  private reconfigurationAllowed = true;
  private reconfiguring: { since: number } | undefined;
  private readonly stats = { appends: 0, acks: 0, reads: 0, crashes: 0, partitions: 0, seals: 0 };

  constructor(
    readonly seed: number,
    private readonly options: LogletSimOptions,
  ) {
    this.config = pickConfig(seededPrng(seed ^ 0x10991e7));
    const { config } = this;
    this.cluster = new LogletCluster(seed, {
      nodes: config.nodes,
      ...(config.locations === undefined ? {} : { locations: config.locations }),
      faults: {
        dropProbability: config.drop,
        duplicateProbability: config.duplicate,
        delayMinMs: 1,
        delayMaxMs: config.delayMaxMs,
      },
      disk: { syncMinMs: 0, syncMaxMs: config.syncMaxMs, readMaxMs: 2 },
      limits: config.limits,
      ...(options.brokenAckAfterOneStore === true
        ? { sequencerOptions: { unsafeCommitAfterStores: 1 } }
        : {}),
      observer: (node) => ({
        onCommitted: (id, tail) => {
          this.committed.set(id, Math.max(this.committed.get(id) ?? 1, tail));
        },
        onDecided: (id, tail) => this.onDecided(node, id, tail),
        onAnomaly: (description) => this.violation(`anomaly on node ${node}: ${description}`),
        onStoreFailure: (error) => this.violation(`store failure: ${error.message}`),
      }),
    });
    this.prng = this.cluster.scheduler.prng;
  }

  private get now(): number {
    return this.cluster.scheduler.now;
  }

  /** Events of the run, kept only with --verbose and printed after it. */
  private readonly events: string[] = [];

  private trace(text: string): void {
    if (this.options.verbose === true) this.events.push(`t=${this.now}ms ${text}`);
  }

  private violation(text: string): void {
    if (this.violations.length < 50) this.violations.push(`t=${this.now}ms ${text}`);
  }

  private get replication(): ReplicationProperty {
    return this.config.replication;
  }

  private tail(): Segment {
    return this.chain[this.chain.length - 1]!;
  }

  private randomAlive(): SimNode | undefined {
    const alive = this.cluster.alive();
    return alive.length === 0 ? undefined : alive[this.prng.nextInt(alive.length)];
  }

  private after(ms: number, run: () => void): void {
    this.cluster.scheduler.schedule(ms, run);
  }

  // ---- the run ----

  run(): SimRunResult {
    try {
      this.addSegment(0, 1);
      for (let c = 0; c < CLIENTS; c++) this.client(c, 0);
      for (let r = 0; r < READERS; r++) this.reader({ segment: 0, offset: 1 });
      this.nemesis();
      this.controller();
      this.trimmer();
      const faultPhaseMs = this.options.faultPhaseMs ?? 3_000 + this.prng.nextInt(3_000);
      this.cluster.runFor(faultPhaseMs);
      this.heal();
      this.cluster.runFor(1_000);
      this.workloadRunning = false;
      this.requireProgress();
      this.sealTail();
      this.verifyReadable();
      this.verifyDurable();
    } catch (error) {
      const kind = error instanceof AssertionFailure ? "assertion failed" : "crash";
      this.violation(`${kind}: ${describeError(error)}`);
    }
    for (const line of this.events) console.log(`  | ${line}`);
    return {
      seed: this.seed,
      violations: this.violations,
      summary:
        `nodes=${this.config.nodes} ${formatReplication(this.replication)} drop=${this.config.drop.toFixed(3)}` +
        ` segments=${this.chain.length} appends=${this.stats.appends} acked=${this.stats.acks}` +
        ` reads=${this.stats.reads} crashes=${this.stats.crashes} partitions=${this.stats.partitions}` +
        ` seals=${this.stats.seals} virtual=${this.now}ms`,
    };
  }

  private addSegment(index: number, base: number): void {
    const sequencer = this.randomAlive();
    if (sequencer === undefined) return;
    const avoid = new Set(
      [...this.recentlyFailed].filter(([, at]) => this.now - at < 2_000).map(([n]) => n),
    );
    const nodeset = selectNodeset(
      {
        candidates: this.cluster.ids,
        property: this.replication,
        topology: this.cluster.topology,
        targetSize: 0,
        avoid,
      },
      this.prng,
    );
    if (!nodeset.ok) return this.violation(`nodeset selection failed: ${nodeset.reason}`);
    const params: LogletParams = {
      logletId: logletIdOf(LOG_ID, index),
      sequencer: this.cluster.incarnation(sequencer.id),
      nodeset: nodeset.nodeset,
      replication: this.replication,
    };
    this.chain.push({ index, base, params });
    this.trace(
      `segment ${index} at LSN ${base}: sequencer N${params.sequencer.node}:${params.sequencer.generation} nodeset [${params.nodeset.join(",")}]`,
    );
    this.cluster.open(params);
  }

  private onDecided(node: NodeId, id: LogletId, tail: number): void {
    const earlier = this.decided.get(id);
    if (earlier !== undefined && earlier !== tail) {
      this.violation(`fork: loglet ${id} sealed at ${earlier} and, on node ${node}, at ${tail}`);
    }
    if (earlier === undefined) this.trace(`${id} sealed at ${tail} (learned by node ${node})`);
    this.decided.set(id, tail);
    const segment = this.chain.find((s) => s.params.logletId === id);
    if (segment === undefined) return;
    for (const batch of this.ackedBatches) {
      if (batch.segment !== segment.index) continue;
      if (batch.end > tail) {
        this.violation(
          `${id}: acknowledged batch [${batch.first}, ${batch.end}) beyond sealed tail ${tail}`,
        );
      }
    }
  }

  // ---- workload ----

  /** One client: appends 1–4 batches at once (pipelined) through one node, waits, repeats. */
  private client(c: number, sequence: number): void {
    if (!this.workloadRunning) return;
    const node = this.randomAlive();
    if (node === undefined) return this.after(20, () => this.client(c, sequence));
    const segment = this.tail();
    const batches = 1 + this.prng.nextInt(4);
    let outstanding = batches;
    let finished = false;
    const next = (): void => {
      if (finished) return;
      finished = true;
      this.after(this.prng.nextInt(10), () => this.client(c, sequence + batches));
    };
    for (let b = 0; b < batches; b++) {
      const count = 1 + this.prng.nextInt(3);
      const texts = Array.from({ length: count }, (_, i) => `c${c}.${sequence + b}.${i}`);
      this.stats.appends++;
      node.loglet.append(segment.params.logletId, texts.map(simPayload), (result) => {
        this.trace(
          `append ${texts.join(" ")} via node ${node.id} to ${segment.params.logletId}: ${result.ok ? `ok, last ${result.value}` : result.error.message}`,
        );
        if (result.ok) this.onAcked(segment, result.value, texts);
        if (--outstanding === 0) next();
      });
    }
    // A node that crashes never answers: give up on the operations, not on the client.
    this.after(OPERATION_WATCHDOG_MS, next);
  }

  private onAcked(segment: Segment, last: number, texts: string[]): void {
    this.stats.acks++;
    const first = last - texts.length + 1;
    const acked = this.acked.get(segment.index) ?? new Map<number, string>();
    this.acked.set(segment.index, acked);
    texts.forEach((text, i) => {
      const offset = first + i;
      const before = acked.get(offset);
      if (before !== undefined) {
        this.violation(
          `segment ${segment.index} offset ${offset} acknowledged twice: ${before}, ${text}`,
        );
      }
      acked.set(offset, text);
      this.observe(segment, offset, text, "acknowledged");
    });
    this.ackedBatches.push({ segment: segment.index, first, end: last + 1 });
    const decided = this.decided.get(segment.params.logletId);
    if (decided !== undefined && last + 1 > decided) {
      this.violation(
        `${segment.params.logletId}: acknowledged [${first}, ${last + 1}) past sealed tail ${decided}`,
      );
    }
  }

  /** Records a payload seen at an offset; any disagreement is a violation. */
  private observe(segment: Segment, offset: number, text: string, how: string): void {
    const seen = this.observed.get(segment.index) ?? new Map<number, string>();
    this.observed.set(segment.index, seen);
    const before = seen.get(offset);
    if (before !== undefined && before !== text) {
      this.violation(
        `segment ${segment.index} offset ${offset}: ${how} '${text}' but saw '${before}'`,
      );
    }
    seen.set(offset, text);
  }

  private checkRead(segment: Segment, offset: number, text: string): void {
    const id = segment.params.logletId;
    const bound = Math.max(this.committed.get(id) ?? 1, this.decided.get(id) ?? 1);
    if (offset >= bound) {
      this.violation(`${id}: read offset ${offset} at or past the committed tail ${bound}`);
    }
    const acked = this.acked.get(segment.index)?.get(offset);
    if (acked !== undefined && acked !== text) {
      this.violation(`${id}: offset ${offset} read '${text}', acknowledged '${acked}'`);
    }
    this.observe(segment, offset, text, "read");
  }

  private reader(cursor: { segment: number; offset: number }): void {
    if (!this.workloadRunning) return;
    const segment = this.chain[cursor.segment]!;
    const sealedTail = this.decided.get(segment.params.logletId);
    if (
      sealedTail !== undefined &&
      cursor.offset >= sealedTail &&
      this.chain.length > cursor.segment + 1
    ) {
      return this.reader({ segment: cursor.segment + 1, offset: 1 });
    }
    const node = this.randomAlive();
    if (node === undefined) return this.after(20, () => this.reader(cursor));
    let finished = false;
    const next = (delay: number, to: { segment: number; offset: number }): void => {
      if (finished) return;
      finished = true;
      this.after(delay, () => this.reader(to));
    };
    node.loglet.read(segment.params.logletId, cursor.offset as never, 10, (result) => {
      if (!result.ok || result.value.length === 0) return next(10, cursor);
      let offset = cursor.offset;
      for (const entry of result.value) {
        if (entry.kind === "record") {
          this.stats.reads++;
          this.checkRead(segment, entry.offset, simText(entry.payload));
          offset = entry.offset + 1;
        } else {
          const asked = this.trimRequested.get(segment.index) ?? 0;
          if (entry.to > asked) {
            this.violation(
              `${segment.params.logletId}: trim gap to ${entry.to} but trim asked through ${asked}`,
            );
          }
          offset = entry.to + 1;
        }
      }
      next(0, { segment: cursor.segment, offset });
    });
    this.after(OPERATION_WATCHDOG_MS, () => next(0, cursor));
  }

  private trimmer(): void {
    if (!this.workloadRunning) return;
    this.after(300 + this.prng.nextInt(1_000), () => {
      if (!this.workloadRunning) return;
      const segment = this.chain[this.prng.nextInt(this.chain.length)]!;
      const acked = [...(this.acked.get(segment.index)?.keys() ?? [])];
      const node = this.randomAlive();
      if (acked.length > 4 && node !== undefined && this.prng.chance(0.5)) {
        const through = Math.max(...acked) >> 1;
        this.trimRequested.set(
          segment.index,
          Math.max(this.trimRequested.get(segment.index) ?? 0, through),
        );
        this.trace(`trim ${segment.params.logletId} through ${through} via node ${node.id}`);
        node.loglet.trim(segment.params.logletId, through, () => undefined);
      }
      this.trimmer();
    });
  }

  // ---- faults and reconfiguration ----

  private nemesis(): void {
    if (!this.faultPhase) return;
    this.after(100 + this.prng.nextInt(500), () => {
      if (!this.faultPhase) return;
      const roll = this.prng.nextFloat();
      const alive = this.cluster.alive();
      if (roll < 0.35 && alive.length > 1) {
        const victim = alive[this.prng.nextInt(alive.length)]!;
        this.crash(victim.id);
        this.after(100 + this.prng.nextInt(1_500), () => {
          this.trace(`restart node ${victim.id}`);
          this.cluster.restart(victim.id);
        });
      } else if (roll < 0.6) {
        const order = shuffled(this.cluster.ids, this.prng);
        const cut = 1 + this.prng.nextInt(order.length - 1);
        this.cluster.network.partition(order.slice(0, cut), order.slice(cut));
        this.stats.partitions++;
        this.trace(
          `partition [${order.slice(0, cut).join(",")}] | [${order.slice(cut).join(",")}]`,
        );
        this.after(100 + this.prng.nextInt(1_000), () => {
          this.trace("heal");
          this.cluster.network.heal();
        });
      } else if (roll < 0.7) {
        this.trace("heal");
        this.cluster.network.heal();
      } else if (roll < 0.8) {
        this.trace("restart every crashed node");
        for (const id of this.cluster.ids) this.cluster.restart(id);
      }
      this.nemesis();
    });
  }

  private crash(id: NodeId): void {
    this.stats.crashes++;
    this.trace(`crash node ${id}`);
    this.recentlyFailed.set(id, this.now);
    this.cluster.crash(id);
  }

  private controller(): void {
    this.after(100, () => {
      const tail = this.tail();
      const sequencer = this.cluster.node(tail.params.sequencer.node);
      const gone = !sequencer.alive || sequencer.generation !== tail.params.sequencer.generation;
      // A sealed tail segment that nobody extended (its sealer died): Bifrost's appenders extend it.
      const stuck = this.decided.has(tail.params.logletId);
      const busy = this.reconfiguring !== undefined && this.now - this.reconfiguring.since < 3_000;
      const whim = this.faultPhase && this.prng.chance(0.03);
      if (!busy && (gone || stuck || whim)) this.reconfigure(tail);
      if (this.reconfigurationAllowed) this.controller();
    });
  }

  /** Bifrost's seal-and-extend: seal the tail segment, then start a new one at its sealed tail. */
  private reconfigure(tail: Segment): void {
    const via = this.randomAlive();
    if (via === undefined) return;
    this.reconfiguring = { since: this.now };
    this.stats.seals++;
    this.trace(`seal ${tail.params.logletId} through node ${via.id}`);
    via.loglet.seal(tail.params.logletId, (result) => {
      if (this.reconfiguring !== undefined) this.reconfiguring = undefined;
      if (!result.ok || this.tail() !== tail || !this.reconfigurationAllowed) return;
      this.addSegment(tail.index + 1, tail.base + result.value.offset - 1);
    });
  }

  private heal(): void {
    this.trace("heal everything, restart every node");
    this.faultPhase = false;
    this.cluster.network.heal();
    this.cluster.network.faults = {
      ...this.cluster.network.faults,
      dropProbability: 0,
      duplicateProbability: 0,
    };
    for (const id of this.cluster.ids) this.cluster.restart(id);
  }

  // ---- final checks ----

  private requireProgress(): void {
    let committed = false;
    const attempt = (): void => {
      if (committed) return;
      const node = this.randomAlive();
      if (node !== undefined) {
        node.loglet.append(this.tail().params.logletId, [simPayload("final")], (r) => {
          if (r.ok) committed = true;
        });
      }
      this.after(500, attempt);
    };
    attempt();
    const progressed = this.cluster.scheduler.runUntil(() => committed, {
      untilMs: this.now + SETTLE_LIMIT_MS,
    });
    if (!progressed) this.violation("no append committed within 30 s after healing (stalled)");
  }

  private sealTail(): void {
    this.reconfigurationAllowed = false;
    const tail = this.tail();
    let sealed = false;
    const node = this.randomAlive()!;
    node.loglet.seal(tail.params.logletId, (r) => (sealed = r.ok));
    if (!this.cluster.scheduler.runUntil(() => sealed, { untilMs: this.now + SETTLE_LIMIT_MS })) {
      this.violation(`sealing the tail segment ${tail.index} did not finish within 30 s`);
    }
  }

  /** The offsets that must still exist: above the trim point, below the sealed tail. */
  private expectedRange(segment: Segment): { from: number; end: number } | undefined {
    const end = this.decided.get(segment.params.logletId);
    if (end === undefined) return undefined;
    return { from: (this.trimRequested.get(segment.index) ?? 0) + 1, end };
  }

  private verifyReadable(): void {
    const down = shuffled(this.cluster.ids, this.prng).slice(0, copiesOf(this.replication) - 1);
    for (const id of down) this.cluster.crash(id);
    const reader = this.randomAlive()!;
    for (const segment of this.chain) {
      const range = this.expectedRange(segment);
      if (range === undefined) {
        this.violation(`segment ${segment.index} has no sealed tail after the final seal`);
        continue;
      }
      let offset = range.from;
      let failures = 0;
      while (offset < range.end && failures < 20) {
        let result: { ok: boolean; texts: [number, string][]; gapTo?: number } | undefined;
        reader.loglet.read(segment.params.logletId, offset as never, 100, (r) => {
          if (!r.ok) {
            this.trace(`verification read at ${offset} via node ${reader.id}: ${r.error.message}`);
            result = { ok: false, texts: [] };
            return;
          }
          if (r.value.length === 0) {
            this.trace(`verification read at ${offset} via node ${reader.id}: nothing`);
          }
          const texts: [number, string][] = [];
          let gapTo: number | undefined;
          for (const e of r.value) {
            if (e.kind === "record") texts.push([e.offset, simText(e.payload)]);
            else gapTo = e.to;
          }
          result = { ok: true, texts, ...(gapTo === undefined ? {} : { gapTo }) };
        });
        this.cluster.scheduler.runUntil(() => result !== undefined, {
          untilMs: this.now + SETTLE_LIMIT_MS,
        });
        if (
          result === undefined ||
          !result.ok ||
          (result.texts.length === 0 && result.gapTo === undefined)
        ) {
          failures++;
          this.cluster.runFor(100); // let retries, seals and repairs make progress
          continue;
        }
        if (result.gapTo !== undefined) {
          this.violation(
            `${segment.params.logletId}: read at ${offset} got a trim gap through ${result.gapTo}, above the trim point ${range.from - 1}`,
          );
          offset = result.gapTo + 1;
          continue;
        }
        for (const [at, text] of result.texts) {
          this.checkRead(segment, at, text);
          offset = at + 1;
        }
      }
      if (offset < range.end) {
        for (const node of this.cluster.alive()) {
          const state = node.logServer.inspect().inspect(segment.params.logletId);
          this.trace(
            `node ${node.id} holds ${JSON.stringify(state?.held)} durable tail ${state?.durableTail} trim ${state?.meta.trimPoint}`,
          );
        }
        const acked = this.acked.get(segment.index)?.has(offset) === true ? "acknowledged " : "";
        this.violation(
          `${segment.params.logletId}: ${acked}offset ${offset} unreadable with nodes ${down.join(",")} down`,
        );
      }
    }
  }

  private verifyDurable(): void {
    for (const id of this.cluster.ids) this.cluster.crash(id);
    const holders = new Map<LogletId, Map<number, NodeId[]>>();
    for (const node of this.cluster.nodes.values()) {
      const { recovered } = SimLogStore.open(node.disk, this.cluster.scheduler, {
        syncMinMs: 0,
        syncMaxMs: 0,
        readMaxMs: 0,
      });
      for (const [id, loglet] of recovered) {
        const byOffset = holders.get(id) ?? new Map<number, NodeId[]>();
        holders.set(id, byOffset);
        for (const batch of loglet.batches) {
          for (let o = batch.first; o < batch.end; o++) {
            const list = byOffset.get(o) ?? [];
            list.push(node.id);
            byOffset.set(o, list);
          }
        }
      }
    }
    for (const segment of this.chain) {
      const range = this.expectedRange(segment);
      if (range === undefined) continue;
      const copies = holders.get(segment.params.logletId);
      for (let offset = range.from; offset < range.end; offset++) {
        const nodes = copies?.get(offset) ?? [];
        if (!isWriteQuorum(nodes, this.replication, this.cluster.topology)) {
          const acked = this.acked.get(segment.index)?.has(offset) === true ? "acknowledged " : "";
          this.violation(
            `${segment.params.logletId}: ${acked}offset ${offset} below the sealed tail has copies only on [${nodes.join(",")}]`,
          );
        }
      }
    }
  }
}

export function runLogletSimulation(seed: number, options: LogletSimOptions = {}): SimRunResult {
  return new LogletSimulation(seed, options).run();
}

SIM_COMPONENTS.set("loglet", {
  description:
    "replicated loglet: sequencer failover, seal, tail repair, trims, crashes and partitions",
  run: (seed, { verbose }) => runLogletSimulation(seed, { verbose }),
});
