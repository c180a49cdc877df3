/**
 * The sequencer of one replicated loglet, as a pure state machine. Exactly one node incarnation
 * sequences a loglet (named in its params); it assigns offsets, sends each batch to a spread of log
 * servers and decides commit.
 *
 * Inputs: `append`, `flush`, `onStoreOutcome`, `tick`, `beginSeal`, `onSealDecided`. Outputs
 * (effects): store requests, release notices, `committed` / `rejected` answers to appends,
 * `flushSoon`, `sealDetected`, `tailAdvanced`.
 *
 * Rules and invariants:
 * - Offsets are assigned in call order, with no gaps. Appends that arrive together (before the
 *   driver answers `flushSoon` with `flush`) share one batch, up to `batchRecordsMax` records and
 *   `batchBytesMax` bytes: one store wave, one frame on each server. A batch is never split.
 * - **Commit = a write quorum stored the batch** (every member answered `ok` after its write was
 *   durable), and every earlier batch is committed. The known global tail is the end of the last
 *   committed batch; it only grows and is carried on every store.
 * - **Per-server order**: a batch goes to server S only when it starts at or below what S was already
 *   sent (or holds), or below the known global tail, so S is never asked to leave an uncommitted hole.
 *   A server that refuses (`outOfBounds`, after reordering) is re-sent the batch once that holds again.
 * - Spreads are sticky (consecutive batches go to the same write quorum, which keeps per-server order
 *   cheap) and change only when a member fails: it is graylisted for `graylistTicks` and replaced in
 *   every batch it has not stored.
 * - Once any server answers `sealed`, or a local seal begins, the sequencer stops: new appends are
 *   refused with "sealed", and batches not yet committed wait for the decided sealed tail, which tells
 *   exactly which of them made it. Every committed batch ends at or below that tail (asserted).
 */

import { assert, type GenerationalNodeId, type NodeId, type Prng } from "../../core/index.js";
import { expectResponse, type NoticeEffect, type Outcome, type RequestEffect } from "./effects.js";
import type { ReplicatedLogletLimits } from "./limits.js";
import type { StoreRequest } from "./messages.js";
import { isWriteQuorum, selectSpread, type Topology } from "./replication.js";
import type { LogletParams } from "./types.js";

export type SequencerEffect =
  | RequestEffect<StoreRequest>
  | NoticeEffect
  | { readonly kind: "committed"; readonly append: number; readonly lastOffset: number }
  | {
      readonly kind: "rejected";
      readonly append: number;
      readonly reason: "sealed" | "unavailable";
    }
  /** Call `flush` once the appends of the current turn are in (they will share a batch). */
  | { readonly kind: "flushSoon" }
  | { readonly kind: "sealDetected" }
  | { readonly kind: "tailAdvanced"; readonly knownGlobalTail: number };

export interface SequencerOptions {
  /**
   * TEST ONLY, deliberately unsafe: commit a batch once this many servers stored it, whether or not
   * they form a write quorum. Exists so that the simulator can prove it catches a broken protocol.
   */
  readonly unsafeCommitAfterStores?: number;
}

/** An append inside a batch, with the last offset it was given. */
interface BatchedAppend {
  readonly append: number;
  readonly last: number;
}

/** Appends admitted since the last flush: the next batch, still growing. */
interface FormingBatch {
  readonly first: number;
  readonly appends: BatchedAppend[];
  readonly payloads: Uint8Array[];
  bytes: number;
}

interface Batch {
  readonly appends: readonly BatchedAppend[];
  readonly first: number;
  readonly end: number;
  readonly payloads: readonly Uint8Array[];
  spread: NodeId[];
  readonly stored: Set<NodeId>;
  /** Servers with a store request in flight, by request token. */
  readonly inflight: Map<NodeId, number>;
  committed: boolean;
}

interface ServerView {
  /** The server's local tail as it last reported it. */
  reportedTail: number;
  /** End of what this sequencer has sent to it in order; stores are pipelined up to here. */
  sentTail: number;
}

export type SequencerState = "open" | "sealing" | "sealed";

