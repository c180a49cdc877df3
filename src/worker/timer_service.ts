/**
 * The leader's durable-timer service for one partition. Timers live in the partition store, ordered
 * by wake-up time (the key starts with it); this service keeps at most `timersInMemoryMax` of the
 * earliest in memory, arms one clock timer for the earliest, and asks the processor to append a
 * TimerFired record for each due timer. Applying that record deletes the timer, so a timer fires
 * once however often it is proposed (a proposal lost on failover is re-proposed by the next leader).
 *
 * Invariant: every stored timer with key ≤ `horizon` is in memory (or already proposed); when
 * `horizon` is undefined, every stored timer is.
 */

import { limits } from "../core/index.js";
import { TIMER_PREFIX, timerWakeAt, type PartitionReader } from "../partition-store/index.js";
import type { Cancel, Clock } from "../platform/index.js";

/** setTimeout cannot wait longer than ~24.8 days; longer waits re-arm. */
const ARM_DELAY_MS_MAX = 3_600_000;
/** After a failed proposal (disk full, leader change), due timers wait this long before retrying. */
const RETRY_DELAY_MS = 1000;

export class TimerService {
  private timers: { key: string; wakeAtMs: number }[] = [];
  private readonly proposed = new Set<string>();
  private horizon: string | undefined;
  private armed: { at: number; cancel: Cancel } | undefined;
  private running = false;
  private blockedUntilMs = 0;

  constructor(
    private readonly clock: Clock,
    private readonly reader: () => PartitionReader,
    /** Proposes TimerFired records; resolves when appended, rejects when the proposal failed. */
    private readonly fire: (keys: string[]) => Promise<void>,
    private readonly inMemoryMax = limits.timersInMemoryMax,
  ) {}

  start(): void {
    this.running = true;
    this.timers = [];
    this.proposed.clear();
    this.load(undefined);
    this.arm();
  }

  stop(): void {
    this.running = false;
    this.armed?.cancel();
    this.armed = undefined;
    this.timers = [];
    this.proposed.clear();
  }

  get size(): number {
    return this.timers.length;
  }

  /** A timer was registered by an applied record. */
  add(key: string, wakeAtMs: number): void {
    if (!this.running) return;
    if (this.horizon !== undefined && key > this.horizon) return; // loaded later, in order
    this.insert(key, wakeAtMs);
    if (this.timers.length > this.inMemoryMax) {
      const dropped = this.timers.pop()!;
      this.horizon = this.timers[this.timers.length - 1]?.key ?? dropped.key;
    }
    this.arm();
  }

  private insert(key: string, wakeAtMs: number): void {
    let lo = 0;
    let hi = this.timers.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.timers[mid]!.key < key) lo = mid + 1;
      else hi = mid;
    }
    if (this.timers[lo]?.key === key || this.proposed.has(key)) return;
    this.timers.splice(lo, 0, { key, wakeAtMs });
  }

  private load(after: string | undefined): void {
    const rows = this.reader().scan(TIMER_PREFIX, this.inMemoryMax, after);
    for (const [key] of rows) this.insert(key, timerWakeAt(key));
    this.horizon = rows.length >= this.inMemoryMax ? rows[rows.length - 1]![0] : undefined;
  }

  private arm(): void {
    if (!this.running) return;
    const first = this.timers[0];
    if (first === undefined) {
      if (this.horizon !== undefined) {
        this.load(this.horizon);
        if (this.timers.length > 0) this.arm();
      }
      return;
    }
    const fireAt = Math.max(first.wakeAtMs, this.blockedUntilMs);
    if (this.armed !== undefined && this.armed.at <= fireAt) return;
    this.armed?.cancel();
    const delay = Math.min(Math.max(0, fireAt - this.clock.nowMs()), ARM_DELAY_MS_MAX);
    const at = this.clock.nowMs() + delay;
    this.armed = { at, cancel: this.clock.setTimer(delay, () => this.onAlarm()) };
  }

  private onAlarm(): void {
    this.armed = undefined;
    if (!this.running) return;
    const now = this.clock.nowMs();
    if (now < this.blockedUntilMs) return this.arm();
    const due: string[] = [];
    while (this.timers.length > 0 && this.timers[0]!.wakeAtMs <= now) {
      const timer = this.timers.shift()!;
      due.push(timer.key);
      this.proposed.add(timer.key);
    }
    if (due.length > 0) {
      this.fire(due).then(
        () => {
          for (const key of due) this.proposed.delete(key);
        },
        () => {
          // Not appended (not leader any more, or the log refused): retry while still running.
          for (const key of due) this.proposed.delete(key);
          if (!this.running) return;
          for (const key of due) this.insert(key, timerWakeAt(key));
          this.blockedUntilMs = this.clock.nowMs() + RETRY_DELAY_MS;
          this.arm();
        },
      );
    }
    this.arm();
  }
}
