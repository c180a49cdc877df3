/**
 * What metadata-store participants say to each other: Raft messages between members, and requests
 * and responses between clients (one in every node) and members. Every message travels in an
 * envelope naming the sender's address, so a member can answer a client it has never heard of and
 * learn how to reach a peer before the membership tells it.
 *
 * Request ids are chosen by the client and echoed in the response; a client ignores responses to
 * requests it no longer waits for (the network may duplicate and delay them).
 */

import { assertNever, Version } from "../core/index.js";
import {
  decodeCommand,
  encodeCommand,
  readWriteResult,
  writeWriteResult,
  type Command,
  type WriteResult,
} from "./commands.js";
import { RAFT_CODEC_FORMAT, readRaftMessage, writeRaftMessage } from "./raft/codec.js";
import { ByteReader, ByteWriter, DecodeError } from "../wire/index.js";
import { LogIndex, MemberId, Term, type RaftMessage, type Role } from "./raft/types.js";
import type { VersionedValue } from "../metadata/index.js";

export type ClientRequest =
  | { readonly kind: "get"; readonly key: string }
  /** A command for the leader to propose as is (open a session, or a numbered write). */
  | { readonly kind: "propose"; readonly command: Command }
  /** "Add me": a new member asks to become a learner, then a voter once it has caught up. */
  | { readonly kind: "join"; readonly member: MemberId; readonly address: string }
  | { readonly kind: "status" };

export interface MemberStatus {
  readonly member: MemberId;
  readonly role: Role;
  readonly term: Term;
  readonly leader: MemberId;
  readonly commit: LogIndex;
  readonly applied: LogIndex;
  readonly voters: readonly MemberId[];
  readonly learners: readonly MemberId[];
}

export type ServerResponse =
  /** This member does not lead; `leader` is its best guess (NO_MEMBER when it has none). */
  | { readonly kind: "notLeader"; readonly leader: MemberId; readonly leaderAddress: string }
  /** Try again later (leadership changed, overload, transfer). A write's outcome is unknown. */
  | { readonly kind: "retry"; readonly reason: string }
  | { readonly kind: "value"; readonly value: VersionedValue | undefined }
  | { readonly kind: "sessionOpened"; readonly sessionId: number }
  | { readonly kind: "writeResult"; readonly result: WriteResult }
  | { readonly kind: "joined" }
  | { readonly kind: "joinPending"; readonly reason: string }
  | { readonly kind: "status"; readonly status: MemberStatus };

export type MetadataMessage =
  | { readonly kind: "raft"; readonly message: RaftMessage }
  | { readonly kind: "request"; readonly requestId: number; readonly request: ClientRequest }
  | { readonly kind: "response"; readonly requestId: number; readonly response: ServerResponse };

export interface Envelope {
  /** The sender's address (a member's listen address, or a client's name). */
  readonly from: string;
  readonly message: MetadataMessage;
}

const REQUEST_KINDS: readonly ClientRequest["kind"][] = ["get", "propose", "join", "status"];
const RESPONSE_KINDS: readonly ServerResponse["kind"][] = [
  "notLeader",
  "retry",
  "value",
  "sessionOpened",
  "writeResult",
  "joined",
  "joinPending",
  "status",
];
const ROLES: readonly Role[] = ["follower", "preCandidate", "candidate", "leader"];

function writeRequest(out: ByteWriter, request: ClientRequest): void {
  out.u53(REQUEST_KINDS.indexOf(request.kind));
  switch (request.kind) {
    case "get":
      out.string(request.key);
      return;
    case "status":
      return;
    case "propose":
      out.bytes(encodeCommand(request.command));
      return;
    case "join":
      out.u53(request.member).string(request.address);
      return;
    default:
      assertNever(request, "client request");
  }
}

function readRequest(input: ByteReader): ClientRequest {
  const kind = REQUEST_KINDS[input.u53()];
  if (kind === undefined) throw new DecodeError("client request of unknown kind");
  switch (kind) {
    case "get":
      return { kind, key: input.string() };
    case "status":
      return { kind };
    case "propose":
      return { kind, command: decodeCommand(input.bytes()) };
    case "join":
      return { kind, member: MemberId(input.u53()), address: input.string() };
  }
}

