/**
 * The node API carried to a partition's leader on another node (node transport service
 * `NodeService.partition`, messages in proto/keel/partition_rpc.proto): what to ask (`PartitionCall`),
 * how the leader runs it on its processor (`runOnProcessor`, also the local path), and how answers
 * and failures travel back. A failure is the leader's KeelError, raised again on the asking node with
 * its code, so "not_leader" there means what it means locally: ask the new leader.
 */

import { type PartitionId, InvocationId, KeelError, describeError } from "../core/index.js";
import {
  PartitionRequest,
  PartitionResponse,
  type AttachResult as WireAttachResult,
  type Outcome as WireOutcome,
} from "../gen/keel/partition_rpc.js";
import type { Dedup, OutboxMessage, ServiceInvocation } from "../gen/keel/records.js";
import type { Outcome } from "../partition/index.js";
import type { AttachResult, EnvelopeCommand, PartitionProcessor } from "../worker/index.js";
import type { InvocationTaskInfo } from "../invoker/index.js";
import { encodeMessage } from "../wire/index.js";

export type PartitionCall =
  | {
      readonly kind: "submit";
      readonly invocation: ServiceInvocation;
      readonly awaitResult: boolean;
    }
  | { readonly kind: "attach"; readonly id: InvocationId; readonly block: boolean }
  | { readonly kind: "request"; readonly command: EnvelopeCommand }
  | {
      readonly kind: "proposeApplied";
      readonly commands: readonly EnvelopeCommand[];
      /** One dedup tag per command (records from an outside producer), or none. */
      readonly dedup?: readonly Dedup[];
    }
  | {
      readonly kind: "shuffled";
      readonly source: PartitionId;
      readonly messages: readonly { seq: number; message: OutboxMessage }[];
    }
  | {
      readonly kind: "scan";
      readonly prefix: string;
      readonly limit: number;
      readonly startAfter: string | undefined;
    }
  | { readonly kind: "invocationInfos"; readonly ids: readonly InvocationId[] };

/** What a call answers: an outcome (submit, request), an attach result, or that it was done. */
export type PartitionAnswer =
  | { readonly kind: "outcome"; readonly outcome: Outcome; readonly completion?: AttachResult }
  | { readonly kind: "attach"; readonly result: AttachResult }
  | { readonly kind: "entries"; readonly entries: [string, Uint8Array][] }
  | { readonly kind: "invocationInfos"; readonly infos: ReadonlyMap<string, InvocationTaskInfo> }
  | { readonly kind: "done" };

/**
 * The bytes of values a scan answers with at most (past the first entry, which always goes): a
 * chunk must fit a node frame, and the asking side scans on from the last key it got.
 */
const SCAN_ANSWER_BYTES_MAX = 16 * 1024 * 1024;
/** The entries one scan answers with at most, whatever it asked. */
const SCAN_LIMIT_MAX = 4096;

/** Whether the call may wait as long as an invocation runs (its answer comes at completion). */
export function waitsForCompletion(call: PartitionCall): boolean {
  return (call.kind === "submit" && call.awaitResult) || (call.kind === "attach" && call.block);
}

/** The invoker's view of invocations of the partitions led here, by id (text form). */
export function invocationInfos(
  invoker: { info(id: InvocationId): InvocationTaskInfo | undefined },
  ids: readonly InvocationId[],
): Map<string, InvocationTaskInfo> {
  const infos = new Map<string, InvocationTaskInfo>();
  for (const id of ids) {
    const info = invoker.info(id);
    if (info !== undefined) infos.set(id.toString(), info);
  }
  return infos;
}

/** Runs a call on the processor that leads the partition (the leader's side of a remote call). */
export async function runOnProcessor(
  processor: PartitionProcessor,
  invoker: { info(id: InvocationId): InvocationTaskInfo | undefined },
  call: PartitionCall,
): Promise<PartitionAnswer> {
  switch (call.kind) {
    case "submit": {
      const { outcome, completion } = await processor.submit(call.invocation, call.awaitResult);
      if (completion === undefined) return { kind: "outcome", outcome };
      return { kind: "outcome", outcome, completion: await completion };
    }
    case "attach":
      return { kind: "attach", result: await processor.attach(call.id, call.block) };
    case "request":
      return { kind: "outcome", outcome: (await processor.request(call.command)).outcome };
    case "proposeApplied":
      await processor.proposeApplied(
        [...call.commands],
        call.dedup === undefined ? {} : { dedup: [...call.dedup] },
      );
      return { kind: "done" };
    case "shuffled":
      await processor.acceptShuffled(call.source, [...call.messages]);
      return { kind: "done" };
    case "scan": {
      const found = processor.reader().scan(call.prefix, call.limit, call.startAfter);
      let bytes = 0;
      const entries: [string, Uint8Array][] = [];
      for (const entry of found) {
        bytes += entry[0].length + entry[1].length;
        if (entries.length > 0 && bytes > SCAN_ANSWER_BYTES_MAX) break;
        entries.push(entry);
      }
      return { kind: "entries", entries };
    }
    case "invocationInfos":
      return { kind: "invocationInfos", infos: invocationInfos(invoker, call.ids) };
  }
}

