/**
 * One attempt of an invocation: an HTTP request to the service endpoint speaking the service protocol.
 * It sends Start and the stored journal, then turns every message from the SDK into a proposal (a
 * command to journal, a run result, a suspension, the end) and pushes newly applied notifications to
 * the SDK. It decides nothing durable itself: the partition applies what it proposes.
 *
 * The attempt ends in exactly one way: `ended` (End after Output), `suspended`, or `failed` (an
 * ErrorMessage, a protocol violation, a bad response, a broken stream or the abort timeout).
 *
 * Why one file of this length: it is the service protocol as one attempt speaks it, one short case
 * per message type; the framing and message types are in src/service-protocol.
 */

import {
  formatDurationFriendly,
  presentFields,
  describeError,
  limits,
  InvocationId,
  parseAwakeableId,
} from "../core/index.js";
import type {
  JournalCommand,
  ResolvedCall,
  RunProposal,
  Target,
  WaitSet,
} from "../gen/keel/records.js";
import {
  AttachInvocationCommandMessage,
  CallCommandMessage,
  ClearAllStateCommandMessage,
  ClearStateCommandMessage,
  CompleteAwakeableCommandMessage,
  CompletePromiseCommandMessage,
  ErrorMessage,
  GetEagerStateCommandMessage,
  GetEagerStateKeysCommandMessage,
  GetInvocationOutputCommandMessage,
  GetLazyStateCommandMessage,
  GetLazyStateKeysCommandMessage,
  GetPromiseCommandMessage,
  NotificationMessage,
  OneWayCallCommandMessage,
  OutputCommandMessage,
  PeekPromiseCommandMessage,
  ProposeRunCompletionMessage,
  RunCommandMessage,
  SendSignalCommandMessage,
  SetStateCommandMessage,
  SleepCommandMessage,
  StartMessage,
  SuspensionMessage,
} from "../gen/keel/service_protocol.js";
import {
  FRAME_HEADER_BYTES,
  FrameDecoder,
  FrameTooLarge,
  encodeFrame,
  type Frame,
  isCommand,
  isCustomEntry,
  isNotification,
  MessageType,
} from "../service-protocol/index.js";
import type { Cancel, Clock } from "../platform/index.js";
import { isKeyed } from "../partition/index.js";
import type { EndpointStream, EndpointTransport } from "./endpoint.js";
import { encodeMessage } from "../wire/index.js";

/** Non-command effects carry the number of commands the SDK had sent when it sent them. */
export type AttemptEffect =
  | { readonly kind: "command"; readonly command: JournalCommand }
  | {
      readonly kind: "runCompletion";
      readonly proposal: RunProposal;
      readonly afterCommandCount: number;
    }
  | { readonly kind: "suspended"; readonly waiting: WaitSet; readonly afterCommandCount: number }
  | { readonly kind: "end"; readonly afterCommandCount: number };

export interface AttemptFailure {
  /**
   * The server, not the service, failed (the log refused a proposal): the attempt is retried after a
   * short fixed delay and does not count against the service's retry policy.
   */
  readonly serverSide?: boolean;
  readonly code: number;
  readonly message: string;
  /**
   * False when another attempt would fail the same way (a message to the SDK over
   * `attemptMessageBytesMax`): the invocation is paused (or killed, as its retry policy says) at once.
   */
  readonly retryable?: false;
  readonly stacktrace?: string;
  readonly nextRetryDelayMs?: number;
  readonly relatedCommandIndex?: number;
  readonly relatedCommandName?: string;
  readonly relatedCommandType?: number;
  /** Restate's documentation code of the failure (`RT0018`), shown as `last_failure_error_code`. */
  readonly errorCode?: string;
}

/** What `resolveCall` answers for a target the current schema cannot take. */
export interface CallPrecondition {
  readonly precondition: string;
  readonly errorCode: string;
}

export type AttemptOutcome =
  | { readonly kind: "ended" }
  | { readonly kind: "suspended" }
  | { readonly kind: "failed"; readonly failure: AttemptFailure }
  | { readonly kind: "aborted" };

