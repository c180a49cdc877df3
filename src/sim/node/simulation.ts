/**
 * The `node` simulation component: a whole Keel node (ingress operations → log → partition processor
 * → invoker → a simulated service) under the deterministic simulator, with crashes and restarts.
 * `npm run sim -- --component node --seeds N [--seed S]`.
 *
 * One run:
 * 1. Pick a shape from the seed: partitions, protocol v5 or v6, bidirectional or request/response,
 *    eager or lazy state, inactivity timeout, log and store latencies, network delays and cut streams,
 *    crash rate, the workload.
 * 2. Provision the schema, start a `KeelNode` built on simulated ports (./storage.ts, ./endpoint.ts,
 *    the SimClock) and let clients submit `Counter/add` invocations as the ingress does (calls that
 *    wait for the result, or sends, some delayed, followed by attach), each with an idempotency key
 *    so that it can retry after a crash. The nemesis crashes the node at random moments (everything
 *    in memory is dropped, its clock and endpoint streams die, the disks keep what they hold) or
 *    stops it gracefully (`KeelNode.stop()`, which must finish), and restarts it (a new KeelNode on
 *    the same disks); the network delays messages and cuts streams.
 * 3. Calm: no more crashes or cuts; every client retries until it has its result.
 * 4. Crash and restart once more, then check (below); flush the stores, crash, and compare every
 *    partition store with its log replayed from LSN 1.
 *
 * The run is async (KeelNode's code is), but deterministic: after every event the driver awaits the
 * runner's `settle` port, so every promise reaction an event set off runs before the next event, in
 * the same order at every replay. Every event of interest feeds a digest that the summary prints: a
 * seed replays to the same digest.
 *
 * Checkers (any violation fails the seed):
 * - every invocation a client submitted, each acknowledged by the node, completes exactly once: its
 *   stored result is the output its handler produced, equal to what the client received;
 * - the ledger never sees two different results of one `ctx.run` for one invocation (a handler sees a
 *   run's result only once it is durable), and every output carries the result its handler saw;
 * - each Counter object's count equals its completed adds, whose outputs carry the counts 1..n;
 *   each Tally object's count equals the calls it got from completed adds, likewise;
 * - every partition store equals its log replayed from LSN 1 through the store's applied LSN;
 * - no fatal error, no error logged, no SDK protocol error, no request left unanswered in the calm,
 *   no graceful stop that does not finish.
 *
 * Why one file of this length: the driver, the node's lives, the workload and the checkers share one
 * run's state (the scheduler, the clients, the ledger, the digest) and read as one story in the order
 * above; what stands on its own is elsewhere (the run's parameters, the simulated SDK, services,
 * streams and storage).
 */

import {
  assert,
  Lsn,
  PartitionId,
  PartitionTable,
  describeError,
  type PartitionKey,
  seededPrng,
  utf8,
  type Prng,
} from "../../core/index.js";
import { InvocationPhase } from "../../gen/keel/records.js";
import { Bifrost } from "../../bifrost/index.js";
import type { InvokerTestOnlyFaults } from "../../invoker/index.js";
import { ANY_VERSION, MemoryMetadataStore, putJson } from "../../metadata/index.js";
import { KeelNode } from "../../node/index.js";
import { MemoryStore, TableReader, type ObjectRef } from "../../partition-store/index.js";
import type { Logger } from "../../platform/index.js";
import { SCHEMA_KEY, type Schema } from "../../schema/index.js";
import { replayPartition } from "../../worker/index.js";
import type { SimRunResult } from "../components.js";
import { SimClock } from "../ports.js";
import { SimScheduler } from "../scheduler.js";
import { SimEndpointTransport, type StreamCounters, type StreamNetwork } from "./endpoint.js";
import { pickParameters, type Parameters } from "./parameters.js";
import { SimSdk } from "./sdk.js";
import { Ledger, simulatedHandlers, simulatedSchema } from "./services.js";
import { Driver, RunRecord } from "./run_record.js";
import { ProcessRequests, clientAttempt, isExpectedClientError } from "./client_requests.js";
import {
  checkInvocations,
  checkObjects,
  clientInvocations,
  firstStoreDifference,
  type ClientInvocation,
  type StoredView,
} from "./workload.js";
import {
  SIM_LOGLET_PROVIDER,
  SimLogDisk,
  SimLogletProvider,
  SimMetadataHandle,
  SimPartitionStore,
  SimStoreDisk,
} from "./storage.js";

