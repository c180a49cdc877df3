/**
 * Pumps a MetadataMember: ticks from a Ticker, envelopes from the transport, and for each batch it
 * sends what may go at once, persists, and only after storage confirms sends the rest. One batch is
 * persisted at a time, which is what groups many proposals into one fsync under load.
 *
 * Invariant: `member.persisted(batch)` is called exactly once per batch, after its work is durable.
 */

import { assert } from "../core/index.js";
import type { MemberBatch, MetadataMember, Outgoing } from "./member.js";
import type { MetadataTransport, RaftStorage, Ticker } from "./ports.js";

export class MetadataMemberDriver {
  private persisting: MemberBatch | undefined;
  private stopTicks: (() => void) | undefined;
  private stopped = false;

  constructor(
    readonly member: MetadataMember,
    private readonly transport: MetadataTransport,
    private readonly storage: RaftStorage,
    private readonly ticker: Ticker,
    private readonly tickIntervalMs: number,
    private readonly onFatal: (error: Error) => void,
  ) {
    assert(tickIntervalMs > 0, `tickIntervalMs must be positive: ${tickIntervalMs}`);
  }

  start(): void {
    this.transport.onReceive((envelope) => {
      if (this.stopped) return;
      this.member.receive(envelope);
      this.pump();
    });
    this.stopTicks = this.ticker.every(this.tickIntervalMs, () => {
      if (this.stopped) return;
      this.member.tick();
      this.pump();
    });
    this.pump();
  }

  stop(): void {
    this.stopped = true;
    this.stopTicks?.();
    this.transport.close();
    this.storage.close();
  }

  private pump(): void {
    while (!this.stopped && this.persisting === undefined && this.member.hasWork()) {
      const batch = this.member.nextBatch();
      this.send(batch.sendNow);
      if (batch.persist === undefined) {
        this.send(this.member.persisted(batch));
        continue;
      }
      this.persisting = batch;
      this.storage.persist(batch.persist, (error) => this.onPersisted(batch, error));
    }
  }

  private onPersisted(batch: MemberBatch, error: Error | undefined): void {
    if (this.stopped) return;
    assert(this.persisting === batch, "storage confirms the batch in flight");
    if (error !== undefined) {
      this.stop();
      this.onFatal(error);
      return;
    }
    this.persisting = undefined;
    this.send(this.member.persisted(batch));
    this.pump();
  }

  private send(out: readonly Outgoing[]): void {
    for (const { to, message } of out) {
      this.transport.send(to, { from: this.transport.address, message });
    }
  }
}