export function encodePartitionCall(
  partitionId: PartitionId,
  schemaVersion: number,
  call: PartitionCall,
): Uint8Array {
  return encodeMessage(PartitionRequest, { partitionId, schemaVersion, call: wireCall(call) });
}

function wireCall(call: PartitionCall): PartitionRequest["call"] {
  switch (call.kind) {
    case "submit":
      return {
        $case: "submit",
        value: { invocation: call.invocation, awaitResult: call.awaitResult },
      };
    case "attach":
      return { $case: "attach", value: { invocationId: call.id.bytes, block: call.block } };
    case "request":
      return { $case: "request", value: envelopeOf(call.command) };
    case "proposeApplied":
      return {
        $case: "proposeApplied",
        value: { commands: call.commands.map(envelopeOf), dedup: [...(call.dedup ?? [])] },
      };
    case "shuffled":
      return {
        $case: "shuffled",
        value: { sourcePartition: call.source, messages: [...call.messages] },
      };
    case "invocationInfos":
      return {
        $case: "invocationInfos",
        value: { invocationIds: call.ids.map((id) => id.bytes) },
      };
    case "scan":
      return {
        $case: "scan",
        value: {
          prefix: call.prefix,
          limit: call.limit,
          ...(call.startAfter === undefined ? {} : { startAfter: call.startAfter }),
        },
      };
  }
}

/** Only the command of an envelope travels: the leader stamps the rest when it proposes. */
function envelopeOf(
  command: EnvelopeCommand,
): NonNullable<Extract<PartitionRequest["call"], { $case: "request" }>>["value"] {
  return { timestampMs: 0, leaderEpoch: 0, requestId: 0, command };
}

/** Decodes a request; throws KeelError("bad_request") for bytes that are no call. */
export function decodePartitionCall(bytes: Uint8Array): {
  partitionId: PartitionId;
  schemaVersion: number;
  call: PartitionCall;
} {
  let request: PartitionRequest;
  try {
    request = PartitionRequest.decode(bytes);
  } catch (error) {
    throw new KeelError("bad_request", `not a partition request: ${describeError(error)}`);
  }
  const partitionId = request.partitionId as PartitionId;
  const schemaVersion = request.schemaVersion;
  const call = request.call;
  const command = (
    envelope: { command?: EnvelopeCommand | undefined } | undefined,
  ): EnvelopeCommand => {
    if (envelope?.command === undefined)
      throw new KeelError("bad_request", "a partition request without a command");
    return envelope.command;
  };
  switch (call?.$case) {
    case "submit":
      if (call.value.invocation === undefined)
        throw new KeelError("bad_request", "a submit without an invocation");
      return {
        partitionId,
        schemaVersion,
        call: {
          kind: "submit",
          invocation: call.value.invocation,
          awaitResult: call.value.awaitResult,
        },
      };
    case "attach":
      return {
        partitionId,
        schemaVersion,
        call: {
          kind: "attach",
          id: invocationIdOf(call.value.invocationId),
          block: call.value.block,
        },
      };
    case "request":
      return {
        partitionId,
        schemaVersion,
        call: { kind: "request", command: command(call.value) },
      };
    case "proposeApplied":
      return {
        partitionId,
        schemaVersion,
        call: {
          kind: "proposeApplied",
          commands: call.value.commands.map(command),
          ...(call.value.dedup.length === 0 ? {} : { dedup: call.value.dedup }),
        },
      };
    case "shuffled":
      return {
        partitionId,
        schemaVersion,
        call: {
          kind: "shuffled",
          source: call.value.sourcePartition as PartitionId,
          messages: call.value.messages.map(({ seq, message }) => {
            if (message === undefined)
              throw new KeelError("bad_request", "a shuffled message without a command");
            return { seq, message };
          }),
        },
      };
    case "scan":
      return {
        partitionId,
        schemaVersion,
        call: {
          kind: "scan",
          prefix: call.value.prefix,
          limit: Math.min(call.value.limit, SCAN_LIMIT_MAX),
          startAfter: call.value.startAfter,
        },
      };
    case "invocationInfos":
      return {
        partitionId,
        schemaVersion,
        call: { kind: "invocationInfos", ids: call.value.invocationIds.map(invocationIdOf) },
      };
    case undefined:
      throw new KeelError("bad_request", "a partition request without a call");
  }
  throw new KeelError("bad_request", "an unknown partition call");
}

function invocationIdOf(bytes: Uint8Array): InvocationId {
  try {
    return InvocationId.fromBytes(bytes);
  } catch (error) {
    throw new KeelError("bad_request", `bad invocation id: ${describeError(error)}`);
  }
}

