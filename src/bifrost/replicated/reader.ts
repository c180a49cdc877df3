/**
 * Reading a replicated loglet, as small pure machines.
 *
 * `Reader` serves one read: records from `from` up to a bound that is a known committed tail. Any
 * server's copy of an offset is *the* record (one sequencer per loglet ⇒ one payload per offset), so
 * the reader asks the nodeset one server at a time — its own node first, then the others in a seeded
 * random order — and takes the first server that holds `from`. A server at or past its trim point
 * there answers with its trim point: the reader reports a trim gap instead of waiting for records that
 * will never come. If nobody holds `from`, the read fails as unavailable (it never pretends the log is
 * empty there). Invariant: nothing at or beyond the bound is ever returned.
 *
 * `Broadcast` sends one request to a set of servers and completes when the answers satisfy a quorum
 * predicate (trim: a write quorum; trim point and tail info: an f-majority).
 */

import { assert, type NodeId, type Prng } from "../../core/index.js";
import { expectResponse, type Outcome, type RequestEffect } from "./effects.js";
import type { ReplicatedLogletLimits } from "./limits.js";
import type { GetRecordsRequest, LogletMessage, StoredRecord } from "./messages.js";
import { shuffled } from "./replication.js";
import type { LogletParams } from "./types.js";

export type ReadResult =
  | { readonly kind: "records"; readonly records: readonly StoredRecord[] }
  | { readonly kind: "trimGap"; readonly through: number }
  | { readonly kind: "unavailable"; readonly why: string };

export interface ReadRequest {
  readonly from: number;
  /** A committed tail: the reader returns nothing at or beyond it. */
  readonly bound: number;
  readonly recordsMax: number;
}

export class Reader {
  private readonly order: NodeId[];
  private next = 0;
  private token = 0;
  private outcome: ReadResult | undefined;

  constructor(
    private readonly params: LogletParams,
    self: NodeId,
    prng: Prng,
    private readonly limits: ReplicatedLogletLimits,
    private readonly read: ReadRequest,
  ) {
    assert(read.from < read.bound, `a read starts below its bound (${read.from} < ${read.bound})`);
    assert(read.recordsMax > 0, "a read asks for at least one record");
    const others = params.nodeset.filter((n) => n !== self);
    this.order = params.nodeset.includes(self)
      ? [self, ...shuffled(others, prng)]
      : shuffled(others, prng);
  }

  get result(): ReadResult | undefined {
    return this.outcome;
  }

  start(): RequestEffect<GetRecordsRequest>[] {
    return this.askNext();
  }

  onOutcome(token: number, outcome: Outcome): RequestEffect<GetRecordsRequest>[] {
    if (token !== this.token || this.outcome !== undefined) return [];
    const answer = expectResponse(outcome, "records");
    if (answer !== undefined) {
      if (answer.trimPoint >= this.read.from) {
        this.outcome = {
          kind: "trimGap",
          through: Math.min(answer.trimPoint, this.read.bound - 1),
        };
        return [];
      }
      const records: StoredRecord[] = [];
      for (const record of answer.records) {
        if (record.offset !== this.read.from + records.length) break;
        if (record.offset >= this.read.bound || records.length >= this.read.recordsMax) break;
        records.push(record);
      }
      if (records.length > 0) {
        this.outcome = { kind: "records", records };
        return [];
      }
    }
    return this.askNext();
  }

  private askNext(): RequestEffect<GetRecordsRequest>[] {
    const server = this.order[this.next++];
    if (server === undefined) {
      this.outcome = {
        kind: "unavailable",
        why: `no log server of ${this.params.logletId} served offset ${this.read.from}`,
      };
      return [];
    }
    this.token++;
    return [
      {
        kind: "request",
        to: server,
        token: this.token,
        timeoutTicks: this.limits.requestTimeoutTicks,
        request: {
          kind: "getRecords",
          header: { logletId: this.params.logletId, knownGlobalTail: this.read.bound },
          from: this.read.from,
          toExclusive: this.read.bound,
          recordsMax: Math.min(this.read.recordsMax, this.limits.readRecordsMax),
          bytesMax: this.limits.readBytesMax,
        },
      },
    ];
  }
}

export type BroadcastVerdict = "wait" | "done" | "failed";

/** One request to many servers; `judge` decides after each answer whether enough have come. */
export class Broadcast<K extends LogletMessage["kind"]> {
  readonly answers = new Map<NodeId, Extract<LogletMessage, { kind: K }>>();
  readonly failed = new Set<NodeId>();
  private readonly tokens = new Map<number, NodeId>();
  private verdict: BroadcastVerdict = "wait";

  constructor(
    private readonly targets: readonly NodeId[],
    private readonly expected: K,
    private readonly judge: (answered: ReadonlySet<NodeId>) => boolean,
  ) {
    assert(targets.length > 0, "a broadcast has targets");
  }

  get status(): BroadcastVerdict {
    return this.verdict;
  }

  start(request: LogletMessage, timeoutTicks: number): RequestEffect[] {
    return this.targets.map((to, i) => {
      this.tokens.set(i + 1, to);
      return { kind: "request", to, token: i + 1, request, timeoutTicks };
    });
  }

  onOutcome(token: number, outcome: Outcome): void {
    const server = this.tokens.get(token);
    if (server === undefined || this.verdict !== "wait") return;
    this.tokens.delete(token);
    const answer = expectResponse(outcome, this.expected);
    if (answer === undefined) this.failed.add(server);
    else this.answers.set(server, answer);
    if (this.judge(new Set(this.answers.keys()))) this.verdict = "done";
    else if (this.answers.size + this.failed.size >= this.targets.length) this.verdict = "failed";
  }
}
