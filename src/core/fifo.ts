/**
 * A first-in first-out queue on a ring buffer: `push` and `shift` in constant time at any length.
 *
 * Why not an array's `shift`: V8 moves an array's start in place only while it may (not in large
 * object space, not during incremental marking); otherwise every `shift` copies the whole backing
 * store. The invoker's queue holds thousands of waiting invocations under a burst of one-way sends,
 * and its `shift` showed up in the node's profile.
 */
export class Fifo<T> {
  private slots: (T | undefined)[];
  private head = 0;
  private count = 0;

  constructor(initialCapacity = 16) {
    this.slots = new Array<T | undefined>(Math.max(1, initialCapacity));
  }

  get length(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.count === this.slots.length) this.grow();
    this.slots[(this.head + this.count) % this.slots.length] = item;
    this.count++;
  }

  /** The oldest item, kept; undefined when empty. */
  peek(): T | undefined {
    return this.count === 0 ? undefined : this.slots[this.head];
  }

  /** The oldest item, removed; undefined when empty. */
  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.slots[this.head];
    this.slots[this.head] = undefined;
    this.head = (this.head + 1) % this.slots.length;
    this.count--;
    return item;
  }

  /** Removes every item for which `drop` answers true, keeping the order of the rest (linear). */
  removeWhere(drop: (item: T) => boolean): void {
    const kept: T[] = [];
    for (let i = 0; i < this.count; i++) {
      const item = this.slots[(this.head + i) % this.slots.length] as T;
      if (!drop(item)) kept.push(item);
    }
    this.slots.fill(undefined);
    this.head = 0;
    this.count = 0;
    for (const item of kept) this.push(item);
  }

  private grow(): void {
    const next = new Array<T | undefined>(this.slots.length * 2);
    for (let i = 0; i < this.count; i++) next[i] = this.slots[(this.head + i) % this.slots.length];
    this.slots = next;
    this.head = 0;
  }
}