export function encodePartitionAnswer(answer: PartitionAnswer): Uint8Array {
  switch (answer.kind) {
    case "outcome":
      return encodeMessage(PartitionResponse, {
        answer: { $case: "outcome", value: wireOutcome(answer.outcome) },
        ...(answer.completion === undefined
          ? {}
          : { completion: wireAttachResult(answer.completion) }),
      });
    case "attach":
      return encodeMessage(PartitionResponse, {
        answer: { $case: "attach", value: wireAttachResult(answer.result) },
      });
    case "done":
      return encodeMessage(PartitionResponse, { answer: { $case: "done", value: {} } });
    case "invocationInfos":
      return encodeMessage(PartitionResponse, {
        answer: {
          $case: "invocationInfosJson",
          value: JSON.stringify(Object.fromEntries(answer.infos)),
        },
      });
    case "entries":
      return encodeMessage(PartitionResponse, {
        answer: {
          $case: "entries",
          value: { entries: answer.entries.map(([key, value]) => ({ key, value })) },
        },
      });
  }
}

/** A failure of the leader, to raise again on the asking node. */
export function encodePartitionFailure(error: unknown): Uint8Array {
  const failure =
    error instanceof KeelError
      ? { code: error.code, message: error.message, retryable: error.retryable }
      : { code: "unavailable", message: describeError(error), retryable: true };
  return encodeMessage(PartitionResponse, { answer: { $case: "failure", value: failure } });
}

/** Decodes an answer; a failure is thrown as the leader's KeelError. */
export function decodePartitionAnswer(bytes: Uint8Array): PartitionAnswer {
  let response: PartitionResponse;
  try {
    response = PartitionResponse.decode(bytes);
  } catch (error) {
    throw new KeelError(
      "unavailable",
      `a garbled answer from the leader: ${describeError(error)}`,
      true,
    );
  }
  const answer = response.answer;
  switch (answer?.$case) {
    case "failure":
      throw new KeelError(
        answer.value.code as KeelError["code"],
        answer.value.message,
        answer.value.retryable,
      );
    case "outcome":
      return {
        kind: "outcome",
        outcome: outcomeOf(answer.value),
        ...(response.completion === undefined
          ? {}
          : { completion: attachResultOf(response.completion) }),
      };
    case "attach":
      return { kind: "attach", result: attachResultOf(answer.value) };
    case "done":
      return { kind: "done" };
    case "invocationInfosJson":
      return {
        kind: "invocationInfos",
        infos: new Map(
          Object.entries(JSON.parse(answer.value) as Record<string, InvocationTaskInfo>),
        ),
      };
    case "entries":
      return {
        kind: "entries",
        entries: answer.value.entries.map(({ key, value }) => [key, value]),
      };
    case undefined:
      throw new KeelError("unavailable", "an empty answer from the partition's leader", true);
  }
}

function wireOutcome(outcome: Outcome): WireOutcome {
  const wire: WireOutcome = {
    kind: outcome.kind,
    invocationId: new Uint8Array(0),
    newInvocationId: new Uint8Array(0),
    code: 0,
    message: "",
  };
  switch (outcome.kind) {
    case "accepted":
      return {
        ...wire,
        invocationId: outcome.invocationId.bytes,
        ...(outcome.executionTimeMs === undefined
          ? {}
          : { executionTimeMs: outcome.executionTimeMs }),
      };
    case "previouslyAccepted":
    case "workflowAlreadyInvoked":
      return { ...wire, invocationId: outcome.invocationId.bytes };
    case "restarted":
      return { ...wire, newInvocationId: outcome.newInvocationId.bytes };
    case "rejected":
      return { ...wire, code: outcome.code, message: outcome.message };
    default:
      return wire;
  }
}

function outcomeOf(wire: WireOutcome): Outcome {
  const kind = wire.kind as Outcome["kind"];
  switch (kind) {
    case "accepted":
      return {
        kind,
        invocationId: invocationIdOf(wire.invocationId),
        ...(wire.executionTimeMs === undefined ? {} : { executionTimeMs: wire.executionTimeMs }),
      };
    case "previouslyAccepted":
    case "workflowAlreadyInvoked":
      return { kind, invocationId: invocationIdOf(wire.invocationId) };
    case "restarted":
      return { kind, newInvocationId: invocationIdOf(wire.newInvocationId) };
    case "rejected":
      return { kind, code: wire.code, message: wire.message };
    case "notFound":
    case "alreadyCompleted":
    case "signalAppended":
    case "done":
    case "alreadyPaused":
    case "notRunning":
    case "notStarted":
    case "stillRunning":
      return { kind };
    default:
      throw new KeelError("unavailable", `an unknown outcome '${wire.kind}' from the leader`, true);
  }
}

function wireAttachResult(result: AttachResult): WireAttachResult {
  if (result.kind !== "completed")
    return { kind: result.kind, result: undefined, target: undefined, retainedUntilMs: 0 };
  return {
    kind: "completed",
    result: result.result,
    target: result.target,
    retainedUntilMs: result.retainedUntilMs,
  };
}

function attachResultOf(wire: WireAttachResult): AttachResult {
  switch (wire.kind) {
    case "completed":
      if (wire.result === undefined)
        throw new KeelError("unavailable", "a completed attach result without its result", true);
      return {
        kind: "completed",
        result: wire.result,
        target: wire.target,
        retainedUntilMs: wire.retainedUntilMs,
      };
    case "notFound":
    case "notReady":
      return { kind: wire.kind };
    default:
      throw new KeelError("unavailable", `an unknown attach result '${wire.kind}'`, true);
  }
}
