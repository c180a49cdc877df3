/**
 * Branded identifiers: one meaning per word. An `Lsn` can never be passed where a `LogletOffset` is
 * expected, nor a leader `Epoch` where a metadata `Version` is. See docs/GLOSSARY.md.
 */

declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Position of a record in a virtual log (a partition's log), starting at 1. */
export type Lsn = Brand<number, "Lsn">;
/** Position of a record inside one loglet (a segment of a log), starting at 1. */
export type LogletOffset = Brand<number, "LogletOffset">;
/** Identifies a log; partition P owns log P. */
export type LogId = Brand<number, "LogId">;
export type PartitionId = Brand<number, "PartitionId">;
/** u64 hash that places keys, workflows and invocations in a partition. */
export type PartitionKey = Brand<bigint, "PartitionKey">;
/** Leadership epoch of a partition, fencing stale leaders. */
export type LeaderEpoch = Brand<number, "LeaderEpoch">;
/** Version of a value in the metadata store, for compare-and-swap. */
export type Version = Brand<number, "Version">;

export const Lsn = (n: number): Lsn => n as Lsn;
export const LogletOffset = (n: number): LogletOffset => n as LogletOffset;
export const LogId = (n: number): LogId => n as LogId;
export const PartitionId = (n: number): PartitionId => n as PartitionId;
export const PartitionKey = (n: bigint): PartitionKey => n as PartitionKey;
export const LeaderEpoch = (n: number): LeaderEpoch => n as LeaderEpoch;
export const Version = (n: number): Version => n as Version;

/** The first valid LSN / offset; the tail of an empty log. */
export const LSN_OLDEST = Lsn(1);
export const OFFSET_OLDEST = LogletOffset(1);