/**
 * Test-only faults: deliberately broken invokers that show the node simulation (src/sim/node) catches
 * what they break. Never set outside tests.
 */
export interface InvokerTestOnlyFaults {
  /**
   * Sends the SDK the completion of a `ctx.run` as soon as the SDK proposes it, before the record
   * carrying it is durable. A crash in between loses the result the handler already acted on, and
   * the next attempt runs the closure again: the handler sees two different results.
   */
  readonly completeRunsBeforeDurable?: boolean;
}

export interface AttemptSetup {
  readonly uri: string;
  readonly useHttp11: boolean;
  readonly requestResponse: boolean;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly protocolVersion: number;
  readonly start: StartMessage;
  /** The invocation's target: its object names the store keys of its state and promises. */
  readonly target: Target;
  readonly journal: readonly { messageType: number; raw: Uint8Array }[];
  /** The index the next command from the SDK takes. */
  readonly nextCommandIndex: number;
  readonly inactivityTimeoutMs: number;
  readonly abortTimeoutMs: number;
  /** Resolves Call/OneWayCall targets against the current schema. */
  readonly resolveCall: (
    service: string,
    handler: string,
    key: string,
    idempotencyKey: string | undefined,
  ) => ResolvedCall | CallPrecondition;
  readonly testOnlyFaults?: InvokerTestOnlyFaults;
}

export interface AttemptCallbacks {
  /** Effects in the order the SDK sent them; the invoker proposes them in that order. */
  onEffects(effects: AttemptEffect[]): void;
  onFinished(outcome: AttemptOutcome): void;
  /** The endpoint answered the attempt's request (its status and headers arrived). */
  onResponded?(): void;
}

const contentType = (version: number): string => `application/vnd.restate.invocation.v${version}`;

/** The failure for a message Keel must not send to an SDK (see `limits.attemptMessageBytesMax`). */
function tooLargeToSend(payloadBytes: number, what: string): AttemptFailure | undefined {
  if (payloadBytes <= limits.attemptMessageBytesMax) return undefined;
  return {
    code: 500,
    retryable: false,
    message: `${what} has ${payloadBytes} bytes, more than the ${limits.attemptMessageBytesMax} bytes Keel sends to a service in one message; the invocation cannot run`,
  };
}

/**
 * The commands an SDK may send, with their decoders. A command is journaled only if it decodes:
 * applying a record must never fail on its content, or the node would stop on it at every replay.
 */
interface Decoder {
  decode(bytes: Uint8Array): unknown;
}
const COMMAND_DECODERS: ReadonlyMap<number, Decoder> = new Map<number, Decoder>([
  [MessageType.OutputCommand, OutputCommandMessage],
  [MessageType.GetLazyStateCommand, GetLazyStateCommandMessage],
  [MessageType.SetStateCommand, SetStateCommandMessage],
  [MessageType.ClearStateCommand, ClearStateCommandMessage],
  [MessageType.ClearAllStateCommand, ClearAllStateCommandMessage],
  [MessageType.GetLazyStateKeysCommand, GetLazyStateKeysCommandMessage],
  [MessageType.GetEagerStateCommand, GetEagerStateCommandMessage],
  [MessageType.GetEagerStateKeysCommand, GetEagerStateKeysCommandMessage],
  [MessageType.GetPromiseCommand, GetPromiseCommandMessage],
  [MessageType.PeekPromiseCommand, PeekPromiseCommandMessage],
  [MessageType.CompletePromiseCommand, CompletePromiseCommandMessage],
  [MessageType.SleepCommand, SleepCommandMessage],
  [MessageType.CallCommand, CallCommandMessage],
  [MessageType.OneWayCallCommand, OneWayCallCommandMessage],
  [MessageType.SendSignalCommand, SendSignalCommandMessage],
  [MessageType.RunCommand, RunCommandMessage],
  [MessageType.AttachInvocationCommand, AttachInvocationCommandMessage],
  [MessageType.GetInvocationOutputCommand, GetInvocationOutputCommandMessage],
  [MessageType.CompleteAwakeableCommand, CompleteAwakeableCommandMessage],
]);

