/**
 * What a test does with the node's time: read it, move it forward by a duration, or move it to the
 * next sleep or delayed call a handler has set. Moving it fires every durable timer it passes
 * (sleeps, delayed calls, the retention of completed invocations) and whatever else the node timed
 * (an attempt's inactivity timeout, a retry's back-off), as a jump of the wall clock would.
 */

import { parseDuration } from "../core/index.js";
import { TIMER_PREFIX, timerWakeAt } from "../partition-store/index.js";
import type { KeelNode } from "../node/index.js";
import type { TestClock } from "./clock.js";

/** Milliseconds, text (`"1 day"`, `"90s"`, `"PT1H"`) or the SDK's `{ days, hours, … }`. */
export type TestDuration =
  | number
  | string
  | {
      days?: number;
      hours?: number;
      minutes?: number;
      seconds?: number;
      milliseconds?: number;
    };

const SKIP_WAIT_MS_DEFAULT = 10_000;
const SKIP_POLL_MS = 5;
const TIMER_SCAN_ROWS = 256;

export class EnvironmentClock {
  constructor(
    private readonly clock: TestClock,
    private readonly node: KeelNode,
  ) {}

  /** The node's time, in milliseconds since the Unix epoch. */
  now(): number {
    return this.clock.nowMs();
  }

  /**
   * Moves the node's clock forward. Timers due by then fire: those already set. A handler that has
   * not reached its `ctx.sleep` yet sets it afterwards, counted from the new time; to wait for it
   * first, use `skipToNextTimer()`.
   */
  advance(duration: TestDuration): Promise<void> {
    return this.clock.advance(toMillis(duration));
  }

  /**
   * Waits until a handler's sleep or delayed call is set that is not due yet (up to `timeoutMs`,
   * default 10 s), then moves the clock to its wake-up time, firing it and every timer before it.
   * Resolves with the time reached. Retention timers are not waited for (only passed).
   */
  async skipToNextTimer(options: { timeoutMs?: number } = {}): Promise<number> {
    const timeoutMs = options.timeoutMs ?? SKIP_WAIT_MS_DEFAULT;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const wakeAt = this.nextHandlerTimer();
      if (wakeAt !== undefined) {
        await this.clock.advanceTo(wakeAt);
        return wakeAt;
      }
      if (Date.now() > deadline)
        throw new Error(
          `no handler set a sleep or a delayed call within ${timeoutMs} ms (skipToNextTimer)`,
        );
      await new Promise((resolve) => setTimeout(resolve, SKIP_POLL_MS));
    }
  }

  /** The earliest wake-up time, later than now, of a sleep or delayed call on any partition. */
  private nextHandlerTimer(): number | undefined {
    const now = this.clock.nowMs();
    let earliest: number | undefined;
    for (const processor of this.node.partitionProcessors) {
      const reader = processor.reader();
      let after: string | undefined;
      scan: for (;;) {
        const rows = reader.scan(TIMER_PREFIX, TIMER_SCAN_ROWS, after);
        for (const [key] of rows) {
          const wakeAt = timerWakeAt(key);
          if (earliest !== undefined && wakeAt >= earliest) break scan;
          if (wakeAt > now && isHandlerTimer(key)) {
            earliest = wakeAt;
            break scan;
          }
        }
        if (rows.length < TIMER_SCAN_ROWS) break;
        after = rows[rows.length - 1]![0];
      }
    }
    return earliest;
  }
}

/** Timer keys are `t/<wake>/<kind>/…`; sleeps and delayed calls are the handlers' own. */
function isHandlerTimer(key: string): boolean {
  const kind = key.slice(TIMER_PREFIX.length).split("/")[1];
  return kind === "sleep" || kind === "delayed";
}

export function toMillis(duration: TestDuration): number {
  if (typeof duration === "number") return duration;
  if (typeof duration === "string") {
    const ms = parseDuration(duration);
    if (ms === undefined)
      throw new RangeError(
        `expected a duration such as "1 day", "90s" or "PT1H", found ${JSON.stringify(duration)}`,
      );
    return ms;
  }
  return (
    (duration.days ?? 0) * 86_400_000 +
    (duration.hours ?? 0) * 3_600_000 +
    (duration.minutes ?? 0) * 60_000 +
    (duration.seconds ?? 0) * 1000 +
    (duration.milliseconds ?? 0)
  );
}
