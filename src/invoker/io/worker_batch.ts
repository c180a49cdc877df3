/**
 * Messages for another thread, collected and posted as one array: a postMessage costs a structured
 * clone and a wake-up of the other thread, so a burst of messages should pay for it once.
 *
 * `flushAfter` picks the burst: "task" posts when the current callback and its promise chain are
 * done (lowest latency: the node's thread, where every proposal and notification waits on it);
 * "turn" posts once per event-loop turn (the endpoint worker, where one poll phase delivers reads
 * of many streams). Measured both ways on the benchmark: the split was best, within noise.
 */
export class OutboundBatch<T> {
  private messages: T[] = [];
  private scheduled = false;
  /** Runs just before a batch is posted, to add what was held back for coalescing. */
  beforeFlush: (() => void) | undefined;

  constructor(
    private readonly post: (batch: T[]) => void,
    private readonly flushAfter: "task" | "turn",
  ) {}

  push(message: T): void {
    this.messages.push(message);
    this.schedule();
  }

  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    if (this.flushAfter === "task") queueMicrotask(() => this.flush());
    else setImmediate(() => this.flush());
  }

  flush(): void {
    this.scheduled = false;
    this.beforeFlush?.();
    if (this.messages.length === 0) return;
    const batch = this.messages;
    this.messages = [];
    this.post(batch);
  }
}