export class Sequencer {
  private nextOffset = 1;
  private committedTail = 1;
  private state: SequencerState = "open";
  private sealedTail: number | undefined;
  /** Uncommitted batches, ascending by offset. */
  private batches: Batch[] = [];
  /** Batches with a spread member the store could not be sent to yet. */
  private readonly unsent = new Set<Batch>();
  private readonly queued: { append: number; payloads: readonly Uint8Array[] }[] = [];
  private forming: FormingBatch | undefined;
  private inflightRecords = 0;
  private currentSpread: NodeId[] | undefined;
  private readonly graylist = new Map<NodeId, number>();
  private readonly servers = new Map<NodeId, ServerView>();
  private readonly requests = new Map<number, { batch: Batch; server: NodeId }>();
  private nextToken = 1;
  private now = 0;
  private lastStoreTick = 0;
  private lastReleased = 1;
  /** Answers that only a protocol bug can produce; the simulator fails on any. */
  readonly anomalies: string[] = [];

  constructor(
    readonly params: LogletParams,
    private readonly self: GenerationalNodeId,
    private readonly topology: Topology,
    private readonly prng: Prng,
    private readonly limits: ReplicatedLogletLimits,
    private readonly options: SequencerOptions = {},
  ) {
    assert(
      params.sequencer.node === self.node && params.sequencer.generation === self.generation,
      `${params.logletId}: only ${params.sequencer.node}:${params.sequencer.generation} sequences it`,
    );
    for (const node of params.nodeset) this.servers.set(node, { reportedTail: 1, sentTail: 1 });
  }

  get knownGlobalTail(): number {
    return this.committedTail;
  }

  get status(): SequencerState {
    return this.state;
  }

  // ---- inputs ----

  append(append: number, payloads: readonly Uint8Array[]): SequencerEffect[] {
    assert(payloads.length > 0, "an append carries at least one record");
    if (this.state !== "open") return [{ kind: "rejected", append, reason: "sealed" }];
    const effects: SequencerEffect[] = [];
    if (this.queued.length > 0 || !this.windowAdmits(payloads.length)) {
      if (this.queued.length >= this.limits.queuedAppendsMax) {
        return [{ kind: "rejected", append, reason: "unavailable" }];
      }
      this.queued.push({ append, payloads });
      return effects;
    }
    this.admit(effects, append, payloads);
    return effects;
  }

  /** Closes the forming batch and sends it. */
  flush(): SequencerEffect[] {
    const effects: SequencerEffect[] = [];
    this.closeForming(effects);
    return effects;
  }

  onStoreOutcome(token: number, outcome: Outcome): SequencerEffect[] {
    const request = this.requests.get(token);
    if (request === undefined) return [];
    this.requests.delete(token);
    const { batch, server } = request;
    if (batch.inflight.get(server) === token) batch.inflight.delete(server);
    const effects: SequencerEffect[] = [];
    const view = this.servers.get(server)!;
    const response = expectResponse(outcome, "stored");
    if (batch.committed) {
      // A late answer for a committed batch still tells us where the server is.
      if (response?.status === "ok") view.reportedTail = response.header.localTail;
      return [];
    }
    if (response === undefined) {
      this.serverFailed(server);
    } else {
      view.reportedTail = response.header.localTail;
      switch (response.status) {
        case "ok":
          view.sentTail = Math.max(view.sentTail, response.header.localTail);
          batch.stored.add(server);
          this.advanceCommits(effects);
          break;
        case "sealed":
          this.stop(effects, true);
          break;
        case "outOfBounds":
          // Reordered or the server lost unacknowledged stores: resume from what it really has.
          view.sentTail = response.header.localTail;
          this.unsent.add(batch);
          break;
        case "stale":
          // Only a retransmission of a batch committed elsewhere meets this; drop the server from it.
          this.dropFromBatch(batch, server);
          break;
        case "sequencerMismatch":
        case "malformed":
          this.anomalies.push(
            `${this.params.logletId}: server ${server} answered ${response.status} to store [${batch.first}, ${batch.end})`,
          );
          this.serverFailed(server);
          break;
      }
    }
    this.dispatchUnsent(effects);
    return effects;
  }

  tick(): SequencerEffect[] {
    this.now++;
    for (const [node, until] of this.graylist) if (until <= this.now) this.graylist.delete(node);
    const effects: SequencerEffect[] = [];
    this.dispatchUnsent(effects);
    if (
      this.state === "open" &&
      this.requests.size === 0 &&
      this.committedTail > this.lastReleased &&
      this.now - this.lastStoreTick >= this.limits.releaseIdleTicks
    ) {
      this.lastReleased = this.committedTail;
      for (const to of this.params.nodeset) {
        effects.push({ kind: "notice", to, notice: { kind: "release", header: this.header() } });
      }
    }
    return effects;
  }

