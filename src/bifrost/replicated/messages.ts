/**
 * The messages of the replicated loglet protocol. Every message names its loglet and carries the
 * sender's **known global tail** (the first offset not known to be committed), so tail knowledge
 * spreads with ordinary traffic; every log-server answer also carries the server's local tail and
 * seal flag.
 *
 * Requests go to log servers (store, prepare, accept, get records, get info, trim) or to a sequencer
 * (append, get tail) and each has one response kind. Notices (release, decided) are one-way.
 * Encoding: codec.ts.
 */

import type { GenerationalNodeId } from "../../core/index.js";
import { NodeService } from "../../net/index.js";
import type { Ballot, LogletId, OffsetRange } from "./types.js";

export interface RequestHeader {
  readonly logletId: LogletId;
  /** The sender's known global tail: every offset below it is committed. */
  readonly knownGlobalTail: number;
}

export interface ServerHeader {
  readonly logletId: LogletId;
  readonly knownGlobalTail: number;
  /** First offset after the last durable record the server holds (or after its trim point). */
  readonly localTail: number;
  readonly sealed: boolean;
}

export interface AcceptedTail {
  readonly ballot: Ballot;
  readonly tail: number;
}

export interface StoredRecord {
  readonly offset: number;
  readonly payload: Uint8Array;
}

/** Stores one batch. `repair` stores come from a tail repair and are accepted after a seal. */
export interface StoreRequest {
  readonly kind: "store";
  readonly header: RequestHeader;
  readonly sequencer: GenerationalNodeId;
  readonly first: number;
  readonly payloads: readonly Uint8Array[];
  readonly repair: boolean;
}

/** Seals the loglet on the server and asks it to promise the ballot (phase 1 of deciding the tail). */
export interface PrepareRequest {
  readonly kind: "prepare";
  readonly header: RequestHeader;
  readonly ballot: Ballot;
}

/** Asks the server to accept `tail` as the sealed tail under `ballot` (phase 2). */
export interface AcceptRequest {
  readonly kind: "accept";
  readonly header: RequestHeader;
  readonly ballot: Ballot;
  readonly tail: number;
}

/** Records held from `from` on, contiguous, below `toExclusive`. */
export interface GetRecordsRequest {
  readonly kind: "getRecords";
  readonly header: RequestHeader;
  readonly from: number;
  readonly toExclusive: number;
  readonly recordsMax: number;
  readonly bytesMax: number;
}

export interface GetInfoRequest {
  readonly kind: "getInfo";
  readonly header: RequestHeader;
}

export interface TrimRequest {
  readonly kind: "trim";
  readonly header: RequestHeader;
  readonly through: number;
}

export type LogServerRequest =
  StoreRequest | PrepareRequest | AcceptRequest | GetRecordsRequest | GetInfoRequest | TrimRequest;

/** The sequencer's committed tail, sent when it has been idle. */
export interface ReleaseNotice {
  readonly kind: "release";
  readonly header: RequestHeader;
}

/** The sealed tail was chosen (a write quorum accepted it); it never changes again. */
export interface DecidedNotice {
  readonly kind: "decided";
  readonly header: RequestHeader;
  readonly tail: number;
}

export type LogServerNotice = ReleaseNotice | DecidedNotice;

export type StoreStatus =
  | "ok"
  | "sealed"
  /** The store would leave a hole: `first` is above the server's local tail and known global tail. */
  | "outOfBounds"
  | "sequencerMismatch"
  /** The range is below the server's local tail but the server skipped it (it is committed). */
  | "stale"
  | "malformed";

export const STORE_STATUSES: readonly StoreStatus[] = [
  "ok",
  "sealed",
  "outOfBounds",
  "sequencerMismatch",
  "stale",
  "malformed",
];

export interface StoredResponse {
  readonly kind: "stored";
  readonly header: ServerHeader;
  readonly status: StoreStatus;
}

export interface PreparedResponse {
  readonly kind: "prepared";
  readonly header: ServerHeader;
  /** False when the server had promised a higher ballot (`promisedBallot`). */
  readonly promised: boolean;
  readonly promisedBallot: Ballot;
  readonly accepted: AcceptedTail | undefined;
  readonly chosenTail: number | undefined;
  readonly trimPoint: number;
  /** The batches the server holds at or above its known global tail (the digest for repair). */
  readonly batches: readonly OffsetRange[];
}

export interface AcceptReplyResponse {
  readonly kind: "acceptReply";
  readonly header: ServerHeader;
  readonly accepted: boolean;
  readonly promisedBallot: Ballot;
}

export interface RecordsResponse {
  readonly kind: "records";
  readonly header: ServerHeader;
  readonly trimPoint: number;
  /** Contiguous from the requested offset; empty when the server does not hold that offset. */
  readonly records: readonly StoredRecord[];
}

export interface InfoResponse {
  readonly kind: "info";
  readonly header: ServerHeader;
  readonly trimPoint: number;
  readonly chosenTail: number | undefined;
}

export interface TrimmedResponse {
  readonly kind: "trimmed";
  readonly header: ServerHeader;
  readonly trimPoint: number;
}

export type LogServerResponse =
  | StoredResponse
  | PreparedResponse
  | AcceptReplyResponse
  | RecordsResponse
  | InfoResponse
  | TrimmedResponse;

export interface AppendRequest {
  readonly kind: "append";
  readonly logletId: LogletId;
  readonly payloads: readonly Uint8Array[];
}

export interface GetTailRequest {
  readonly kind: "getTail";
  readonly logletId: LogletId;
}

export type SequencerRequest = AppendRequest | GetTailRequest;

export type SequencerStatus = "ok" | "sealed" | "unavailable" | "notSequencer";
export const SEQUENCER_STATUSES: readonly SequencerStatus[] = [
  "ok",
  "sealed",
  "unavailable",
  "notSequencer",
];

export interface AppendedResponse {
  readonly kind: "appended";
  readonly logletId: LogletId;
  readonly status: SequencerStatus;
  /** The last offset of the batch when the status is ok, else 0. */
  readonly lastOffset: number;
  readonly knownGlobalTail: number;
  readonly sealed: boolean;
}

export interface TailResponse {
  readonly kind: "tail";
  readonly logletId: LogletId;
  readonly status: SequencerStatus;
  readonly knownGlobalTail: number;
  readonly sealed: boolean;
}

export type SequencerResponse = AppendedResponse | TailResponse;

export type LogletMessage =
  LogServerRequest | LogServerNotice | LogServerResponse | SequencerRequest | SequencerResponse;

/** The node service that takes `message`: the sequencer of its loglet, or log servers. */
export function serviceOfLogletMessage(message: LogletMessage): number {
  return message.kind === "append" || message.kind === "getTail"
    ? NodeService.loglet
    : NodeService.logServer;
}