function writeIds(out: ByteWriter, ids: readonly MemberId[]): void {
  out.count(ids.length);
  for (const id of ids) out.u53(id);
}

function readIds(input: ByteReader): MemberId[] {
  const ids: MemberId[] = [];
  for (let n = input.count(); n > 0; n--) ids.push(MemberId(input.u53()));
  return ids;
}

function writeResponse(out: ByteWriter, response: ServerResponse): void {
  out.u53(RESPONSE_KINDS.indexOf(response.kind));
  switch (response.kind) {
    case "notLeader":
      out.u53(response.leader).string(response.leaderAddress);
      return;
    case "retry":
    case "joinPending":
      out.string(response.reason);
      return;
    case "value":
      out.bool(response.value !== undefined);
      if (response.value !== undefined) out.bytes(response.value.value).u53(response.value.version);
      return;
    case "sessionOpened":
      out.u53(response.sessionId);
      return;
    case "writeResult":
      writeWriteResult(out, response.result);
      return;
    case "joined":
      return;
    case "status": {
      const s = response.status;
      out.u53(s.member).u53(ROLES.indexOf(s.role)).u53(s.term).u53(s.leader);
      out.u53(s.commit).u53(s.applied);
      writeIds(out, s.voters);
      writeIds(out, s.learners);
      return;
    }
    default:
      assertNever(response, "server response");
  }
}

function readResponse(input: ByteReader): ServerResponse {
  const kind = RESPONSE_KINDS[input.u53()];
  if (kind === undefined) throw new DecodeError("server response of unknown kind");
  switch (kind) {
    case "notLeader":
      return { kind, leader: MemberId(input.u53()), leaderAddress: input.string() };
    case "retry":
    case "joinPending":
      return { kind, reason: input.string() };
    case "value": {
      if (!input.bool()) return { kind, value: undefined };
      const value = input.bytes();
      return { kind, value: { value, version: Version(input.u53()) } };
    }
    case "sessionOpened":
      return { kind, sessionId: input.u53() };
    case "writeResult":
      return { kind, result: readWriteResult(input) };
    case "joined":
      return { kind };
    case "status": {
      const member = MemberId(input.u53());
      const role = ROLES[input.u53()];
      if (role === undefined) throw new DecodeError("status: unknown role");
      const term = Term(input.u53());
      const leader = MemberId(input.u53());
      const commit = LogIndex(input.u53());
      const applied = LogIndex(input.u53());
      const voters = readIds(input);
      const learners = readIds(input);
      return {
        kind,
        status: { member, role, term, leader, commit, applied, voters, learners },
      };
    }
  }
}

export function encodeEnvelope(envelope: Envelope): Uint8Array {
  const out = new ByteWriter().u32(RAFT_CODEC_FORMAT).string(envelope.from);
  const message = envelope.message;
  switch (message.kind) {
    case "raft":
      out.u53(0);
      writeRaftMessage(out, message.message);
      break;
    case "request":
      out.u53(1).u53(message.requestId);
      writeRequest(out, message.request);
      break;
    case "response":
      out.u53(2).u53(message.requestId);
      writeResponse(out, message.response);
      break;
    default:
      assertNever(message, "metadata message");
  }
  return out.finish();
}

/** Decodes an envelope; throws DecodeError on anything malformed (drop the message then). */
export function decodeEnvelope(bytes: Uint8Array): Envelope {
  const input = new ByteReader(bytes, "metadata envelope");
  input.version(RAFT_CODEC_FORMAT);
  const from = input.string();
  const kind = input.u53();
  let message: MetadataMessage;
  if (kind === 0) message = { kind: "raft", message: readRaftMessage(input) };
  else if (kind === 1) {
    const requestId = input.u53();
    message = { kind: "request", requestId, request: readRequest(input) };
  } else if (kind === 2) {
    const requestId = input.u53();
    message = { kind: "response", requestId, response: readResponse(input) };
  } else throw new DecodeError(`metadata message of unknown kind ${kind}`);
  input.end();
  return { from, message };
}
