/**
 * The test kit's clock: the wall clock plus an offset that a test moves forward. The node reads all
 * its time through it (record timestamps, durable timers, retention, the invoker's retries and
 * timeouts), so moving it is what a jump of the wall clock would be: every timer whose deadline the
 * jump passes fires at once, in deadline order, and the others keep their deadlines. Time never
 * goes back. Timers are unref'd, as the system clock's are: a pending one never keeps the test
 * process alive.
 */

import type { Cancel, Clock } from "../platform/index.js";

interface PendingTimer {
  readonly deadlineMs: number;
  readonly seq: number;
  readonly run: () => void;
  handle: ReturnType<typeof setTimeout> | undefined;
}

export class TestClock implements Clock {
  private offset = 0;
  private seq = 0;
  private readonly pending = new Set<PendingTimer>();
  private disposed = false;

  /** How far the clock is ahead of the wall clock, in milliseconds. */
  get offsetMs(): number {
    return this.offset;
  }

  nowMs(): number {
    return Date.now() + this.offset;
  }

  setTimer(delayMs: number, run: () => void): Cancel {
    const timer: PendingTimer = {
      deadlineMs: this.nowMs() + Math.max(0, delayMs),
      seq: this.seq++,
      run,
      handle: undefined,
    };
    if (this.disposed) return () => undefined;
    this.pending.add(timer);
    this.arm(timer, Math.max(0, delayMs));
    return () => {
      if (timer.handle !== undefined) clearTimeout(timer.handle);
      this.pending.delete(timer);
    };
  }

  defer(run: () => void): void {
    queueMicrotask(run);
  }

  deferAfterIo(run: () => void): void {
    setImmediate(run);
  }

  /**
   * Moves the clock forward by `ms`. Timers due by the new time run in deadline order (after the
   * current synchronous work, as timers do); the promise resolves once they have run.
   */
  async advance(ms: number): Promise<void> {
    if (!Number.isFinite(ms) || ms < 0)
      throw new RangeError(`the clock moves forward only: expected a duration ≥ 0, found ${ms}`);
    this.offset += ms;
    const now = this.nowMs();
    const due: PendingTimer[] = [];
    for (const timer of this.pending) {
      if (timer.handle !== undefined) clearTimeout(timer.handle);
      timer.handle = undefined;
      if (timer.deadlineMs <= now) due.push(timer);
      else this.arm(timer, timer.deadlineMs - now);
    }
    due.sort((a, b) => a.deadlineMs - b.deadlineMs || a.seq - b.seq);
    await new Promise<void>((resolve) => {
      setTimeout(() => {
        for (const timer of due) {
          // A timer that an earlier one cancelled does not run.
          if (!this.pending.delete(timer)) continue;
          timer.run();
        }
        resolve();
      }, 0);
    });
  }

  /** Moves the clock forward to `atMs` (if it is later than now). */
  advanceTo(atMs: number): Promise<void> {
    return this.advance(Math.max(0, atMs - this.nowMs()));
  }

  /** Cancels every pending timer; later ones never run. */
  dispose(): void {
    this.disposed = true;
    for (const timer of this.pending) if (timer.handle !== undefined) clearTimeout(timer.handle);
    this.pending.clear();
  }

  private arm(timer: PendingTimer, delayMs: number): void {
    // setTimeout waits at most ~24.8 days; a longer wait re-arms when it ends.
    const wait = Math.min(delayMs, 2 ** 31 - 1);
    timer.handle = setTimeout(() => {
      timer.handle = undefined;
      if (!this.pending.has(timer)) return;
      const late = timer.deadlineMs - this.nowMs();
      if (late > 0) return this.arm(timer, late);
      this.pending.delete(timer);
      timer.run();
    }, wait);
    timer.handle.unref();
  }
}
