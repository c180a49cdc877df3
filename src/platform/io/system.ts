/** The real clock and entropy behind the runtime's ports (the logger: logger.ts). */

import { randomFillSync } from "node:crypto";
import type { Clock, Entropy } from "../index.js";

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
