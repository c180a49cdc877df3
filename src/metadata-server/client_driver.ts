/**
 * Pumps a MetadataClientCore: ticks from a Ticker, envelopes from the transport, requests out, and
 * completions and watched-key changes to the caller's handlers. The promise-based store
 * (replicated_metadata_store.ts) and the simulator's clients both sit on it.
 */

import type { Change, ClientOp, Completion, MetadataClientCore } from "./client.js";
import type { MetadataTransport, Ticker } from "./ports.js";

export interface ClientHandlers {
  completed(completion: Completion): void;
  changed(change: Change): void;
}

export class MetadataClientDriver {
  private readonly stopTicks: () => void;
  private closed = false;

  constructor(
    readonly core: MetadataClientCore,
    private readonly transport: MetadataTransport,
    ticker: Ticker,
    tickIntervalMs: number,
    private readonly handlers: ClientHandlers,
  ) {
    transport.onReceive((envelope) => {
      if (this.closed) return;
      this.core.receive(envelope);
      this.flush();
    });
    this.stopTicks = ticker.every(tickIntervalMs, () => {
      if (this.closed) return;
      this.core.tick();
      this.flush();
    });
  }

  submit(op: ClientOp): number {
    const opId = this.core.submit(op);
    this.flush();
    return opId;
  }

  watch(key: string): void {
    this.core.watch(key);
    this.flush();
  }

  unwatch(key: string): void {
    this.core.unwatch(key);
  }

  noteVersion(key: string, version: number): void {
    this.core.noteVersion(key, version);
    this.flush();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopTicks();
    this.transport.close();
  }

  /** Sends what the core wants sent and hands out its completions and changes. */
  flush(): void {
    for (const { to, message } of this.core.takeOutgoing()) {
      this.transport.send(to, { from: this.transport.address, message });
    }
    for (const completion of this.core.takeCompletions()) this.handlers.completed(completion);
    for (const change of this.core.takeChanges()) this.handlers.changed(change);
  }
}
