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
import { CodecError, Decoder, Encoder, RAFT_CODEC_FORMAT } from "./raft/codec.js";
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

export function writePrecondition(out: Encoder, precondition: Precondition): void {
  switch (precondition.kind) {
    case "none":
      out.number(0);
      return;
    case "mustNotExist":
      out.number(1);
      return;
    case "matchesVersion":
      out.number(2).number(precondition.version);
      return;
    default:
      assertNever(precondition, "precondition");
  }
}

export function readPrecondition(input: Decoder): Precondition {
  const kind = input.number();
  if (kind === 0) return { kind: "none" };
  if (kind === 1) return { kind: "mustNotExist" };
  if (kind === 2) return { kind: "matchesVersion", version: toVersion(input.number()) };
  throw new CodecError(`precondition of unknown kind ${kind}`);
}

export function writeWriteOp(out: Encoder, op: WriteOp): void {
  out.number(op.kind === "put" ? 0 : 1).text(op.key);
  writePrecondition(out, op.precondition);
  if (op.kind === "put") out.bytes(op.value);
}

export function readWriteOp(input: Decoder): WriteOp {
  const kind = input.number();
  const key = input.text();
  const precondition = readPrecondition(input);
  if (kind === 0) return { kind: "put", key, precondition, value: input.bytes() };
  if (kind === 1) return { kind: "delete", key, precondition };
  throw new CodecError(`write of unknown kind ${kind}`);
}

export function encodeCommand(command: Command): Uint8Array {
  const out = new Encoder().number(RAFT_CODEC_FORMAT);
  switch (command.kind) {
    case "openSession":
      out.number(0);
      break;
    case "write":
      out.number(1).number(command.sessionId).number(command.seq).number(command.ackedBelow);
      writeWriteOp(out, command.op);
      break;
    default:
      assertNever(command, "command");
  }
  return out.finish();
}

export function decodeCommand(bytes: Uint8Array): Command {
  const input = new Decoder(bytes, "metadata command");
  input.format(RAFT_CODEC_FORMAT);
  const kind = input.number();
  let command: Command;
  if (kind === 0) {
    command = { kind: "openSession" };
  } else if (kind === 1) {
    const sessionId = input.number();
    const seq = input.number();
    const ackedBelow = input.number();
    command = { kind: "write", sessionId, seq, ackedBelow, op: readWriteOp(input) };
  } else {
    throw new CodecError(`command of unknown kind ${kind}`);
  }
  input.done();
  return command;
}

const NO_VERSION = 0;

export function writeWriteResult(out: Encoder, result: WriteResult): void {
  switch (result.kind) {
    case "put":
      out.number(0).number(result.version);
      return;
    case "deleted":
      out.number(1);
      return;
    case "preconditionFailed":
      out.number(2).number(result.currentVersion ?? NO_VERSION);
      return;
    case "sessionExpired":
      out.number(3);
      return;
    default:
      assertNever(result, "write result");
  }
}

export function readWriteResult(input: Decoder): WriteResult {
  const kind = input.number();
  if (kind === 0) return { kind: "put", version: toVersion(input.number()) };
  if (kind === 1) return { kind: "deleted" };
  if (kind === 2) {
    const version = input.number();
    return {
      kind: "preconditionFailed",
      currentVersion: version === NO_VERSION ? undefined : toVersion(version),
    };
  }
  if (kind === 3) return { kind: "sessionExpired" };
  throw new CodecError(`write result of unknown kind ${kind}`);
}
