/**
 * The memory loglet: the contract with no I/O. Used by tests, benchmarks of upper layers and the
 * simulator. "Durable" means "stored in this object".
 */

import { LogletOffset, OFFSET_OLDEST, KeelError } from "../core/index.js";
import type { Loglet, LogletConfig, LogletEntry, LogletProvider, LogletTail } from "./loglet.js";

export class MemoryLoglet implements Loglet {
  private readonly records: Uint8Array[] = []; // records[i] is offset trimmedThrough + 1 + i
  private trimmedThrough = 0;
  private sealed = false;
  private waiters: { beyond: number; resolve: (tail: LogletTail) => void }[] = [];

  private get tail(): number {
    return this.trimmedThrough + 1 + this.records.length;
  }

  private tailNow(): LogletTail {
    return { offset: LogletOffset(this.tail), sealed: this.sealed };
  }

  append(payloads: readonly Uint8Array[]): Promise<LogletOffset> {
    if (this.sealed) return Promise.reject(new KeelError("sealed", "the loglet is sealed", true));
    for (const payload of payloads) this.records.push(payload.slice());
    this.notify();
    return Promise.resolve(LogletOffset(this.tail - 1));
  }

  read(from: LogletOffset, maxRecords: number): Promise<LogletEntry[]> {
    const out: LogletEntry[] = [];
    let at = Math.max(from, OFFSET_OLDEST);
    if (at <= this.trimmedThrough) {
      out.push({ kind: "trimGap", from: LogletOffset(at), to: LogletOffset(this.trimmedThrough) });
      return Promise.resolve(out);
    }
    while (at < this.tail && out.length < maxRecords) {
      out.push({
        kind: "record",
        offset: LogletOffset(at),
        payload: this.records[at - this.trimmedThrough - 1]!,
      });
      at++;
    }
    return Promise.resolve(out);
  }

  waitForTail(beyond: LogletOffset): Promise<LogletTail> {
    if (this.tail > beyond || this.sealed) return Promise.resolve(this.tailNow());
    return new Promise((resolve) => this.waiters.push({ beyond, resolve }));
  }

  findTail(): Promise<LogletTail> {
    return Promise.resolve(this.tailNow());
  }

  seal(): Promise<LogletTail> {
    this.sealed = true;
    this.notify();
    return Promise.resolve(this.tailNow());
  }

  trim(through: LogletOffset): Promise<void> {
    const target = Math.min(through, this.tail - 1);
    if (target > this.trimmedThrough) {
      this.records.splice(0, target - this.trimmedThrough);
      this.trimmedThrough = target;
    }
    return Promise.resolve();
  }

  trimPoint(): Promise<number> {
    return Promise.resolve(this.trimmedThrough);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private notify(): void {
    const ready = this.waiters.filter((w) => this.tail > w.beyond || this.sealed);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => !(this.tail > w.beyond || this.sealed));
    const tail = this.tailNow();
    for (const waiter of ready) waiter.resolve(tail);
  }
}

/** Keeps memory loglets by (log, segment) so that reopening finds the same records. */
export class MemoryLogletProvider implements LogletProvider {
  readonly name = "memory";
  private readonly loglets = new Map<string, MemoryLoglet>();

  open(logId: number, segmentIndex: number, _config: LogletConfig): Promise<Loglet> {
    const key = `${logId}/${segmentIndex}`;
    let loglet = this.loglets.get(key);
    if (loglet === undefined) {
      loglet = new MemoryLoglet();
      this.loglets.set(key, loglet);
    }
    return Promise.resolve(loglet);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
