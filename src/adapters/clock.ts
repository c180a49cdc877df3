/**
 * The process clock behind the `Clock` port: monotonic milliseconds and Node timers. Timers are
 * unref'd, so a pending tick never keeps a process alive on its own (sockets and servers do).
 */

import type { Clock } from "../runtime/ports.js";

export const systemClock: Clock = {
  nowMs: () => performance.now(),
  setTimer(delayMs, run) {
    const timer = setTimeout(run, delayMs);
    timer.unref();
    return () => clearTimeout(timer);
  },
  defer: (run) => queueMicrotask(run),
};