  /** A local seal begins: refuse new appends; in-flight batches wait for the decided tail. */
  beginSeal(): SequencerEffect[] {
    const effects: SequencerEffect[] = [];
    this.stop(effects, false);
    return effects;
  }

  /** The sealed tail was decided: settle every batch still waiting. */
  onSealDecided(tail: number): SequencerEffect[] {
    if (this.state === "sealed") {
      assert(
        this.sealedTail === tail,
        `${this.params.logletId}: sealed tail decided twice differently`,
      );
      return [];
    }
    assert(
      tail >= this.committedTail,
      `${this.params.logletId}: sealed tail ${tail} would drop committed records below ${this.committedTail}`,
    );
    assert(
      tail <= this.nextOffset,
      `${this.params.logletId}: sealed tail ${tail} beyond anything assigned (${this.nextOffset})`,
    );
    const effects: SequencerEffect[] = [];
    this.stop(effects, false);
    for (const batch of this.batches) {
      assert(
        tail <= batch.first || tail >= batch.end,
        `${this.params.logletId}: sealed tail ${tail} splits batch [${batch.first}, ${batch.end})`,
      );
      for (const { append, last } of batch.appends) {
        effects.push(
          batch.end <= tail
            ? { kind: "committed", append, lastOffset: last }
            : { kind: "rejected", append, reason: "sealed" },
        );
      }
      if (batch.end <= tail) this.committedTail = batch.end;
    }
    this.batches = [];
    this.unsent.clear();
    this.requests.clear();
    this.inflightRecords = 0;
    this.state = "sealed";
    this.sealedTail = tail;
    this.committedTail = tail;
    effects.push({ kind: "tailAdvanced", knownGlobalTail: tail });
    return effects;
  }

  // ---- helpers ----

  private header(): StoreRequest["header"] {
    return { logletId: this.params.logletId, knownGlobalTail: this.committedTail };
  }

  private windowAdmits(records: number): boolean {
    return (
      this.inflightRecords === 0 || this.inflightRecords + records <= this.limits.inflightRecordsMax
    );
  }

  private admit(effects: SequencerEffect[], append: number, payloads: readonly Uint8Array[]): void {
    if (this.forming === undefined) {
      this.forming = { first: this.nextOffset, appends: [], payloads: [], bytes: 0 };
      effects.push({ kind: "flushSoon" });
    }
    const forming = this.forming;
    this.nextOffset += payloads.length;
    this.inflightRecords += payloads.length;
    forming.appends.push({ append, last: this.nextOffset - 1 });
    for (const payload of payloads) {
      forming.payloads.push(payload);
      forming.bytes += payload.length;
    }
    if (
      forming.payloads.length >= this.limits.batchRecordsMax ||
      forming.bytes >= this.limits.batchBytesMax
    ) {
      this.closeForming(effects);
    }
  }

  private closeForming(effects: SequencerEffect[]): void {
    const forming = this.forming;
    if (forming === undefined) return;
    this.forming = undefined;
    const end = forming.first + forming.payloads.length;
    assert(
      end === this.nextOffset,
      `${this.params.logletId}: the forming batch ends at the next offset`,
    );
    const batch: Batch = {
      appends: forming.appends,
      first: forming.first,
      end,
      payloads: forming.payloads,
      spread: this.spreadForNewBatch() ?? [],
      stored: new Set(),
      inflight: new Map(),
      committed: false,
    };
    this.batches.push(batch);
    this.unsent.add(batch);
    this.dispatchUnsent(effects);
  }

  private excluded(): Set<NodeId> {
    return new Set(this.graylist.keys());
  }

  private spreadForNewBatch(): NodeId[] | undefined {
    const graylisted = this.excluded();
    if (this.currentSpread !== undefined && !this.currentSpread.some((n) => graylisted.has(n))) {
      return this.currentSpread;
    }
    this.currentSpread = this.pickSpread([], graylisted);
    return this.currentSpread;
  }

  /** A write quorum including `include`, avoiding graylisted nodes when possible. */
  private pickSpread(include: NodeId[], exclude: Set<NodeId>): NodeId[] | undefined {
    const { nodeset, replication } = this.params;
    return (
      selectSpread(nodeset, replication, this.topology, this.prng, { include, exclude }) ??
      // Everyone recently failed: try them all again rather than stall (as Restate does).
      selectSpread(nodeset, replication, this.topology, this.prng, { include })
    );
  }

