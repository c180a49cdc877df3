/**
 * Generators of service-protocol traffic from an SDK, for the decoder fuzz tests: well-formed
 * messages of every type with hostile field values (names that exist and names that do not, ids of
 * live invocations and junk, times far in the future, the largest integers a field holds), random
 * protobuf, mutations, and frames whose header lies (bad lengths, unknown types, flags).
 */

import type { BinaryWriter } from "@bufbuild/protobuf/wire";
import {
  AttachInvocationCommandMessage,
  CallCommandMessage,
  ClearAllStateCommandMessage,
  ClearStateCommandMessage,
  CommandAckMessage,
  CompleteAwakeableCommandMessage,
  CompletePromiseCommandMessage,
  EndMessage,
  ErrorMessage,
  GetEagerStateCommandMessage,
  GetEagerStateKeysCommandMessage,
  GetInvocationOutputCommandMessage,
  GetLazyStateCommandMessage,
  GetLazyStateKeysCommandMessage,
  GetPromiseCommandMessage,
  InputCommandMessage,
  OneWayCallCommandMessage,
  OutputCommandMessage,
  PeekPromiseCommandMessage,
  ProposeRunCompletionMessage,
  RunCommandMessage,
  SendSignalCommandMessage,
  SetStateCommandMessage,
  SleepCommandMessage,
  SuspensionMessage,
  type Failure,
} from "../../src/gen/keel/service_protocol.js";
import { encodeFrame } from "../../src/service-protocol/framing.js";
import { type InvocationId, formatAwakeableId } from "../../src/core/ids.js";
import { MessageType, isNotification } from "../../src/service-protocol/message_types.js";
import { type Gen, concat } from "./generate.js";

interface Codec<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
  decode(input: Uint8Array): T;
}

/** A message with every field at its default, then `fields` on top. */
function encode<T>(codec: Codec<T>, fields: Partial<T>): Uint8Array {
  return codec.encode({ ...codec.decode(new Uint8Array(0)), ...fields }).finish();
}

/** What the generators may refer to: live invocations and the current (virtual) time. */
export interface ProtocolContext {
  readonly liveInvocations: readonly InvocationId[];
  readonly nowMs: number;
}

export class ProtocolGen {
  constructor(
    readonly gen: Gen,
    private readonly context: () => ProtocolContext,
  ) {}

  private service(): string {
    return this.gen.weighted<string>([
      [6, () => this.gen.pick(["Svc", "Obj", "Wf"])],
      [1, () => this.gen.pick(["Nope", "", "svc"])],
      [1, () => this.gen.text(40)],
    ]);
  }

  private handler(): string {
    return this.gen.weighted<string>([
      [6, () => this.gen.pick(["h", "s", "run", "click"])],
      [1, () => this.gen.text(20)],
    ]);
  }

  /** State keys: short, sometimes too long for a store key. */
  private stateKey(): Uint8Array {
    return this.gen.bytes(this.gen.chance(0.05) ? 3000 : 10);
  }

  private key(): string {
    return this.gen.weighted<string>([
      [5, () => this.gen.pick(["k1", "k2", "k3"])],
      [1, () => ""],
      [1, () => this.gen.text(this.gen.chance(0.1) ? 5000 : 30)],
    ]);
  }

  private u32(): number {
    return this.gen.pick([0, 1, 2, 3, 5, 17, 100, this.gen.int(64), 2 ** 31 - 1, 2 ** 32 - 1]);
  }

  /** Epoch milliseconds: now, soon, long ago, far away, or the largest safe integer. */
  private time(): number {
    const now = this.context().nowMs;
    return this.gen.pick([
      0,
      1,
      now,
      now + 10,
      now + this.gen.int(5000),
      now - 1000,
      2 ** 53 - 1,
      now + 10 ** 12,
    ]);
  }

  private value(): { content: Uint8Array } {
    return {
      content: this.gen.chance(0.5)
        ? new TextEncoder().encode(JSON.stringify(this.gen.text(20)))
        : this.gen.bytes(40),
    };
  }

  private failure(): Failure {
    return {
      code: this.gen.pick([0, 400, 500, 571, 999, 2 ** 32 - 1]),
      message: this.gen.text(30),
      metadata: [],
    };
  }

  private invocationIdText(): string {
    const live = this.context().liveInvocations;
    return this.gen.weighted<string>([
      [live.length > 0 ? 5 : 0, () => this.gen.pick(live).toString()],
      [1, () => "inv_" + this.gen.text(20)],
      [1, () => this.gen.text(30)],
    ]);
  }

  private awakeableIdText(): string {
    const live = this.context().liveInvocations;
    return this.gen.weighted<string>([
      [
        live.length > 0 ? 5 : 0,
        () => formatAwakeableId(this.gen.pick(live), this.gen.pick([1, 17, 18, 2 ** 32 - 1])),
      ],
      [1, () => "sign_1" + this.gen.text(20)],
    ]);
  }

