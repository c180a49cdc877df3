/**
 * A simulated network between numbered nodes: each message is delivered after a random delay, or
 * dropped, or duplicated, per the fault settings; partitions cut links both ways. Delivery order
 * between two nodes is not preserved (random delays reorder), as on a real network with reconnects.
 */

import type { SimScheduler } from "./scheduler.js";

export interface NetworkFaults {
  dropProbability: number;
  duplicateProbability: number;
  delayMinMs: number;
  delayMaxMs: number;
}

export const RELIABLE_NETWORK: NetworkFaults = {
  dropProbability: 0,
  duplicateProbability: 0,
  delayMinMs: 1,
  delayMaxMs: 1,
};

export class SimNetwork<M> {
  private readonly handlers = new Map<number, (from: number, message: M) => void>();
  private readonly cut = new Set<string>();
  private readonly down = new Set<number>();
  private readonly detachListeners = new Set<(node: number) => void>();
  delivered = 0;
  dropped = 0;

  constructor(
    private readonly scheduler: SimScheduler,
    public faults: NetworkFaults,
  ) {}

  /** Registers (or replaces, after a restart) the handler of a node. */
  attach(node: number, handler: (from: number, message: M) => void): void {
    this.handlers.set(node, handler);
    this.down.delete(node);
  }

  /** A crashed node receives nothing until it attaches again; messages in flight to it are lost. */
  detach(node: number): void {
    this.handlers.delete(node);
    this.down.add(node);
    for (const listener of [...this.detachListeners]) listener(node);
  }

  /** Hears of every node that goes down (its connections are reset); returns the unsubscribe. */
  onDetach(listener: (node: number) => void): () => void {
    this.detachListeners.add(listener);
    return () => this.detachListeners.delete(listener);
  }

  send(from: number, to: number, message: M): void {
    const prng = this.scheduler.prng;
    if (prng.chance(this.faults.dropProbability)) {
      this.dropped++;
      return;
    }
    const copies = prng.chance(this.faults.duplicateProbability) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const span = this.faults.delayMaxMs - this.faults.delayMinMs;
      const delay = this.faults.delayMinMs + (span > 0 ? prng.nextInt(span + 1) : 0);
      this.scheduler.schedule(delay, () => this.deliver(from, to, message));
    }
  }

  /** Cuts the links between the two groups (both directions). */
  partition(a: readonly number[], b: readonly number[]): void {
    for (const x of a)
      for (const y of b) {
        this.cut.add(`${x}>${y}`);
        this.cut.add(`${y}>${x}`);
      }
  }

  heal(): void {
    this.cut.clear();
  }

  /** Restores every link of `node` (cuts between other nodes stay). */
  reconnect(node: number): void {
    for (const link of [...this.cut]) {
      const [from, to] = link.split(">").map(Number);
      if (from === node || to === node) this.cut.delete(link);
    }
  }

  /** Whether the node is down (crashed and not attached again). */
  isDown(node: number): boolean {
    return this.down.has(node);
  }

  isCut(from: number, to: number): boolean {
    return this.cut.has(`${from}>${to}`);
  }

  private deliver(from: number, to: number, message: M): void {
    // Links are checked at delivery: a partition that forms while a message is in flight drops it.
    if (this.isCut(from, to) || this.down.has(to)) {
      this.dropped++;
      return;
    }
    const handler = this.handlers.get(to);
    if (handler === undefined) {
      this.dropped++;
      return;
    }
    this.delivered++;
    handler(from, message);
  }
}
