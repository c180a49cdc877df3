/**
 * The loglet contract: what every log provider (memory, local, replicated) guarantees. One contract
 * test suite (test/contract/loglet_contract.ts) checks every provider.
 *
 * - Offsets start at 1 (OFFSET_OLDEST). The tail is the first unwritten offset, so an empty loglet has
 *   tail 1.
 * - `append(batch)` stores the batch in order and atomically with respect to readers, resolves with the
 *   offset of its last record once the records are durable (fsynced, or stored on a write quorum), and
 *   rejects with KeelError "sealed" once the loglet is sealed. Concurrent appends keep call order.
 * - `read(from, max)` returns what is readable now, in order, without waiting: records below the tail,
 *   or one trim gap covering trimmed offsets at and after `from`. It never returns an offset at or past
 *   the tail. An empty result means "nothing yet".
 * - `waitForTail(beyond)` resolves once the tail is greater than `beyond` or the loglet is sealed.
 * - `findTail()` reports `{offset, sealed}`; after a seal the tail never moves again.
 * - `seal()` is idempotent; every append started after it resolves fails with "sealed".
 * - `trim(through)` is inclusive and idempotent; trimming past the tail trims to the tail. Readers get a
 *   trim gap for trimmed offsets.
 */

import type { LogletOffset } from "../core/index.js";

export interface LogletTail {
  /** The first unwritten offset. */
  readonly offset: LogletOffset;
  readonly sealed: boolean;
}

export type LogletEntry =
  | { readonly kind: "record"; readonly offset: LogletOffset; readonly payload: Uint8Array }
  /** Offsets `from..to` (inclusive) were trimmed away. */
  | { readonly kind: "trimGap"; readonly from: LogletOffset; readonly to: LogletOffset };

export interface Loglet {
  append(payloads: readonly Uint8Array[]): Promise<LogletOffset>;
  read(from: LogletOffset, maxRecords: number): Promise<LogletEntry[]>;
  waitForTail(beyond: LogletOffset): Promise<LogletTail>;
  findTail(): Promise<LogletTail>;
  seal(): Promise<LogletTail>;
  trim(through: LogletOffset): Promise<void>;
  /** The last trimmed offset, or 0 when nothing was trimmed. */
  trimPoint(): Promise<number>;
  close(): Promise<void>;
}

/** Where a segment's loglet lives. `params` is provider-specific JSON. */
export interface LogletConfig {
  readonly provider: string;
  readonly params: string;
}

export interface LogletProvider {
  readonly name: string;
  /** Opens (creating if needed) the loglet of one segment of one log. */
  open(logId: number, segmentIndex: number, config: LogletConfig): Promise<Loglet>;
  close(): Promise<void>;
}