  private attachTarget(): AttachInvocationCommandMessage["target"] {
    return this.gen.weighted<AttachInvocationCommandMessage["target"]>([
      [4, () => ({ $case: "invocationId", value: this.invocationIdText() })],
      [
        1,
        () => ({
          $case: "workflowTarget",
          value: { workflowName: this.service(), workflowKey: this.key() },
        }),
      ],
      [
        1,
        () => ({
          $case: "idempotentRequestTarget",
          value: {
            serviceName: this.service(),
            handlerName: this.handler(),
            idempotencyKey: this.gen.text(10),
          },
        }),
      ],
      [1, () => undefined],
    ]);
  }

  /** A well-formed message of `type` with hostile values; undefined for types with no payload model. */
  payload(type: number): Uint8Array | undefined {
    const g = this.gen;
    const id = (): number => this.u32();
    switch (type) {
      case MessageType.OutputCommand:
        return encode(OutputCommandMessage, {
          result: g.chance(0.7)
            ? { $case: "value", value: this.value() }
            : { $case: "failure", value: this.failure() },
        });
      case MessageType.GetLazyStateCommand:
        return encode(GetLazyStateCommandMessage, {
          key: this.stateKey(),
          resultCompletionId: id(),
        });
      case MessageType.SetStateCommand:
        return encode(SetStateCommandMessage, { key: this.stateKey(), value: this.value() });
      case MessageType.ClearStateCommand:
        return encode(ClearStateCommandMessage, { key: this.stateKey() });
      case MessageType.ClearAllStateCommand:
        return encode(ClearAllStateCommandMessage, {});
      case MessageType.GetLazyStateKeysCommand:
        return encode(GetLazyStateKeysCommandMessage, { resultCompletionId: id() });
      case MessageType.GetEagerStateCommand:
        return encode(GetEagerStateCommandMessage, {
          key: this.stateKey(),
          result: { $case: "value", value: this.value() },
        });
      case MessageType.GetEagerStateKeysCommand:
        return encode(GetEagerStateKeysCommandMessage, { value: { keys: [g.bytes(5)] } });
      case MessageType.GetPromiseCommand:
        return encode(GetPromiseCommandMessage, { key: this.key(), resultCompletionId: id() });
      case MessageType.PeekPromiseCommand:
        return encode(PeekPromiseCommandMessage, { key: this.key(), resultCompletionId: id() });
      case MessageType.CompletePromiseCommand:
        return encode(CompletePromiseCommandMessage, {
          key: this.key(),
          completion: g.chance(0.5)
            ? { $case: "completionValue", value: this.value() }
            : { $case: "completionFailure", value: this.failure() },
          resultCompletionId: id(),
        });
      case MessageType.SleepCommand:
        return encode(SleepCommandMessage, { wakeUpTime: this.time(), resultCompletionId: id() });
      case MessageType.CallCommand:
        return encode(CallCommandMessage, {
          serviceName: this.service(),
          handlerName: this.handler(),
          parameter: g.bytes(20),
          headers: g.chance(0.2) ? [{ key: g.text(10), value: g.text(10) }] : [],
          key: this.key(),
          ...(g.chance(0.3) ? { idempotencyKey: g.text(10) } : {}),
          invocationIdNotificationIdx: id(),
          resultCompletionId: id(),
        });
      case MessageType.OneWayCallCommand:
        return encode(OneWayCallCommandMessage, {
          serviceName: this.service(),
          handlerName: this.handler(),
          parameter: g.bytes(20),
          invokeTime: this.time(),
          key: this.key(),
          ...(g.chance(0.3) ? { idempotencyKey: g.text(10) } : {}),
          invocationIdNotificationIdx: id(),
        });
      case MessageType.SendSignalCommand:
        return encode(SendSignalCommandMessage, {
          targetInvocationId: this.invocationIdText(),
          signalId: g.chance(0.7)
            ? { $case: "idx", value: g.pick([1, 17, 18, 2 ** 32 - 1, 0]) }
            : { $case: "signalName", value: g.text(10) },
          result: g.chance(0.5)
            ? { $case: "value", value: this.value() }
            : { $case: "failure", value: this.failure() },
        });
      case MessageType.RunCommand:
        return encode(RunCommandMessage, { resultCompletionId: id(), name: g.text(10) });
      case MessageType.AttachInvocationCommand:
        return encode(AttachInvocationCommandMessage, {
          target: this.attachTarget(),
          resultCompletionId: id(),
        });
      case MessageType.GetInvocationOutputCommand:
        return encode(GetInvocationOutputCommandMessage, {
          target: this.attachTarget(),
          resultCompletionId: id(),
        });
      case MessageType.CompleteAwakeableCommand:
        return encode(CompleteAwakeableCommandMessage, {
          awakeableId: this.awakeableIdText(),
          result: g.chance(0.5)
            ? { $case: "value", value: this.value() }
            : { $case: "failure", value: this.failure() },
        });
      case MessageType.InputCommand:
        return encode(InputCommandMessage, { value: this.value() });
      case MessageType.ProposeRunCompletion:
        return encode(ProposeRunCompletionMessage, {
          resultCompletionId: id(),
          result: g.chance(0.6)
            ? { $case: "value", value: g.bytes(10) }
            : { $case: "failure", value: this.failure() },
        });
      case MessageType.Suspension:
        return encode(SuspensionMessage, {
          waitingCompletions: [id(), id()].slice(0, g.int(3)),
          waitingSignals: g.chance(0.5) ? [1] : [g.pick([17, 2 ** 32 - 1])],
          waitingNamedSignals: g.chance(0.2) ? [g.text(5)] : [],
        });
      case MessageType.Error:
        return encode(ErrorMessage, {
          code: g.pick([0, 500, 400, 2 ** 32 - 1]),
          message: g.text(20),
          stacktrace: g.text(20),
        });
      case MessageType.End:
        return encode(EndMessage, {});
      case MessageType.CommandAck:
        return encode(CommandAckMessage, { commandIndex: id() });
      default:
        return undefined;
    }
  }