export class InvocationAttempt {
  private stream: EndpointStream | undefined;
  private readonly decoder = new FrameDecoder(limits.protocolMessageBytesMax);
  private nextCommandIndex: number;
  private readonly journalLengthAtStart: number;
  private finished = false;
  private terminal: "ended" | "suspended" | undefined;
  private requestClosed = false;
  private inactivity: Cancel | undefined;
  private abortTimer: Cancel | undefined;
  /** Completion ids of runs completed early (a test-only fault), not to be pushed twice. */
  private readonly runsCompletedEarly = new Set<number>();
  server: string | undefined;

  constructor(
    private setup: AttemptSetup,
    private readonly transport: EndpointTransport,
    private readonly clock: Clock,
    private readonly callbacks: AttemptCallbacks,
  ) {
    this.nextCommandIndex = setup.nextCommandIndex;
    this.journalLengthAtStart = setup.journal.length;
  }

  start(): void {
    const startFrame = encodeFrame(
      MessageType.Start,
      encodeMessage(StartMessage, this.setup.start),
    );
    const oversized =
      tooLargeToSend(startFrame.length - FRAME_HEADER_BYTES, "the Start message") ??
      this.setup.journal
        .map((entry, index) =>
          tooLargeToSend(
            entry.raw.length,
            `journal entry ${index} (type 0x${entry.messageType.toString(16)})`,
          ),
        )
        .find((failure) => failure !== undefined);
    if (oversized !== undefined) {
      this.fail(oversized);
      return;
    }
    this.stream = this.transport.open(
      {
        uri: this.setup.uri,
        useHttp11: this.setup.useHttp11,
        requestResponse: this.setup.requestResponse,
        path: this.setup.path,
        headers: this.setup.headers,
        ...(isKeyed(this.setup.target) ? { identitySubject: this.setup.target.key } : {}),
      },
      {
        onResponse: (status, headers) => this.onResponse(status, headers),
        onData: (chunk) => this.onData(chunk),
        onEnd: () => this.onEnd(),
        onError: (error) =>
          this.fail({
            code: 503,
            message: `endpoint connection failed: ${describeError(error)}`,
            errorCode: "RT0010",
          }),
      },
    );
    // Start and the replay in one turn: the transport sends small frames as one piece and moves
    // large ones to its thread without joining (copying) them.
    this.stream.write(startFrame);
    for (const entry of this.setup.journal)
      this.stream.write(encodeFrame(entry.messageType, entry.raw));
    // The attempt no longer needs the replayed entries or the eager state: let them go.
    this.setup = { ...this.setup, journal: [], start: { ...this.setup.start, stateMap: [] } };
    // An inactivity timeout of 0 means "suspend at every await", as in Restate: the attempt runs in
    // request/response mode, so the SDK suspends on whatever the replay does not complete.
    if (this.setup.requestResponse || this.setup.inactivityTimeoutMs <= 0) this.closeRequest();
    this.touch();
  }

  /** A notification appended after this attempt started: push it (bidirectional streams only). */
  notify(entryIndex: number, messageType: number, raw: Uint8Array): void {
    if (this.finished || this.requestClosed || entryIndex < this.journalLengthAtStart) return;
    const oversized = tooLargeToSend(
      raw.length,
      `journal entry ${entryIndex} (type 0x${messageType.toString(16)})`,
    );
    if (oversized !== undefined) {
      this.fail(oversized);
      return;
    }
    if (this.runsCompletedEarly.size > 0 && messageType === MessageType.RunCompletion) {
      const id = NotificationMessage.decode(raw).id;
      if (id?.$case === "completionId" && this.runsCompletedEarly.has(id.value)) return;
    }
    this.stream?.write(encodeFrame(messageType, raw));
    this.touch();
  }

  /** Ends the attempt as failed for a reason outside the stream (the log refused its proposal). */
  failWith(failure: AttemptFailure): void {
    this.fail(failure);
  }

  /** Stops the attempt at once (the invocation was killed or the partition lost its leader). */
  abort(): void {
    if (this.finished) return;
    this.finish({ kind: "aborted" });
  }

