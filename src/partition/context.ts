/**
 * The context of applying one record: the tables of the open batch, the actions collected so far,
 * the record's time (the proposing leader's clock, identical on every replica) and the partition's
 * identity. Lifecycle and command handlers receive it; none keeps it beyond the call.
 */

import { type PartitionId, type PartitionTable } from "../core/index.js";
import type { OutboxMessage, PartitionFsm } from "../gen/keel/records.js";
import type { Action } from "./actions.js";
import type { Tables } from "../partition-store/index.js";

export interface ApplyContext {
  readonly tables: Tables;
  readonly actions: Action[];
  readonly fsm: PartitionFsm;
  /** The record's timestamp. */
  readonly nowMs: number;
  readonly requestId: number;
  readonly partitionId: PartitionId;
  readonly partitionTable: PartitionTable;
  /** Applies a message addressed to this partition at once, as if it had arrived in a record. */
  readonly applyLocally: (message: OutboxMessage) => void;
}
