/**
 * The invoker's queue of invocations waiting for a free attempt slot, in three lanes served in turn:
 * the backlog found when a partition was taken over (after a restart or failover, possibly
 * thousands at once); invocations a caller waits for (calls, requests at the ingress, resumptions
 * of those); and invocations nobody waits for (one-way sends, delayed sends). With one lane, a call
 * arriving after a restart waited for every recovered invocation ahead of it: 8 s behind 10,000 of
 * them in the recovery benchmark; likewise behind a burst of one-way sends. The invoker may hold the
 * background lane back (see `Invoker`); the other lanes are then served in turn alone. Each lane is
 * first in, first out.
 */

import { Fifo } from "../core/index.js";

export type Lane = "takeover" | "awaited" | "background";

const LANES: readonly Lane[] = ["takeover", "awaited", "background"];

export class InvokerQueue<T> {
  private readonly lanes: Record<Lane, Fifo<T>> = {
    takeover: new Fifo<T>(),
    awaited: new Fifo<T>(),
    background: new Fifo<T>(),
  };
  /** The lane whose turn is next. */
  private turn = 0;

  get length(): number {
    return this.lanes.takeover.length + this.lanes.awaited.length + this.lanes.background.length;
  }

  /** Items waiting in one lane. */
  waiting(lane: Lane): number {
    return this.lanes[lane].length;
  }

  push(item: T, lane: Lane): void {
    this.lanes[lane].push(item);
  }

  /**
   * The next item, from the lanes in turn while several hold some (skipping the background lane when
   * `holdBackground`); undefined when every lane that may be served is empty.
   */
  shift(holdBackground = false): T | undefined {
    for (let i = 0; i < LANES.length; i++) {
      const index = (this.turn + i) % LANES.length;
      const lane = LANES[index]!;
      if (holdBackground && lane === "background") continue;
      const item = this.lanes[lane].shift();
      if (item === undefined) continue;
      this.turn = (index + 1) % LANES.length;
      return item;
    }
    return undefined;
  }

  removeWhere(drop: (item: T) => boolean): void {
    for (const lane of LANES) this.lanes[lane].removeWhere(drop);
  }
}