  private serverFailed(server: NodeId): void {
    this.graylist.set(server, this.now + this.limits.graylistTicks);
    const view = this.servers.get(server)!;
    view.sentTail = view.reportedTail;
    if (this.currentSpread?.includes(server) ?? false) this.currentSpread = undefined;
    for (const batch of this.batches) {
      if (batch.spread.includes(server) && !batch.stored.has(server)) {
        this.dropFromBatch(batch, server);
      }
    }
  }

  /** Replaces `server` in the batch's spread by another node, keeping a write quorum. */
  private dropFromBatch(batch: Batch, server: NodeId): void {
    const rest = batch.spread.filter((n) => n !== server);
    const exclude = this.excluded();
    exclude.add(server);
    batch.spread =
      selectSpread(this.params.nodeset, this.params.replication, this.topology, this.prng, {
        include: rest,
        exclude,
      }) ?? rest;
    this.unsent.add(batch);
  }

  private dispatchUnsent(effects: SequencerEffect[]): void {
    if (this.state !== "open" || this.unsent.size === 0) return;
    for (const batch of [...this.unsent].sort((a, b) => a.first - b.first)) {
      if (!isWriteQuorum(batch.spread, this.params.replication, this.topology)) {
        batch.spread =
          this.pickSpread(
            batch.spread.filter((n) => !this.graylist.has(n)),
            this.excluded(),
          ) ?? batch.spread;
      }
      let waiting = false;
      for (const server of batch.spread) {
        if (batch.stored.has(server) || batch.inflight.has(server)) continue;
        const view = this.servers.get(server)!;
        if (batch.first > Math.max(view.sentTail, this.committedTail)) {
          waiting = true;
          continue;
        }
        this.sendStore(effects, batch, server, view);
      }
      if (!waiting && isWriteQuorum(batch.spread, this.params.replication, this.topology)) {
        this.unsent.delete(batch);
      }
    }
  }

  private sendStore(
    effects: SequencerEffect[],
    batch: Batch,
    server: NodeId,
    view: ServerView,
  ): void {
    const token = this.nextToken++;
    this.requests.set(token, { batch, server });
    batch.inflight.set(server, token);
    view.sentTail = Math.max(view.sentTail, batch.end);
    this.lastStoreTick = this.now;
    effects.push({
      kind: "request",
      to: server,
      token,
      timeoutTicks: this.limits.storeTimeoutTicks,
      request: {
        kind: "store",
        header: this.header(),
        sequencer: this.self,
        first: batch.first,
        payloads: batch.payloads,
        repair: false,
      },
    });
  }

  private isCommittable(batch: Batch): boolean {
    const unsafe = this.options.unsafeCommitAfterStores;
    if (unsafe !== undefined) return batch.stored.size >= unsafe;
    return isWriteQuorum(batch.stored, this.params.replication, this.topology);
  }

  private advanceCommits(effects: SequencerEffect[]): void {
    const before = this.committedTail;
    while (this.batches.length > 0 && this.isCommittable(this.batches[0]!)) {
      const batch = this.batches.shift()!;
      assert(batch.first === this.committedTail, `${this.params.logletId}: commits are gapless`);
      this.committedTail = batch.end;
      this.inflightRecords -= batch.payloads.length;
      batch.committed = true;
      this.unsent.delete(batch);
      for (const { append, last } of batch.appends) {
        effects.push({ kind: "committed", append, lastOffset: last });
      }
    }
    if (this.committedTail === before) return;
    effects.push({ kind: "tailAdvanced", knownGlobalTail: this.committedTail });
    while (this.queued.length > 0 && this.state === "open") {
      const next = this.queued[0]!;
      if (!this.windowAdmits(next.payloads.length)) break;
      this.queued.shift();
      this.admit(effects, next.append, next.payloads);
    }
  }

  /** Stops taking appends. `detected`: a server told us it is sealed (else a local seal began). */
  private stop(effects: SequencerEffect[], detected: boolean): void {
    if (this.state !== "open") return;
    this.state = "sealing";
    for (const waiting of this.queued) {
      effects.push({ kind: "rejected", append: waiting.append, reason: "sealed" });
    }
    this.queued.length = 0;
    // The forming batch was never sent, so no server holds it: give its offsets back.
    const forming = this.forming;
    if (forming !== undefined) {
      this.forming = undefined;
      this.nextOffset = forming.first;
      this.inflightRecords -= forming.payloads.length;
      for (const { append } of forming.appends) {
        effects.push({ kind: "rejected", append, reason: "sealed" });
      }
    }
    if (detected) effects.push({ kind: "sealDetected" });
  }
}