  private onResponse(status: number, headers: Record<string, string | string[] | undefined>): void {
    this.callbacks.onResponded?.();
    const server = headers["x-restate-server"];
    if (typeof server === "string") this.server = server;
    if (status !== 200) {
      this.fail({
        code: status,
        message: `the endpoint answered HTTP ${status}`,
        errorCode: errorCodeOfStatus(status),
      });
      return;
    }
    const type = headers["content-type"];
    if (type !== contentType(this.setup.protocolVersion)) {
      this.fail({
        code: 415,
        message: `the endpoint answered content-type ${JSON.stringify(type)}, expected ${contentType(this.setup.protocolVersion)}`,
        errorCode: PROTOCOL_VIOLATION,
      });
    }
  }

  private onData(chunk: Uint8Array): void {
    if (this.finished) return;
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      // Restate reports an over-large message as an internal error (500, RT0003), not a protocol
      // violation: the SDK did nothing wrong, the message is larger than the server takes.
      this.fail(
        error instanceof FrameTooLarge
          ? { code: 500, message: `message size limit: ${error.message}` }
          : { code: 571, message: `malformed frame: ${describeError(error)}` },
      );
      return;
    }
    if (frames.length === 0) return;
    this.touch();
    if (this.requestClosed) this.armAbortTimer();
    const effects: AttemptEffect[] = [];
    for (const frame of frames) {
      if (this.terminal !== undefined) break;
      const failure = this.handleFrame(frame, effects);
      if (failure !== undefined) {
        if (effects.length > 0) this.callbacks.onEffects(effects);
        this.fail(failure);
        return;
      }
    }
    if (effects.length > 0) this.callbacks.onEffects(effects);
    // The SDK closes its response only after the request stream ends: end ours and finish now.
    if (this.terminal !== undefined) this.finish({ kind: this.terminal });
  }

  /** Turns one frame into effects; returns a failure for anything that breaks the protocol. */
  private handleFrame(frame: Frame, effects: AttemptEffect[]): AttemptFailure | undefined {
    const type = frame.type;
    // A small frame is copied out of its chunk, which it must not keep alive; a large one is most
    // of its buffer already (the decoder joined its chunks for it).
    const payload =
      frame.payload.length * 2 >= frame.payload.buffer.byteLength
        ? frame.payload
        : frame.payload.slice();
    try {
      if (isCommand(type) || isCustomEntry(type)) {
        if (type === MessageType.InputCommand)
          return { code: 571, message: "the SDK sent an Input command" };
        const decoder = COMMAND_DECODERS.get(type);
        if (decoder === undefined && !isCustomEntry(type))
          return { code: 571, message: `unknown command type 0x${type.toString(16)} from the SDK` };
        const message = decoder?.decode(payload);
        const idProblem = this.commandIdProblem(type, message);
        if (idProblem !== undefined) return idProblem;
        const resolvedCall = this.resolvedCallOf(type, message);
        if (resolvedCall !== undefined && "precondition" in resolvedCall)
          return this.preconditionFailure(type, resolvedCall);
        const command: JournalCommand = {
          commandIndex: this.nextCommandIndex++,
          messageType: type,
          raw: payload,
          resolvedCall,
        };
        effects.push({ kind: "command", command });
        return undefined;
      }
      if (isNotification(type) || type === MessageType.SignalNotification) {
        return { code: 571, message: `the SDK sent a notification (type 0x${type.toString(16)})` };
      }
      switch (type) {
        case MessageType.ProposeRunCompletion: {
          const proposal = ProposeRunCompletionMessage.decode(payload);
          const result = proposal.result;
          if (this.setup.testOnlyFaults?.completeRunsBeforeDurable === true)
            this.completeRunEarly(proposal);
          effects.push({
            kind: "runCompletion",
            afterCommandCount: this.nextCommandIndex,
            proposal: {
              completionId: proposal.resultCompletionId,
              result:
                result?.$case === "failure"
                  ? { kind: { $case: "failure", value: result.value } }
                  : {
                      kind: {
                        $case: "value",
                        value: result?.$case === "value" ? result.value : new Uint8Array(0),
                      },
                    },
            },
          });
          return undefined;
        }
        case MessageType.Suspension: {
          const suspension = SuspensionMessage.decode(payload);
          if (suspension.awaitingOn !== undefined)
            return { code: 571, message: "v7 suspension on a v5/v6 stream" };
          this.terminal = "suspended";
          effects.push({
            kind: "suspended",
            afterCommandCount: this.nextCommandIndex,
            waiting: {
              completions: suspension.waitingCompletions,
              signals: suspension.waitingSignals,
              namedSignals: suspension.waitingNamedSignals,
            },
          });
          return undefined;
        }
        case MessageType.End:
          this.terminal = "ended";
          effects.push({ kind: "end", afterCommandCount: this.nextCommandIndex });
          return undefined;
        case MessageType.Error: {
          const error = ErrorMessage.decode(payload);
          const code = error.code === 0 ? 500 : error.code;
          return {
            code,
            message: error.message,
            errorCode: errorCodeOfSdkError(code),
            stacktrace: error.stacktrace,
            ...presentFields({
              nextRetryDelayMs: error.nextRetryDelay,
              relatedCommandIndex: error.relatedCommandIndex,
              relatedCommandName: error.relatedCommandName,
              relatedCommandType: error.relatedCommandType,
            }),
          };
        }
        case MessageType.AwaitingOn:
        case MessageType.CommandAck:
          return undefined;
        default:
          return {
            code: 571,
            message: `unexpected message type 0x${type.toString(16)} from the SDK`,
          };
      }
    } catch (error) {
      return {
        code: 571,
        message: `undecodable message of type 0x${type.toString(16)}: ${describeError(error)}`,
      };
    }
  }

  /** The test-only fault `completeRunsBeforeDurable`: the completion goes out before the proposal. */
  private completeRunEarly(proposal: ProposeRunCompletionMessage): void {
    if (this.requestClosed) return;
    const result = proposal.result;
    const notification: NotificationMessage = {
      id: { $case: "completionId", value: proposal.resultCompletionId },
      result:
        result?.$case === "failure"
          ? { $case: "failure", value: result.value }
          : {
              $case: "value",
              value: { content: result?.$case === "value" ? result.value : new Uint8Array(0) },
            },
    };
    this.runsCompletedEarly.add(proposal.resultCompletionId);
    this.stream?.write(
      encodeFrame(MessageType.RunCompletion, encodeMessage(NotificationMessage, notification)),
    );
  }

  /**
   * A command the schema cannot take fails the attempt before it is journaled (transient, retried by
   * the retry policy), with Restate's message for a command precondition.
   */
  private preconditionFailure(type: number, reason: CallPrecondition): AttemptFailure {
    const name = type === MessageType.CallCommand ? "Call" : "OneWayCall";
    return {
      code: 500,
      message: `cannot process command Command: ${name} (command index ${this.nextCommandIndex}) because of a failed precondition: ${reason.precondition}`,
      errorCode: reason.errorCode,
    };
  }

  /**
   * A command naming an invocation or awakeable by an id that does not parse could never reach it:
   * as in Restate, it fails the attempt instead of being journaled and dropped. Attach and
   * GetInvocationOutput fail a precondition; SendSignal and CompleteAwakeable do not decode.
   */
  private commandIdProblem(type: number, message: unknown): AttemptFailure | undefined {
    switch (type) {
      case MessageType.AttachInvocationCommand:
      case MessageType.GetInvocationOutputCommand: {
        const { target } = message as
          AttachInvocationCommandMessage | GetInvocationOutputCommandMessage;
        if (target?.$case !== "invocationId" || InvocationId.parse(target.value) !== undefined)
          return undefined;
        const name =
          type === MessageType.AttachInvocationCommand ? "AttachInvocation" : "GetInvocationOutput";
        return {
          code: 500,
          message: `cannot process command Command: ${name} (command index ${this.nextCommandIndex}) because of a failed precondition: invalid invocation id ${target.value}`,
          errorCode: "RT0017",
        };
      }
      case MessageType.SendSignalCommand: {
        const { targetInvocationId, signalId } = message as SendSignalCommandMessage;
        if (InvocationId.parse(targetInvocationId) !== undefined && signalId !== undefined)
          return undefined;
        return {
          code: 500,
          message: `cannot decode entry: decoding error: the SendSignal command names no valid invocation id and signal (${JSON.stringify(targetInvocationId)})`,
          errorCode: "RT0012",
        };
      }
      case MessageType.CompleteAwakeableCommand: {
        const { awakeableId } = message as CompleteAwakeableCommandMessage;
        if (parseAwakeableId(awakeableId) !== undefined) return undefined;
        return {
          code: 500,
          message: `cannot decode entry: decoding error: InvalidAwakeableId(${JSON.stringify(awakeableId)})`,
          errorCode: "RT0012",
        };
      }
      default:
        return undefined;
    }
  }

  /** `message` is the decoded command of `type`. */
  private resolvedCallOf(
    type: number,
    message: unknown,
  ): ResolvedCall | CallPrecondition | undefined {
    if (type !== MessageType.CallCommand && type !== MessageType.OneWayCallCommand)
      return undefined;
    const call = message as CallCommandMessage | OneWayCallCommandMessage;
    return this.setup.resolveCall(
      call.serviceName,
      call.handlerName,
      call.key,
      call.idempotencyKey,
    );
  }

  private onEnd(): void {
    if (this.finished) return;
    if (this.terminal !== undefined) this.finish({ kind: this.terminal });
    else
      this.fail({ code: 500, message: "the endpoint closed the stream without End or Suspension" });
  }

  private fail(failure: AttemptFailure): void {
    if (this.finished) return;
    // Keel's own protocol checks fail with 571, which Restate documents as RT0012.
    const coded =
      failure.errorCode === undefined && failure.code === 571
        ? { ...failure, errorCode: PROTOCOL_VIOLATION }
        : failure;
    this.finish({ kind: "failed", failure: coded });
  }

  private finish(outcome: AttemptOutcome): void {
    this.finished = true;
    this.inactivity?.();
    this.abortTimer?.();
    if (outcome.kind !== "ended" && outcome.kind !== "suspended") this.stream?.abort();
    else if (!this.requestClosed) this.stream?.end();
    this.callbacks.onFinished(outcome);
  }

  private closeRequest(): void {
    if (this.requestClosed) return;
    this.requestClosed = true;
    this.stream?.end();
    this.armAbortTimer();
  }

  /**
   * Once the request is closed, the SDK must keep answering: the abort timeout runs from the close
   * and again from every message after it (as Restate's), and 0 aborts at once.
   */
  private armAbortTimer(): void {
    this.abortTimer?.();
    this.abortTimer = this.clock.setTimer(this.setup.abortTimeoutMs, () =>
      this.fail({
        code: 500,
        message: `the invocation stream was closed after the 'abort timeout' (${formatDurationFriendly(this.setup.abortTimeoutMs)}) fired.`,
        errorCode: "RT0001",
      }),
    );
  }

  /**
   * Any message either way resets the inactivity timer; when it fires, the SDK is asked to suspend.
   * (An inactivity timeout of 0 closes the request after the replay: see `start`.)
   */
  private touch(): void {
    if (this.requestClosed || this.finished) return;
    this.inactivity?.();
    this.inactivity = this.clock.setTimer(this.setup.inactivityTimeoutMs, () => {
      if (!this.finished && this.terminal === undefined) this.closeRequest();
    });
  }
}

const PROTOCOL_VIOLATION = "RT0012";

/** Restate's code for an error the SDK reported: journal mismatch, protocol violation or other. */
function errorCodeOfSdkError(code: number): string {
  if (code === 570) return "RT0016";
  if (code === 571) return PROTOCOL_VIOLATION;
  return "RT0007";
}

/** Restate's code for an endpoint that answered with a status other than 200. */
function errorCodeOfStatus(status: number): string {
  if (status === 502 || status === 503 || status === 504) return "RT0010";
  if (status === 429) return "RT0023";
  if (status === 415) return "RT0015";
  if (status === 413) return "RT0019";
  return PROTOCOL_VIOLATION;
}
