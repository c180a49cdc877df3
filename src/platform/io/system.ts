/** The real clock, entropy and logger behind the runtime's ports. */

import { randomFillSync } from "node:crypto";
import type { Clock, Entropy, Logger } from "../index.js";

/** Wall-clock time and Node timers; timers are unref'd so a pending one never keeps a process alive. */
export const systemClock: Clock = {
  nowMs: () => Date.now(),
  setTimer(delayMs, run) {
    const timer = setTimeout(run, Math.max(0, delayMs));
    timer.unref();
    return () => clearTimeout(timer);
  },
  defer: (run) => queueMicrotask(run),
  deferAfterIo: (run) => void setImmediate(run),
};

/** Cryptographic randomness, drawn from the OS 4 KiB at a time (one system call, not one per id). */
export const systemEntropy: Entropy = (() => {
  const pool = new Uint8Array(4096);
  let used = pool.length;
  return {
    fill(target: Uint8Array): void {
      if (target.length > pool.length) {
        randomFillSync(target);
        return;
      }
      if (used + target.length > pool.length) {
        randomFillSync(pool);
        used = 0;
      }
      target.set(pool.subarray(used, used + target.length));
      used += target.length;
    },
  };
})();

export type LogLevel = "debug" | "info" | "warn" | "error";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** One line per event on stderr: time, level, message, then fields as JSON. */
export function consoleLogger(level: LogLevel, node: string): Logger {
  const write = (at: LogLevel, message: string, fields?: Record<string, unknown>): void => {
    if (ORDER[at] < ORDER[level]) return;
    const extra = fields === undefined ? "" : ` ${JSON.stringify(fields)}`;
    process.stderr.write(
      `${new Date().toISOString()} ${at.toUpperCase().padEnd(5)} [${node}] ${message}${extra}\n`,
    );
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
  };
}
