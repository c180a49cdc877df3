/**
 * How keys map to partitions. The u64 partition-key space is split into N equal, contiguous ranges;
 * partition P owns range P and log P. Keyed services hash their key, so all invocations, state, locks
 * and promises of one object or workflow live in one partition.
 */

import { PartitionId, PartitionKey } from "./brand.js";
import { hash64 } from "./hash.js";

const KEY_SPACE = 1n << 64n;

export class PartitionTable {
  private readonly rangeSize: bigint;

  constructor(readonly partitionCount: number) {
    if (!Number.isInteger(partitionCount) || partitionCount < 1 || partitionCount > 65_535) {
      throw new RangeError(`partition count must be 1..65535, got ${partitionCount}`);
    }
    this.rangeSize = (KEY_SPACE + BigInt(partitionCount) - 1n) / BigInt(partitionCount);
  }

  partitionOf(key: PartitionKey): PartitionId {
    return PartitionId(Number(key / this.rangeSize));
  }

  /** Inclusive range of keys owned by a partition. */
  rangeOf(partition: PartitionId): { start: PartitionKey; end: PartitionKey } {
    const start = BigInt(partition) * this.rangeSize;
    const end = start + this.rangeSize - 1n;
    return {
      start: PartitionKey(start),
      end: PartitionKey(end < KEY_SPACE ? end : KEY_SPACE - 1n),
    };
  }
}

/** The partition key of a virtual-object key or workflow id. */
export function partitionKeyOf(key: string): PartitionKey {
  return PartitionKey(hash64(key));
}
