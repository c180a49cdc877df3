/**
 * The replicated metadata store's commands (what a Raft entry of kind "command" carries) and their
 * results, with their binary encodings.
 *
 * Writes are exactly-once through client sessions (Raft dissertation §6.3): a client opens a session
 * (its id is the log index of the openSession entry, unique for ever), numbers its writes, and retries
 * a write with the same number until it gets an answer. The state machine remembers each session's
 * results, so a write that was applied before its answer was lost is answered again, not re-applied.
 * `ackedBelow` tells the state machine which results the client no longer needs.
 */

import { type Version, Version as toVersion, assertNever } from "../core/index.js";
import { RAFT_CODEC_FORMAT } from "./raft/codec.js";
import { ByteReader, ByteWriter, DecodeError } from "../wire/index.js";
import type { Precondition } from "../metadata/index.js";

export type WriteOp =
  | {
      readonly kind: "put";
      readonly key: string;
      readonly value: Uint8Array;
      readonly precondition: Precondition;
    }
  | { readonly kind: "delete"; readonly key: string; readonly precondition: Precondition };

export type Command =
  | { readonly kind: "openSession" }
  | {
      readonly kind: "write";
      readonly sessionId: number;
      readonly seq: number;
      /** The client holds the answers of every write of this session numbered below this. */
      readonly ackedBelow: number;
      readonly op: WriteOp;
    };

export type WriteResult =
  | { readonly kind: "put"; readonly version: Version }
  | { readonly kind: "deleted" }
  | { readonly kind: "preconditionFailed"; readonly currentVersion: Version | undefined }
  /** The session is unknown (evicted, or never opened): the write was not applied by this entry. */
  | { readonly kind: "sessionExpired" };

export type CommandResult =
  { readonly kind: "sessionOpened"; readonly sessionId: number } | WriteResult;

export function writePrecondition(out: ByteWriter, precondition: Precondition): void {
  switch (precondition.kind) {
    case "none":
      out.u53(0);
      return;
    case "mustNotExist":
      out.u53(1);
      return;
    case "matchesVersion":
      out.u53(2).u53(precondition.version);
      return;
    default:
      assertNever(precondition, "precondition");
  }
}

export function readPrecondition(input: ByteReader): Precondition {
  const kind = input.u53();
  if (kind === 0) return { kind: "none" };
  if (kind === 1) return { kind: "mustNotExist" };
  if (kind === 2) return { kind: "matchesVersion", version: toVersion(input.u53()) };
  throw new DecodeError(`precondition of unknown kind ${kind}`);
}

export function writeWriteOp(out: ByteWriter, op: WriteOp): void {
  out.u53(op.kind === "put" ? 0 : 1).string(op.key);
  writePrecondition(out, op.precondition);
  if (op.kind === "put") out.bytes(op.value);
}

export function readWriteOp(input: ByteReader): WriteOp {
  const kind = input.u53();
  const key = input.string();
  const precondition = readPrecondition(input);
  if (kind === 0) return { kind: "put", key, precondition, value: input.bytes() };
  if (kind === 1) return { kind: "delete", key, precondition };
  throw new DecodeError(`write of unknown kind ${kind}`);
}

export function encodeCommand(command: Command): Uint8Array {
  const out = new ByteWriter().u32(RAFT_CODEC_FORMAT);
  switch (command.kind) {
    case "openSession":
      out.u53(0);
      break;
    case "write":
      out.u53(1).u53(command.sessionId).u53(command.seq).u53(command.ackedBelow);
      writeWriteOp(out, command.op);
      break;
    default:
      assertNever(command, "command");
  }
  return out.finish();
}

export function decodeCommand(bytes: Uint8Array): Command {
  const input = new ByteReader(bytes, "metadata command");
  input.version(RAFT_CODEC_FORMAT);
  const kind = input.u53();
  let command: Command;
  if (kind === 0) {
    command = { kind: "openSession" };
  } else if (kind === 1) {
    const sessionId = input.u53();
    const seq = input.u53();
    const ackedBelow = input.u53();
    command = { kind: "write", sessionId, seq, ackedBelow, op: readWriteOp(input) };
  } else {
    throw new DecodeError(`command of unknown kind ${kind}`);
  }
  input.end();
  return command;
}

const NO_VERSION = 0;

export function writeWriteResult(out: ByteWriter, result: WriteResult): void {
  switch (result.kind) {
    case "put":
      out.u53(0).u53(result.version);
      return;
    case "deleted":
      out.u53(1);
      return;
    case "preconditionFailed":
      out.u53(2).u53(result.currentVersion ?? NO_VERSION);
      return;
    case "sessionExpired":
      out.u53(3);
      return;
    default:
      assertNever(result, "write result");
  }
}

export function readWriteResult(input: ByteReader): WriteResult {
  const kind = input.u53();
  if (kind === 0) return { kind: "put", version: toVersion(input.u53()) };
  if (kind === 1) return { kind: "deleted" };
  if (kind === 2) {
    const version = input.u53();
    return {
      kind: "preconditionFailed",
      currentVersion: version === NO_VERSION ? undefined : toVersion(version),
    };
  }
  if (kind === 3) return { kind: "sessionExpired" };
  throw new DecodeError(`write result of unknown kind ${kind}`);
}
