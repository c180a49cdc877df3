/**
 * In-memory implementations of the platform's ports, for tests and the simulator: a manual clock and
 * a fixed entropy source (the in-memory partition store is src/partition-store/memory_store.ts).
 */

import type { Cancel, Clock, Entropy } from "./ports.js";

/** A clock that moves only when told to; timers fire in order as it passes them. */
export class ManualClock implements Clock {
  private timers: { at: number; seq: number; callback: () => void; cancelled: boolean }[] = [];
  private seq = 0;

  constructor(private now: number) {}

  nowMs(): number {
    return this.now;
  }

  setTimer(delayMs: number, callback: () => void): Cancel {
    const timer = {
      at: this.now + Math.max(0, delayMs),
      seq: this.seq++,
      callback,
      cancelled: false,
    };
    this.timers.push(timer);
    return () => void (timer.cancelled = true);
  }

  defer(run: () => void): void {
    queueMicrotask(run);
  }

  /** No I/O here: after what is already queued. */
  deferAfterIo(run: () => void): void {
    queueMicrotask(run);
  }

  /** Moves time forward, firing every timer due on the way, in order. */
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      this.timers = this.timers.filter((t) => !t.cancelled);
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers[0];
      if (next === undefined || next.at > until) break;
      this.timers.shift();
      this.now = next.at;
      next.callback();
    }
    this.now = until;
  }
}

export function counterEntropy(): Entropy {
  let n = 0;
  return {
    fill(target) {
      n++;
      for (let i = 0; i < target.length; i++) target[i] = (n * 131 + i * 17) & 255;
    },
  };
}