export interface NodeSimOptions {
  /** The runner's port: resolves once every pending microtask has run (components.ts). */
  readonly settle: () => Promise<void>;
  readonly verbose?: boolean;
  /**
   * TEST ONLY: run a deliberately broken invoker. The simulation must catch it
   * (test/sim/node_sim.test.ts).
   */
  readonly invokerTestOnlyFaults?: InvokerTestOnlyFaults;
}

export interface NodeSimResult extends SimRunResult {
  /** SHA-256 (hex, shortened) over the run's events: equal for two runs of one seed. */
  readonly digest: string;
}

/** 2027-01-15: the node's clock reads wall-clock time. */
const EPOCH_MS = 1_800_000_000_000;
const NODE_NAME = "N1";
/** After the fault phase, how long every client has to get its result. */
const CALM_LIMIT_MS = 120_000;
const READY_LIMIT_MS = 30_000;
const STOP_LIMIT_MS = 10_000;
const STEPS_MAX = 5_000_000;
/** Marks the direction of a chunk of traffic in the digest. */
const DIRECTION_MARK = [utf8(">"), utf8("<")];
const CLIENT_RETRY_MIN_MS = 20;
const CLIENT_RETRY_MAX_MS = 500;

/** One incarnation of the node: a KeelNode and the ports it was built on. */
class Incarnation {
  alive = true;
  started = false;
  /** A graceful stop was asked for: a start it interrupts may fail. */
  stopping = false;
  readonly stores: SimPartitionStore[] = [];
  readonly requests = new ProcessRequests();
  node!: KeelNode;

  constructor(
    readonly generation: number,
    readonly clock: SimClock,
    readonly loglets: SimLogletProvider,
    readonly metadata: SimMetadataHandle,
    readonly transport: SimEndpointTransport,
  ) {}

  /** The node, while the process is alive (clients' requests go to it). */
  get serving(): KeelNode | undefined {
    return this.alive ? this.node : undefined;
  }

  crash(): void {
    this.alive = false;
    this.clock.kill();
    this.loglets.crash();
    for (const store of this.stores) store.crash();
    this.metadata.kill();
    this.transport.crash();
    this.requests.resetAll();
  }
}

class NodeSimulation {
  private readonly scheduler: SimScheduler;
  private readonly params: Parameters;
  private readonly faultPrng: Prng;
  private readonly workloadPrng: Prng;
  private readonly metadata = new MemoryMetadataStore();
  private readonly logDisk = new SimLogDisk();
  private readonly storeDisk = new SimStoreDisk();
  private readonly ledger: Ledger;
  private readonly network: StreamNetwork;
  private readonly schema: Schema;
  private readonly streamCounters: StreamCounters = { opened: 0, cut: 0 };
  private readonly clients: ClientInvocation[] = [];
  private incarnation: Incarnation | undefined;
  private generation = 0;
  private calm = false;
  private crashes = 0;
  private stops = 0;

  constructor(
    private readonly seed: number,
    private readonly options: NodeSimOptions,
  ) {
    this.scheduler = new SimScheduler(seed);
    this.record = new RunRecord(this.scheduler, options.verbose === true);
    this.driver = new Driver(this.scheduler, this.record, {
      settle: options.settle,
      stepsMax: STEPS_MAX,
    });
    const root = this.scheduler.prng;
    this.params = pickParameters(root);
    this.faultPrng = seededPrng(root.nextU32());
    this.workloadPrng = seededPrng(root.nextU32());
    const servicePrng = seededPrng(root.nextU32());
    this.ledger = new Ledger((message) => this.violation(message));
    const sdk = new SimSdk(
      simulatedHandlers({
        prng: servicePrng,
        ledger: this.ledger,
        delay: (ms) => new Promise((resolve) => this.scheduler.schedule(ms, resolve)),
        runDurationMaxMs: this.params.runDurationMaxMs,
        failureChance: this.params.handlerFailureChance,
      }),
      {
        nowMs: () => EPOCH_MS + this.scheduler.now,
        violation: (m) => this.violation(m),
        proposedRun: () => this.crashSoonMaybe(),
      },
    );
    this.network = {
      sdk,
      scheduler: this.scheduler,
      prng: seededPrng(root.nextU32()),
      faults: this.params.streams,
      cutsEnabled: () => !this.calm,
      counters: this.streamCounters,
      delivered: (towardNode, bytes) => {
        this.record.traffic(DIRECTION_MARK[towardNode ? 1 : 0]!, bytes);
      },
    };
    this.schema = simulatedSchema(this.params.schema, EPOCH_MS);
  }