  private messageType(): number {
    const g = this.gen;
    return g.weighted<number>([
      [12, () => g.pick(COMMAND_TYPES)],
      [
        4,
        () =>
          g.pick([
            MessageType.ProposeRunCompletion,
            MessageType.Suspension,
            MessageType.Error,
            MessageType.End,
            MessageType.CommandAck,
          ]),
      ],
      [
        1,
        () =>
          g.pick([
            MessageType.Start,
            MessageType.AwaitingOn,
            MessageType.ProposeRunCompletionAck,
            MessageType.InputCommand,
          ]),
      ],
      [
        1,
        () =>
          g.pick([
            MessageType.SleepCompletion,
            MessageType.CallCompletion,
            MessageType.SignalNotification,
          ]),
      ],
      [1, () => 0xfc00 + g.int(0x400)],
      [1, () => g.int(0x10000)],
    ]);
  }

  /** One frame: its type, and bytes that may lie about the payload that follows. */
  frame(): { type: number; bytes: Uint8Array; headerLies: boolean; declaredTooLarge: boolean } {
    const g = this.gen;
    const type = this.messageType();
    const plausible = (): Uint8Array => this.payload(type) ?? g.protobuf();
    const payload = g.weighted<Uint8Array>([
      [10, plausible],
      [3, () => g.protobuf()],
      [3, () => g.mutate(plausible())],
      [1, () => g.bytes(64)],
      [1, () => new Uint8Array(0)],
    ]);
    const flags = g.chance(0.05) ? g.int(0x10000) : 0;
    if (!g.chance(0.08))
      return {
        type,
        bytes: encodeFrame(type, payload, flags),
        headerLies: false,
        declaredTooLarge: false,
      };
    const framed = encodeFrame(type, payload, flags);
    const declared = g.pick([
      payload.length + 1 + g.int(100),
      Math.max(0, payload.length - 1 - g.int(4)),
      2 ** 32 - 1,
      2 ** 25 + 1,
    ]);
    new DataView(framed.buffer).setUint32(4, declared >>> 0);
    return { type, bytes: framed, headerLies: true, declaredTooLarge: declared > 2 ** 25 };
  }

  /** What an attempt's response carries: a few frames, sometimes with garbage in between. */
  stream(): { bytes: Uint8Array; first: ReturnType<ProtocolGen["frame"]> } {
    const frames = Array.from({ length: 1 + this.gen.int(6) }, () => this.frame());
    const parts = frames.map((f, i) =>
      i > 0 && this.gen.chance(0.03) ? concat([this.gen.bytes(8), f.bytes]) : f.bytes,
    );
    return { bytes: concat(parts), first: frames[0]! };
  }
}

const COMMAND_TYPES = [
  MessageType.OutputCommand,
  MessageType.GetLazyStateCommand,
  MessageType.SetStateCommand,
  MessageType.ClearStateCommand,
  MessageType.ClearAllStateCommand,
  MessageType.GetLazyStateKeysCommand,
  MessageType.GetEagerStateCommand,
  MessageType.GetEagerStateKeysCommand,
  MessageType.GetPromiseCommand,
  MessageType.PeekPromiseCommand,
  MessageType.CompletePromiseCommand,
  MessageType.SleepCommand,
  MessageType.CallCommand,
  MessageType.OneWayCallCommand,
  MessageType.SendSignalCommand,
  MessageType.RunCommand,
  MessageType.AttachInvocationCommand,
  MessageType.GetInvocationOutputCommand,
  MessageType.CompleteAwakeableCommand,
  // Command-range types the protocol does not define.
  0x040f,
  0x0425,
];

/** Whether a frame, arriving first, breaks the protocol whatever follows it. */
export function breaksProtocol(first: ReturnType<ProtocolGen["frame"]>): boolean {
  if (first.declaredTooLarge) return true;
  if (first.headerLies) return false;
  const type = first.type;
  return (
    type === MessageType.InputCommand ||
    type === MessageType.Start ||
    type === MessageType.ProposeRunCompletionAck ||
    isNotification(type) ||
    type === MessageType.SignalNotification ||
    (type > MessageType.ProposeRunCompletionAck && type < 0x0400)
  );
}
