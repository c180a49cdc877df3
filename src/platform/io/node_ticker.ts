/** The Ticker port on Node timers: logical time for the metadata store's drivers. */

import type { Ticker } from "../../metadata-server/index.js";

export const nodeTicker: Ticker = {
  every(intervalMs: number, onTick: () => void): () => void {
    const timer = setInterval(onTick, intervalMs);
    return () => clearInterval(timer);
  },
};
