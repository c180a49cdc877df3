/**
 * The simulator's clock and event queue: virtual milliseconds, events ordered by (time, insertion
 * sequence), one seeded PRNG. Given the same seed and the same code, a run is identical, so a failing
 * seed replays exactly. Nothing here touches real time.
 */

import { assert, seededPrng, type Prng } from "../core/index.js";

interface ScheduledEvent {
  readonly at: number;
  readonly seq: number;
  readonly run: () => void;
  cancelled: boolean;
}

export class SimScheduler {
  readonly prng: Prng;
  private nowMs = 0;
  private seq = 0;
  private heap: ScheduledEvent[] = [];
  private steps = 0;

  constructor(readonly seed: number) {
    this.prng = seededPrng(seed);
  }

  get now(): number {
    return this.nowMs;
  }

  get stepsTaken(): number {
    return this.steps;
  }

  /** Runs `run` after `delayMs` of virtual time. Returns a cancel function. */
  schedule(delayMs: number, run: () => void): () => void {
    assert(
      delayMs >= 0 && Number.isFinite(delayMs),
      `delay must be finite and non-negative: ${delayMs}`,
    );
    const event: ScheduledEvent = {
      at: this.nowMs + delayMs,
      seq: this.seq++,
      run,
      cancelled: false,
    };
    this.push(event);
    return () => {
      event.cancelled = true;
    };
  }

  /** Runs the next event; false when the queue is empty. */
  step(): boolean {
    for (;;) {
      const event = this.pop();
      if (event === undefined) return false;
      if (event.cancelled) continue;
      assert(event.at >= this.nowMs, "time never goes backwards");
      this.nowMs = event.at;
      this.steps++;
      event.run();
      return true;
    }
  }

  /** Runs events until `done()` holds, the queue empties, or the limits are hit. */
  runUntil(done: () => boolean, limits: { untilMs?: number; stepsMax?: number } = {}): boolean {
    const untilMs = limits.untilMs ?? Number.POSITIVE_INFINITY;
    const stepsMax = limits.stepsMax ?? 10_000_000;
    let taken = 0;
    while (!done()) {
      const next = this.peekTime();
      if (next === undefined || next > untilMs || taken >= stepsMax) return done();
      this.step();
      taken++;
    }
    return true;
  }

  /** Advances virtual time to `untilMs`, running every event due by then. */
  runFor(durationMs: number): void {
    const until = this.nowMs + durationMs;
    this.runUntil(() => false, { untilMs: until });
    this.nowMs = Math.max(this.nowMs, until);
  }

  /** The virtual time of the next event, if any (drivers that await between events step by hand). */
  peekTime(): number | undefined {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.pop();
    return this.heap[0]?.at;
  }

  private less(a: ScheduledEvent, b: ScheduledEvent): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(event: ScheduledEvent): void {
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  private pop(): ScheduledEvent | undefined {
    const heap = this.heap;
    if (heap.length === 0) return undefined;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let smallest = i;
        if (l < heap.length && this.less(heap[l]!, heap[smallest]!)) smallest = l;
        if (r < heap.length && this.less(heap[r]!, heap[smallest]!)) smallest = r;
        if (smallest === i) break;
        [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
        i = smallest;
      }
    }
    return top;
  }
}
