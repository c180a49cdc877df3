/**
 * The invoker's queue of invocations waiting for a free attempt slot, in two lanes served in turn:
 * the backlog found when a partition was taken over (after a restart or failover, possibly
 * thousands at once), and everything else (new invocations, resumptions, retries). With one lane, a
 * call arriving after a restart waited for every recovered invocation ahead of it: 8 s behind
 * 10,000 of them in the recovery benchmark. Each lane is first in, first out.
 */

import { Fifo } from "../core/fifo.js";

export type Lane = "takeover" | "live";

export class InvokerQueue<T> {
  private readonly takeover = new Fifo<T>();
  private readonly live = new Fifo<T>();
  private takeoverTurn = false;

  get length(): number {
    return this.takeover.length + this.live.length;
  }

  push(item: T, lane: Lane): void {
    (lane === "takeover" ? this.takeover : this.live).push(item);
  }

  /** The next item, from the lanes in turn while both hold some; undefined when both are empty. */
  shift(): T | undefined {
    this.takeoverTurn = !this.takeoverTurn;
    return this.takeoverTurn
      ? (this.takeover.shift() ?? this.live.shift())
      : (this.live.shift() ?? this.takeover.shift());
  }

  removeWhere(drop: (item: T) => boolean): void {
    this.takeover.removeWhere(drop);
    this.live.removeWhere(drop);
  }
}
