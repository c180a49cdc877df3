/**
 * Vocabulary of the replicated loglet: loglet ids, loglet params, ballots, offset ranges.
 *
 * - A `LogletId` names the loglet of one segment of one log: `<logId>_<segmentIndex>`.
 * - `LogletParams` are fixed when the segment is created and stored (as JSON) in the log's chain:
 *   the sequencer (one incarnation of one node), the nodeset and the replication property.
 * - A `Ballot` orders attempts to decide a sealed loglet's final tail (see tail_coordinator.ts). It
 *   includes the coordinator's node and generation, so two attempts never share a ballot.
 * - Offset ranges are half-open: `[first, end)`.
 */

import {
  assert,
  type Brand,
  formatGenerationalNodeId,
  NodeId,
  parseGenerationalNodeId,
  type GenerationalNodeId,
} from "../../core/index.js";
import { parseReplication, replicationToJson, type ReplicationProperty } from "./replication.js";

export type LogletId = Brand<string, "LogletId">;

export function logletIdOf(logId: number, segmentIndex: number): LogletId {
  assert(Number.isSafeInteger(logId) && logId >= 0, `log id must be a u32: ${logId}`);
  assert(
    Number.isSafeInteger(segmentIndex) && segmentIndex >= 0,
    `segment index must be a u32: ${segmentIndex}`,
  );
  return `${logId}_${segmentIndex}` as LogletId;
}

export function parseLogletId(text: string): LogletId | undefined {
  return /^\d{1,10}_\d{1,10}$/.test(text) ? (text as LogletId) : undefined;
}

export interface LogletParams {
  readonly logletId: LogletId;
  readonly sequencer: GenerationalNodeId;
  /** Sorted, distinct. */
  readonly nodeset: readonly NodeId[];
  readonly replication: ReplicationProperty;
}

/** The JSON kept in a segment's `LogletConfig.params`. */
export function formatLogletParams(params: LogletParams): string {
  return JSON.stringify({
    loglet_id: params.logletId,
    sequencer: formatGenerationalNodeId(params.sequencer),
    nodeset: params.nodeset,
    replication: replicationToJson(params.replication),
  });
}

/** Parses and validates loglet params JSON; throws TypeError with what was wrong. */
export function parseLogletParams(json: string): LogletParams {
  const raw = JSON.parse(json) as Record<string, unknown>;
  const logletId = typeof raw.loglet_id === "string" ? parseLogletId(raw.loglet_id) : undefined;
  if (logletId === undefined)
    throw new TypeError(`loglet params: bad loglet_id ${String(raw.loglet_id)}`);
  const sequencer =
    typeof raw.sequencer === "string" ? parseGenerationalNodeId(raw.sequencer) : undefined;
  if (sequencer === undefined) {
    throw new TypeError(
      `loglet params: sequencer must look like N1:2, found ${String(raw.sequencer)}`,
    );
  }
  if (!Array.isArray(raw.nodeset) || raw.nodeset.length === 0) {
    throw new TypeError("loglet params: nodeset must be a non-empty array of node ids");
  }
  const nodeset = [...new Set(raw.nodeset.map((n) => NodeId(Number(n))))].sort((a, b) => a - b);
  const replication = parseReplication(raw.replication);
  if (replication.node > nodeset.length) {
    throw new TypeError(
      `loglet params: ${replication.node} copies cannot fit a nodeset of ${nodeset.length}`,
    );
  }
  return { logletId, sequencer, nodeset, replication };
}

export interface Ballot {
  readonly round: number;
  readonly node: NodeId;
  readonly generation: number;
}

export const ZERO_BALLOT: Ballot = { round: 0, node: NodeId(0), generation: 0 };

export function compareBallots(a: Ballot, b: Ballot): number {
  if (a.round !== b.round) return a.round - b.round;
  if (a.node !== b.node) return a.node - b.node;
  return a.generation - b.generation;
}

export function formatBallot(b: Ballot): string {
  return `${b.round}/N${b.node}:${b.generation}`;
}

/** A half-open offset range `[first, end)`. */
export interface OffsetRange {
  readonly first: number;
  readonly end: number;
}

/** Adds a range to a sorted list of disjoint ranges, merging neighbours. Returns a new list. */
export function addRange(ranges: readonly OffsetRange[], range: OffsetRange): OffsetRange[] {
  assert(range.first < range.end, `empty range [${range.first}, ${range.end})`);
  const out: OffsetRange[] = [];
  let merged = range;
  let placed = false;
  for (const r of ranges) {
    if (r.end < merged.first) {
      out.push(r);
    } else if (merged.end < r.first) {
      if (!placed) {
        out.push(merged);
        placed = true;
      }
      out.push(r);
    } else {
      merged = { first: Math.min(r.first, merged.first), end: Math.max(r.end, merged.end) };
    }
  }
  if (!placed) out.push(merged);
  return out;
}

/** Drops everything below `offset` from a sorted list of ranges. */
export function dropBelow(ranges: readonly OffsetRange[], offset: number): OffsetRange[] {
  const out: OffsetRange[] = [];
  for (const r of ranges) {
    if (r.end <= offset) continue;
    out.push(r.first < offset ? { first: offset, end: r.end } : r);
  }
  return out;
}

/** The range of `ranges` that contains `offset`, if any. */
export function rangeContaining(
  ranges: readonly OffsetRange[],
  offset: number,
): OffsetRange | undefined {
  return ranges.find((r) => r.first <= offset && offset < r.end);
}
