/**
 * The shuffle: a partition leader's delivery of outbox messages to other partitions, exactly once.
 * Each message carries (source partition, outbox seq); the destination appends it and its state
 * machine drops any seq at or below the highest it applied from this source. Messages to one
 * destination are therefore delivered strictly in seq order (one batch in flight per destination).
 * After delivery the source proposes TruncateOutbox up to the highest seq below which everything was
 * delivered. A new leader resends everything still in the outbox; duplicates are dropped downstream.
 */

import { type PartitionId, describeError, limits } from "../core/index.js";
import type { OutboxMessage } from "../gen/keel/records.js";
import { TableReader, type PartitionReader } from "../partition-store/index.js";
import type { Clock, Logger } from "../platform/index.js";

export interface ShuffleTransport {
  /** Appends the messages, in order, to the destination's log; resolves once durable. */
  deliver(
    source: PartitionId,
    destination: PartitionId,
    messages: { seq: number; message: OutboxMessage }[],
  ): Promise<void>;
}

const RETRY_DELAY_MS_MAX = 2000;

export class Shuffle {
  private readonly queues = new Map<number, { seq: number; message: OutboxMessage }[]>();
  private readonly busy = new Set<number>();
  private readonly undelivered = new Set<number>();
  private highestSeen = 0;
  private truncatedThrough = 0;
  private truncating = false;
  private running = false;
  private generation = 0;

  constructor(
    private readonly source: PartitionId,
    private readonly reader: () => PartitionReader,
    private readonly destinationOf: (message: OutboxMessage) => PartitionId,
    private readonly transport: ShuffleTransport,
    private readonly proposeTruncate: (throughSeq: number) => Promise<void>,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.running = true;
    this.generation++;
    this.queues.clear();
    this.busy.clear();
    this.undelivered.clear();
    const tables = new TableReader(this.reader());
    let after: number | undefined;
    for (;;) {
      const page = tables.outbox(1024, after);
      for (const { seq, message } of page) this.enqueue(seq, this.destinationOf(message), message);
      if (page.length < 1024) break;
      after = page[page.length - 1]!.seq;
    }
  }

  stop(): void {
    this.running = false;
    this.generation++;
  }

  enqueue(seq: number, destination: PartitionId, message: OutboxMessage): void {
    if (!this.running || this.undelivered.has(seq) || seq <= this.truncatedThrough) return;
    this.undelivered.add(seq);
    this.highestSeen = Math.max(this.highestSeen, seq);
    let queue = this.queues.get(destination);
    if (queue === undefined) {
      queue = [];
      this.queues.set(destination, queue);
    }
    queue.push({ seq, message });
    this.pump(destination);
  }

  private pump(destination: number, attempt = 0): void {
    if (!this.running || this.busy.has(destination)) return;
    const queue = this.queues.get(destination);
    if (queue === undefined || queue.length === 0) return;
    const batch = queue.splice(0, limits.shuffleInFlightMax);
    this.busy.add(destination);
    const generation = this.generation;
    this.transport.deliver(this.source, destination as PartitionId, batch).then(
      () => {
        if (generation !== this.generation) return;
        this.busy.delete(destination);
        for (const { seq } of batch) this.undelivered.delete(seq);
        this.truncate();
        this.pump(destination);
      },
      (error: unknown) => {
        if (generation !== this.generation) return;
        this.busy.delete(destination);
        queue.unshift(...batch);
        const delay = Math.min(RETRY_DELAY_MS_MAX, 10 * 2 ** attempt);
        if (attempt > 3) {
          this.logger.warn("shuffle delivery failed, retrying", {
            source: this.source,
            destination,
            error: describeError(error),
          });
        }
        this.clock.setTimer(delay, () => this.pump(destination, attempt + 1));
      },
    );
  }

  /** Proposes truncation of everything delivered so far, one proposal at a time. */
  private truncate(): void {
    if (this.truncating || !this.running) return;
    let through = this.highestSeen;
    for (const seq of this.undelivered) through = Math.min(through, seq - 1);
    if (through <= this.truncatedThrough) return;
    this.truncating = true;
    const generation = this.generation;
    this.proposeTruncate(through).then(
      () => {
        this.truncating = false;
        if (generation !== this.generation) return;
        this.truncatedThrough = Math.max(this.truncatedThrough, through);
        this.truncate();
      },
      () => {
        this.truncating = false;
      },
    );
  }
}