  async run(): Promise<NodeSimResult> {
    try {
      await putJson(this.metadata, SCHEMA_KEY, this.schema, ANY_VERSION);
      this.startIncarnation();
      this.scheduleWorkload();
      this.scheduleNemesis();
      const faultPhaseMs = this.params.faultPhaseMs;
      await this.driveUntil(() => this.scheduler.now >= faultPhaseMs, faultPhaseMs);
      this.calm = true;
      this.trace("calm");
      const finished = await this.driveUntil(
        () => this.clients.every((c) => c.received !== undefined),
        faultPhaseMs + CALM_LIMIT_MS,
      );
      if (finished) await this.finalChecks();
      else this.reportStuck();
    } catch (error) {
      this.violation(
        `the simulation threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
    }
    const digest = this.record.finish();
    return {
      seed: this.seed,
      violations: this.record.violations,
      summary: this.summary(digest),
      digest,
    };
  }

  // ---- driving ----

  private driveUntil(done: () => boolean, untilMs: number): Promise<boolean> {
    return this.driver.until(done, untilMs);
  }

  private sleep(ms: number): Promise<void> {
    return this.driver.sleep(ms);
  }

  // ---- the node's life ----

  private startIncarnation(): void {
    assert(this.incarnation === undefined, "one incarnation of the node at a time");
    const generation = ++this.generation;
    const prng = seededPrng(this.faultPrng.nextU32());
    const clock = new SimClock(this.scheduler, EPOCH_MS);
    const loglets = new SimLogletProvider(this.logDisk, this.scheduler, prng, this.params.log);
    const metadata = new SimMetadataHandle(this.metadata);
    const transport = new SimEndpointTransport(this.network);
    const incarnation = new Incarnation(generation, clock, loglets, metadata, transport);
    const faults = this.options.invokerTestOnlyFaults;
    incarnation.node = new KeelNode(
      {
        nodeName: NODE_NAME,
        partitions: this.params.partitions,
        clusterName: "sim",
        invokerConcurrencyMax: this.params.invokerConcurrencyMax,
        ...(faults === undefined ? {} : { invokerTestOnlyFaults: faults }),
      },
      {
        metadata,
        loglets: new Map([[loglets.name, loglets]]),
        initialLoglet: () => ({ provider: SIM_LOGLET_PROVIDER, params: "{}" }),
        openPartitionStore: (partitionId) => {
          const store = new SimPartitionStore(
            this.storeDisk.partition(partitionId),
            this.scheduler,
            prng,
            this.params.storeWriteDelayMaxMs,
          );
          incarnation.stores[partitionId] = store;
          return store;
        },
        transport,
        clock,
        entropy: { fill: (target) => prng.fillBytes(target) },
        logger: this.loggerOf(incarnation),
        onFatal: (error) => {
          if (incarnation.alive)
            this.violation(`incarnation ${generation}: fatal error: ${describeError(error)}`);
        },
      },
    );
    this.incarnation = incarnation;
    this.trace(`start incarnation ${generation}`);
    incarnation.node.start().then(
      () => {
        if (!incarnation.alive) return;
        incarnation.started = true;
        this.trace(`incarnation ${generation} started`);
      },
      (error: unknown) => {
        if (!incarnation.alive) return;
        if (incarnation.stopping) this.trace(`incarnation ${generation}: start interrupted`);
        else this.violation(`incarnation ${generation} failed to start: ${describeError(error)}`);
      },
    );
  }

  /** The process dies (`exit` after a graceful stop: nothing of it is left to lose). */
  private crash(how: "crash" | "exit" = "crash"): void {
    const incarnation = this.incarnation;
    if (incarnation === undefined) return;
    this.incarnation = undefined;
    if (how === "crash") this.crashes++;
    else this.stops++;
    this.trace(`${how} incarnation ${incarnation.generation}`);
    incarnation.crash();
  }

  private scheduleNemesis(): void {
    const { crashIntervalMinMs, crashIntervalMaxMs, downtimeMaxMs } = this.params;
    const after =
      crashIntervalMinMs + this.faultPrng.nextInt(crashIntervalMaxMs - crashIntervalMinMs + 1);
    const restart = (): void => {
      this.scheduler.schedule(this.faultPrng.nextInt(downtimeMaxMs + 1), () => {
        // The final checks may have restarted the node already: one process per disk.
        if (this.incarnation !== undefined) return;
        this.startIncarnation();
        this.scheduleNemesis();
      });
    };
    this.scheduler.schedule(after, () => {
      if (this.calm) return;
      if (this.faultPrng.chance(this.params.gracefulStopChance)) this.stop(restart);
      else {
        this.crash();
        restart();
      }
    });
  }

  /**
   * Crashes the node within the log's append latency, now and then: the moment a run's result is
   * proposed is when acknowledging it early would lose it (as FoundationDB's `buggify` aims faults
   * at the interesting moments instead of waiting for chance to hit them).
   */
  private crashSoonMaybe(): void {
    if (this.calm || !this.faultPrng.chance(this.params.crashAfterRunProposalChance)) return;
    const incarnation = this.incarnation;
    this.scheduler.schedule(this.faultPrng.nextInt(this.params.log.appendMaxMs + 1), () => {
      if (this.calm || this.incarnation !== incarnation || incarnation === undefined) return;
      this.crash();
      this.scheduler.schedule(this.faultPrng.nextInt(this.params.downtimeMaxMs + 1), () => {
        if (this.incarnation === undefined) this.startIncarnation();
      });
    });
  }

  /**
   * A graceful stop, as keel-server's on SIGTERM: `KeelNode.stop()`, the stores' last writes, then
   * the process exits (the ports die). A stop that does not finish within STOP_LIMIT_MS is a
   * violation, and the process is killed.
   */
  private stop(then: () => void): void {
    const incarnation = this.incarnation;
    if (incarnation === undefined) return then();
    this.trace(`stop incarnation ${incarnation.generation}`);
    incarnation.stopping = true;
    let exited = false;
    const exit = (): void => {
      if (exited) return;
      exited = true;
      if (this.incarnation === incarnation) this.crash("exit");
      then();
    };
    incarnation.node
      .stop()
      .then(() => Promise.all(incarnation.stores.map((store) => store.flushed())))
      .then(
        () => {
          this.trace(`incarnation ${incarnation.generation} stopped`);
          exit();
        },
        (error: unknown) => {
          this.violation(
            `incarnation ${incarnation.generation}: stop failed: ${describeError(error)}`,
          );
          exit();
        },
      );
    this.scheduler.schedule(STOP_LIMIT_MS, () => {
      // Crashed meanwhile (by the final checks): its stop can never finish.
      if (exited || !incarnation.alive) return;
      this.violation(
        `incarnation ${incarnation.generation} did not stop within ${STOP_LIMIT_MS} ms`,
      );
      exit();
    });
  }

  private loggerOf(incarnation: Incarnation): Logger {
    return this.record.logger(`incarnation ${incarnation.generation}`, () => incarnation.alive);
  }

  // ---- clients ----

  private readonly record: RunRecord;
  private readonly driver: Driver;
  private readonly attemptHooks = {
    now: (): number => this.scheduler.now,
    trace: (text: string): void => this.trace(text),
    violation: (message: string): void => this.violation(message),
  };

  private scheduleWorkload(): void {
    for (const client of clientInvocations(this.params, this.schema, this.workloadPrng)) {
      this.clients.push(client);
      this.scheduler.schedule(client.startAtMs, () => void this.runClient(client));
    }
  }

  /** One client: submits, and retries with the same idempotency key until it has the result. */
  private async runClient(client: ClientInvocation): Promise<void> {
    for (;;) {
      const incarnation = this.incarnation;
      if (incarnation !== undefined) {
        try {
          const target = {
            name: `incarnation ${incarnation.generation}`,
            node: incarnation.serving,
            requests: incarnation.requests,
          };
          if (await clientAttempt(client, target, this.attemptHooks)) return;
        } catch (error) {
          if (!isExpectedClientError(error)) {
            this.violation(`client ${client.index}: unexpected error: ${describeError(error)}`);
            return;
          }
        }
      }
      await this.sleep(
        CLIENT_RETRY_MIN_MS + this.workloadPrng.nextInt(CLIENT_RETRY_MAX_MS - CLIENT_RETRY_MIN_MS),
      );
    }
  }

  // ---- checks ----

  private reportStuck(): void {
    const incarnation = this.incarnation;
    for (const client of this.clients.filter((c) => c.received === undefined).slice(0, 5)) {
      let status = "node down";
      if (incarnation?.started === true) {
        const partition = incarnation.node.partitionTable.partitionOf(client.id.partitionKey);
        const stored = new TableReader(incarnation.node.processor(partition).reader()).status(
          client.id,
        );
        const task = incarnation.node.invoker.info(client.id);
        status =
          stored === undefined
            ? "no status"
            : `${InvocationPhase[stored.phase]}, journal ${stored.journalLength}, attempts ${task?.retryCount ?? "-"}, last failure ${task?.lastFailure?.message ?? "-"}`;
      }
      this.violation(
        `client ${client.index} (${client.mode}, ${client.idText}) has no result ${this.scheduler.now - this.params.faultPhaseMs} ms into the calm${this.scheduler.peekTime() === undefined ? " (nothing left to happen)" : ""}: ${status}`,
      );
    }
  }

  private async finalChecks(): Promise<void> {
    // Recovery once more, from whatever the disks kept, before anything is checked.
    this.crash();
    this.startIncarnation();
    const incarnation = this.incarnation!;
    const now = this.scheduler.now;
    const ready = await this.driveUntil(
      () => incarnation.started && incarnation.node.isReady,
      now + READY_LIMIT_MS,
    );
    if (!ready) {
      this.violation(`the node was not ready ${READY_LIMIT_MS} ms after the last restart`);
      return;
    }
    await this.driveUntil(() => false, this.scheduler.now + 5_000);
    const stored = this.storedView(incarnation);
    const violation = (message: string): void => this.violation(message);
    const trace = (text: string): void => this.trace(text);
    checkInvocations(this.clients, stored, this.ledger, violation, trace);
    checkObjects(this.clients, stored, violation, trace);
    let flushed = false;
    void Promise.all(incarnation.stores.map((s) => s.flushed())).then(() => (flushed = true));
    if (!(await this.driveUntil(() => flushed, this.scheduler.now + 60_000))) {
      this.violation("the partition stores were not flushed within a minute");
      return;
    }
    this.crash();
    await this.checkStoresAgainstLog();
  }

  /** What the incarnation's partition stores hold. */
  private storedView(incarnation: Incarnation): StoredView {
    const tables = (key: PartitionKey) =>
      new TableReader(
        incarnation.node.processor(incarnation.node.partitionTable.partitionOf(key)).reader(),
      );
    return {
      status: (id) => tables(id.partitionKey).status(id),
      state: (object: ObjectRef, name) => tables(object.partitionKey).state(object, utf8(name)),
    };
  }

  /** Every partition store equals its log replayed from LSN 1 through the store's applied LSN. */
  private async checkStoresAgainstLog(): Promise<void> {
    const metadata = new SimMetadataHandle(this.metadata);
    const loglets = new SimLogletProvider(
      this.logDisk,
      this.scheduler,
      this.faultPrng,
      this.params.log,
    );
    const bifrost = new Bifrost(metadata, new Map([[loglets.name, loglets]]), () => ({
      provider: SIM_LOGLET_PROVIDER,
      params: "{}",
    }));
    const table = new PartitionTable(this.params.partitions);
    for (let p = 0; p < this.params.partitions; p++) {
      const disk = this.storeDisk.partition(p);
      const appliedLsn = new TableReader(disk).fsm().appliedLsn;
      const rebuilt = new MemoryStore();
      await replayPartition({
        partitionId: PartitionId(p),
        partitionTable: table,
        log: await bifrost.log(p),
        store: rebuilt,
        throughLsn: Lsn(appliedLsn),
      });
      const difference = firstStoreDifference(disk.dump(), rebuilt.data.dump());
      if (difference !== undefined)
        this.violation(
          `partition ${p} at LSN ${appliedLsn}: the store differs from its log replayed from LSN 1: ${difference}`,
        );
      this.trace(`partition ${p} applied ${appliedLsn}, ${disk.dump().length} entries`);
    }
  }

  // ---- reporting ----

  private violation(message: string): void {
    this.record.violation(message);
  }

  private trace(text: string): void {
    this.record.trace(text);
  }

  private note(text: string): void {
    this.record.note(text);
  }

  private summary(digest: string): string {
    const p = this.params;
    const s = p.schema;
    const sdk = this.network.sdk.stats;
    let rerun = 0;
    for (const executions of this.ledger.executions.values()) rerun += executions - 1;
    return [
      `${p.invocations} invocations on ${p.counterKeys} counters, ${p.tallyKeys} tallies`,
      `${p.partitions} partitions, v${s.protocolVersionMax} ${s.requestResponse ? "request/response" : "bidi"}${s.lazyState ? " lazy" : ""}`,
      `${this.crashes} crashes, ${this.stops} stops, ${this.streamCounters.cut}/${this.streamCounters.opened} streams cut`,
      `${sdk.attempts} attempts (${sdk.replays} replaying, ${sdk.suspensions} suspended), ${rerun} runs executed again`,
      `t=${this.scheduler.now}ms, ${this.driver.steps} events, digest ${digest}`,
    ].join("; ");
  }
}

export function runNodeSimulation(seed: number, options: NodeSimOptions): Promise<NodeSimResult> {
  return new NodeSimulation(seed, options).run();
}
