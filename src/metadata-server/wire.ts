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
import {
  CodecError,
  Decoder,
  Encoder,
  RAFT_CODEC_FORMAT,
  readRaftMessage,
  writeRaftMessage,
} from "./raft/codec.js";
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

function writeRequest(out: Encoder, request: ClientRequest): void {
  out.number(REQUEST_KINDS.indexOf(request.kind));
  switch (request.kind) {
    case "get":
      out.text(request.key);
      return;
    case "status":
      return;
    case "propose":
      out.bytes(encodeCommand(request.command));
      return;
    case "join":
      out.number(request.member).text(request.address);
      return;
    default:
      assertNever(request, "client request");
  }
}

function readRequest(input: Decoder): ClientRequest {
  const kind = REQUEST_KINDS[input.number()];
  if (kind === undefined) throw new CodecError("client request of unknown kind");
  switch (kind) {
    case "get":
      return { kind, key: input.text() };
    case "status":
      return { kind };
    case "propose":
      return { kind, command: decodeCommand(input.bytes()) };
    case "join":
      return { kind, member: MemberId(input.number()), address: input.text() };
  }
}

function writeIds(out: Encoder, ids: readonly MemberId[]): void {
  out.number(ids.length);
  for (const id of ids) out.number(id);
}

function readIds(input: Decoder): MemberId[] {
  const ids: MemberId[] = [];
  for (let n = input.count(); n > 0; n--) ids.push(MemberId(input.number()));
  return ids;
}

function writeResponse(out: Encoder, response: ServerResponse): void {
  out.number(RESPONSE_KINDS.indexOf(response.kind));
  switch (response.kind) {
    case "notLeader":
      out.number(response.leader).text(response.leaderAddress);
      return;
    case "retry":
    case "joinPending":
      out.text(response.reason);
      return;
    case "value":
      out.flag(response.value !== undefined);
      if (response.value !== undefined)
        out.bytes(response.value.value).number(response.value.version);
      return;
    case "sessionOpened":
      out.number(response.sessionId);
      return;
    case "writeResult":
      writeWriteResult(out, response.result);
      return;
    case "joined":
      return;
    case "status": {
      const s = response.status;
      out.number(s.member).number(ROLES.indexOf(s.role)).number(s.term).number(s.leader);
      out.number(s.commit).number(s.applied);
      writeIds(out, s.voters);
      writeIds(out, s.learners);
      return;
    }
    default:
      assertNever(response, "server response");
  }
}

function readResponse(input: Decoder): ServerResponse {
  const kind = RESPONSE_KINDS[input.number()];
  if (kind === undefined) throw new CodecError("server response of unknown kind");
  switch (kind) {
    case "notLeader":
      return { kind, leader: MemberId(input.number()), leaderAddress: input.text() };
    case "retry":
    case "joinPending":
      return { kind, reason: input.text() };
    case "value": {
      if (!input.flag()) return { kind, value: undefined };
      const value = input.bytes();
      return { kind, value: { value, version: Version(input.number()) } };
    }
    case "sessionOpened":
      return { kind, sessionId: input.number() };
    case "writeResult":
      return { kind, result: readWriteResult(input) };
    case "joined":
      return { kind };
    case "status": {
      const member = MemberId(input.number());
      const role = ROLES[input.number()];
      if (role === undefined) throw new CodecError("status: unknown role");
      const term = Term(input.number());
      const leader = MemberId(input.number());
      const commit = LogIndex(input.number());
      const applied = LogIndex(input.number());
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
  const out = new Encoder().number(RAFT_CODEC_FORMAT).text(envelope.from);
  const message = envelope.message;
  switch (message.kind) {
    case "raft":
      out.number(0);
      writeRaftMessage(out, message.message);
      break;
    case "request":
      out.number(1).number(message.requestId);
      writeRequest(out, message.request);
      break;
    case "response":
      out.number(2).number(message.requestId);
      writeResponse(out, message.response);
      break;
    default:
      assertNever(message, "metadata message");
  }
  return out.finish();
}

/** Decodes an envelope; throws CodecError on anything malformed (drop the message then). */
export function decodeEnvelope(bytes: Uint8Array): Envelope {
  const input = new Decoder(bytes, "metadata envelope");
  input.format(RAFT_CODEC_FORMAT);
  const from = input.text();
  const kind = input.number();
  let message: MetadataMessage;
  if (kind === 0) message = { kind: "raft", message: readRaftMessage(input) };
  else if (kind === 1) {
    const requestId = input.number();
    message = { kind: "request", requestId, request: readRequest(input) };
  } else if (kind === 2) {
    const requestId = input.number();
    message = { kind: "response", requestId, response: readResponse(input) };
  } else throw new CodecError(`metadata message of unknown kind ${kind}`);
  input.done();
  return { from, message };
}
