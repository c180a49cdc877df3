import { concatBytes } from "../../core/index.js";

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
  /** Buffers that move to the other thread with the batch instead of being copied. */
  private transfer: ArrayBuffer[] = [];
  private scheduled = false;
  /** Runs just before a batch is posted, to add what was held back for coalescing. */
  beforeFlush: (() => void) | undefined;

  constructor(
    private readonly post: (batch: T[], transfer: ArrayBuffer[]) => void,
    private readonly flushAfter: "task" | "turn",
  ) {}

  /** `moved` buffers go to the other thread: they must not be used on this one afterwards. */
  push(message: T, moved: readonly ArrayBuffer[] = []): void {
    this.messages.push(message);
    for (const buffer of moved) this.transfer.push(buffer);
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
    const transfer = this.transfer;
    this.messages = [];
    this.transfer = [];
    this.post(batch, transfer);
  }
}

/**
 * Buffers at least this large move to the other thread rather than being copied: a copy of a large
 * message costs its size again on both threads until collected. Smaller ones are copied, which is
 * cheaper than detaching them.
 */
const MOVE_BYTES_MIN = 64 * 1024;

/** The buffer of `bytes` if it is worth moving (large, and `bytes` covers all of it). */
function movable(bytes: Uint8Array): ArrayBuffer | undefined {
  const buffer = bytes.buffer;
  return bytes.byteLength >= MOVE_BYTES_MIN &&
    buffer instanceof ArrayBuffer &&
    bytes.byteOffset === 0 &&
    bytes.byteLength === buffer.byteLength
    ? buffer
    : undefined;
}

/**
 * Buffers owned by this thread, ready to cross: runs of small or partial ones joined into one
 * buffer each (a view would carry its whole underlying buffer along), large whole ones kept as they
 * are and listed in `moved`, so crossing copies none of them.
 */
export function packForCrossing(buffers: readonly Uint8Array[]): {
  parts: Uint8Array[];
  moved: ArrayBuffer[];
} {
  const parts: Uint8Array[] = [];
  const moved: ArrayBuffer[] = [];
  let run: Uint8Array[] = [];
  const endRun = (): void => {
    if (run.length === 0) return;
    const only = run.length === 1 ? run[0]! : undefined;
    const whole = only !== undefined && only.byteLength === only.buffer.byteLength;
    const joined = whole ? only : concatBytes(run);
    parts.push(joined);
    const buffer = movable(joined);
    if (buffer !== undefined) moved.push(buffer);
    run = [];
  };
  for (const bytes of buffers) {
    const buffer = movable(bytes);
    if (buffer === undefined) {
      run.push(bytes);
      continue;
    }
    endRun();
    parts.push(bytes);
    moved.push(buffer);
  }
  endRun();
  return { parts, moved };
}
