/**
 * A simulated service endpoint: a small SDK for Restate's service protocol v5 and v6, enough to run
 * the simulation's handlers against Keel's invoker as the official TypeScript SDK would.
 *
 * What it does as the SDK does (facts from Restate's sdk-shared-core and observed traffic):
 * - It answers 200 with the request's content type, reads Start and then exactly `known_entries`
 *   journal entries (the first being Input) before the handler runs; notifications in the replay
 *   complete their completion ids at once.
 * - Every handler operation is a command. While commands remain in the replayed journal, the handler's
 *   operation must match the next one (type and identity: state key, run name, call target), else
 *   the SDK fails with a journal mismatch (570); its result is taken from the journal. After the
 *   replay, commands are sent to the runtime.
 * - Completion ids are allocated per invocation from 1 in command order (a Call takes two: the
 *   invocation-id notification, then the result).
 * - State is eager when Start carries the whole state map: a read answers locally and journals a
 *   GetEagerState with its result; with partial state, a key the map lacks is read lazily
 *   (GetLazyState, then its completion).
 * - `ctx.run`: RunCommand, the closure, then ProposeRunCompletion; the result reaches the handler
 *   only with the RunCompletion notification. A RunCommand replayed without its notification runs
 *   the closure again and proposes again.
 * - When the handler awaits a completion the runtime has not sent and the request stream is closed,
 *   the SDK sends Suspension (waiting on that completion and on signal 1, cancel), but never while a
 *   run's closure is still executing. After Output it sends End. It closes its response only once
 *   the request stream has ended.
 *
 * Simplifications (none of them changes what Keel sees for these handlers):
 * - Handlers await one thing at a time: no combinators (`RestatePromise.all/race`), no awakeables,
 *   signals, promises or attach; cancellation (signal 1) is never sent in the simulation, so it is
 *   not handled. No terminal errors: a handler fails an attempt only by throwing `RetryableError`
 *   (the SDK answers ErrorMessage 500 and the runtime retries, as for any non-terminal error);
 *   anything else it throws is a bug of the simulation, reported.
 * - Failures of the runtime the real SDK reports as an ErrorMessage (a journal mismatch, a message it
 *   did not expect) are also reported to the simulation as violations: Keel must never cause them.
 *   So is a completion sent twice, which the real SDK may tolerate but Keel never does.
 * - No retry policy of its own for runs (a closure never fails), no AwaitingOn (v7), no x-restate
 *   headers checked, no request signing, no discovery endpoint (the schema is registered directly).
 *
 * Why one file of this length: it mirrors one SDK's state machine (the rules above), whose parts share
 * the journal cursor and the stream.
 */

import type { BinaryWriter } from "@bufbuild/protobuf/wire";
import { fromUtf8, utf8 } from "../../core/index.js";
import type { EndpointRequest } from "../../invoker/index.js";
import {
  CallCommandMessage,
  EndMessage,
  ErrorMessage,
  GetEagerStateCommandMessage,
  GetLazyStateCommandMessage,
  InputCommandMessage,
  NotificationMessage,
  OutputCommandMessage,
  ProposeRunCompletionMessage,
  RunCommandMessage,
  SetStateCommandMessage,
  SleepCommandMessage,
  StartMessage,
  SuspensionMessage,
} from "../../gen/keel/service_protocol.js";
import {
  FrameDecoder,
  MessageType,
  encodeFrame,
  isCommand,
  isNotification,
  type Frame,
} from "../../service-protocol/index.js";
import { encodeMessage } from "../../wire/index.js";

/** What a handler may do, in the shape of the SDK's `ObjectContext`. */
export interface SdkContext {
  /** The invocation id as text (`inv_…`). */
  readonly invocationId: string;
  readonly key: string;
  get(name: string): Promise<Uint8Array | undefined>;
  set(name: string, value: Uint8Array): void;
  run(name: string, body: () => Promise<Uint8Array>): Promise<Uint8Array>;
  sleep(durationMs: number): Promise<void>;
  call(service: string, handler: string, key: string, parameter: Uint8Array): Promise<Uint8Array>;
}

export type SdkHandler = (ctx: SdkContext, input: Uint8Array) => Promise<Uint8Array>;

export interface SdkEnvironment {
  /** The service process's wall clock (sleeps are computed from it, as the SDK does). */
  nowMs(): number;
  /** Something only a broken runtime (or a broken simulation) causes. */
  violation(message: string): void;
  /** The SDK proposed a run's result (a moment worth a crash: the result is not durable yet). */
  proposedRun(): void;
}

/** The SDK's side of the HTTP response of one stream. */
export interface SdkResponse {
  head(status: number, headers: Record<string, string>): void;
  data(bytes: Uint8Array): void;
  end(): void;
}

/** What the runtime's side of one stream does to the SDK. */
export interface SdkStream {
  receive(bytes: Uint8Array): void;
  /** The runtime closed its request stream. */
  endOfInput(): void;
  /** The stream was torn down (reset, connection lost). */
  reset(): void;
}

const SDK_SERVER_HEADER = "keel-sim-sdk/1";
const PROTOCOL_MESSAGE_BYTES_MAX = 1 << 24;
const JOURNAL_MISMATCH = 570;
const PROTOCOL_VIOLATION = 571;
/** Signal 1 is the built-in cancel signal; the TS SDK always waits on it when it suspends. */
const CANCEL_SIGNAL = 1;

/** What the SDK did, for the run's summary. */
export interface SdkStats {
  /** Attempts whose handler ran. */
  attempts: number;
  /** Attempts that replayed commands from an earlier attempt. */
  replays: number;
  suspensions: number;
}

export class SimSdk {
  readonly stats: SdkStats = { attempts: 0, replays: 0, suspensions: 0 };

  constructor(
    private readonly handlers: ReadonlyMap<string, SdkHandler>,
    private readonly env: SdkEnvironment,
  ) {}

  /** Accepts one invocation stream (`POST …/invoke/{service}/{handler}`). */
  open(request: EndpointRequest, response: SdkResponse): SdkStream {
    const parts = request.path.split("/");
    const service = decodeURIComponent(parts[parts.length - 2] ?? "");
    const handlerName = decodeURIComponent(parts[parts.length - 1] ?? "");
    const handler = this.handlers.get(`${service}/${handlerName}`);
    const contentType = request.headers["content-type"] ?? "";
    const ignore: SdkStream = {
      receive: () => undefined,
      endOfInput: () => undefined,
      reset: () => undefined,
    };
    if (handler === undefined || parts[parts.length - 3] !== "invoke") {
      this.env.violation(`the runtime invoked an unknown handler: ${request.path}`);
      response.head(404, {});
      response.end();
      return ignore;
    }
    if (!/^application\/vnd\.restate\.invocation\.v[56]$/.test(contentType)) {
      this.env.violation(`the runtime asked for protocol ${JSON.stringify(contentType)}`);
      response.head(415, {});
      response.end();
      return ignore;
    }
    response.head(200, { "content-type": contentType, "x-restate-server": SDK_SERVER_HEADER });
    return new SdkInvocation(handler, this.env, this.stats, response);
  }
}

/** A handler's transient failure: the attempt ends with an ErrorMessage and is retried. */
export class RetryableError extends Error {
  override readonly name = "RetryableError";
}

type NotificationResult = NonNullable<NotificationMessage["result"]>;

/** Thrown into a handler whose attempt is over (suspended, failed, torn down): it just stops. */
class AttemptOver extends Error {
  override readonly name = "AttemptOver";
}

interface Codec<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
  decode(bytes: Uint8Array): T;
}

class SdkInvocation implements SdkStream, SdkContext {
  private readonly decoder = new FrameDecoder(PROTOCOL_MESSAGE_BYTES_MAX);
  private phase: "start" | "replay" | "running" = "start";
  private start: StartMessage | undefined;
  private readonly replayed: Frame[] = [];
  /** Replayed commands after Input, consumed in order by the handler's operations. */
  private commands: Frame[] = [];
  private commandCursor = 0;
  private readonly notifications = new Map<number, NotificationResult>();
  private readonly waiters = new Map<number, (result: NotificationResult) => void>();
  private nextCompletionId = 1;
  private readonly state = new Map<string, Uint8Array>();
  private runsExecuting = 0;
  private inputClosed = false;
  private terminal: "ended" | "suspended" | "failed" | undefined;
  private torn = false;
  private responseEnded = false;

  constructor(
    private readonly handler: SdkHandler,
    private readonly env: SdkEnvironment,
    private readonly stats: SdkStats,
    private readonly response: SdkResponse,
  ) {}

  get invocationId(): string {
    return this.start?.debugId ?? "";
  }

  get key(): string {
    return this.start?.key ?? "";
  }

  // ---- the runtime's side ----

  receive(bytes: Uint8Array): void {
    if (this.torn || this.terminal !== undefined) return;
    let frames: Frame[];
    try {
      frames = this.decoder.push(bytes);
    } catch (error) {
      return this.protocolError(`undecodable bytes from the runtime: ${String(error)}`);
    }
    for (const frame of frames) {
      if (this.terminal !== undefined) return;
      switch (this.phase) {
        case "start":
          this.onStart(frame);
          break;
        case "replay":
          this.replayed.push(frame);
          if (this.replayed.length === this.start!.knownEntries) this.beginHandler();
          break;
        case "running":
          this.onNotification(frame);
          break;
      }
    }
  }

  endOfInput(): void {
    if (this.torn) return;
    this.inputClosed = true;
    if (this.terminal !== undefined) return this.endResponse();
    if (this.phase !== "running") {
      return this.protocolError(
        `the runtime closed the request after ${this.replayed.length} of ${this.start?.knownEntries ?? "?"} known entries`,
      );
    }
    this.maybeSuspend();
  }

  reset(): void {
    this.torn = true;
    this.waiters.clear();
  }

  private onStart(frame: Frame): void {
    if (frame.type !== MessageType.Start)
      return this.protocolError(`expected Start, got type 0x${frame.type.toString(16)}`);
    const start = StartMessage.decode(frame.payload);
    if (start.knownEntries < 1)
      return this.protocolError("Start announces no known entries: the journal has no Input");
    this.start = start;
    for (const entry of start.stateMap) this.state.set(fromUtf8(entry.key), entry.value);
    this.phase = "replay";
  }

  private beginHandler(): void {
    const [input, ...rest] = this.replayed;
    if (input?.type !== MessageType.InputCommand)
      return this.protocolError("the first journal entry is not Input");
    for (const frame of rest) {
      if (isCommand(frame.type)) this.commands.push(frame);
      else if (isNotification(frame.type) || frame.type === MessageType.SignalNotification)
        this.addNotification(frame, "replay");
      else return this.protocolError(`type 0x${frame.type.toString(16)} in the replayed journal`);
      if (this.terminal !== undefined) return;
    }
    this.phase = "running";
    this.stats.attempts++;
    if (this.commands.length > 0) this.stats.replays++;
    const argument = InputCommandMessage.decode(input.payload).value?.content ?? new Uint8Array(0);
    this.handler(this, argument).then(
      (output) => this.complete(output),
      (error: unknown) => this.handlerFailed(error),
    );
  }

  private onNotification(frame: Frame): void {
    if (!isNotification(frame.type) && frame.type !== MessageType.SignalNotification)
      return this.protocolError(`unexpected type 0x${frame.type.toString(16)} after the replay`);
    this.addNotification(frame, "pushed");
  }

  private addNotification(frame: Frame, how: "replay" | "pushed"): void {
    const notification = NotificationMessage.decode(frame.payload);
    const id = notification.id;
    if (id?.$case !== "completionId") return; // signals: none are sent in the simulation
    if (notification.result === undefined)
      return this.protocolError(`notification of completion ${id.value} without a result`);
    if (this.notifications.has(id.value))
      return this.protocolError(`completion ${id.value} arrived twice (${how})`);
    this.notifications.set(id.value, notification.result);
    const waiter = this.waiters.get(id.value);
    if (waiter !== undefined) {
      this.waiters.delete(id.value);
      waiter(notification.result);
    }
  }

  // ---- the handler's side (SdkContext) ----

  async get(name: string): Promise<Uint8Array | undefined> {
    const key = utf8(name);
    const partial = this.start!.partialState;
    if (partial && !this.state.has(name)) {
      const completionId = this.nextCompletionId++;
      this.issue(
        MessageType.GetLazyStateCommand,
        GetLazyStateCommandMessage,
        { key, resultCompletionId: completionId, name: "" },
        (j) => fromUtf8(j.key) === name && j.resultCompletionId === completionId,
      );
      const result = await this.completion(completionId);
      if (result.$case === "void") return undefined;
      if (result.$case === "value") return result.value.content;
      this.protocolError(`GetLazyState completed with ${result.$case}`);
      throw new AttemptOver();
    }
    const local = this.state.get(name);
    const journaled = this.issue(
      MessageType.GetEagerStateCommand,
      GetEagerStateCommandMessage,
      {
        key,
        result:
          local === undefined
            ? { $case: "void", value: {} }
            : { $case: "value", value: { content: local } },
        name: "",
      },
      (j) => fromUtf8(j.key) === name,
    );
    return journaled.result?.$case === "value" ? journaled.result.value.content : undefined;
  }

  set(name: string, value: Uint8Array): void {
    this.issue(
      MessageType.SetStateCommand,
      SetStateCommandMessage,
      { key: utf8(name), value: { content: value }, name: "" },
      (j) => fromUtf8(j.key) === name,
    );
    this.state.set(name, value);
  }

  async run(name: string, body: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const completionId = this.nextCompletionId++;
    this.issue(
      MessageType.RunCommand,
      RunCommandMessage,
      { resultCompletionId: completionId, name },
      (j) => j.name === name && j.resultCompletionId === completionId,
    );
    if (!this.notifications.has(completionId)) {
      this.runsExecuting++;
      let value: Uint8Array;
      try {
        value = await body();
      } finally {
        this.runsExecuting--;
      }
      this.checkAlive();
      this.send(
        MessageType.ProposeRunCompletion,
        encodeMessage(ProposeRunCompletionMessage, {
          resultCompletionId: completionId,
          result: { $case: "value", value },
        }),
      );
      this.env.proposedRun();
    }
    const result = await this.completion(completionId);
    if (result.$case === "value") return result.value.content;
    throw new Error(`run ${name} completed with ${result.$case}`);
  }

  async sleep(durationMs: number): Promise<void> {
    const completionId = this.nextCompletionId++;
    this.issue(
      MessageType.SleepCommand,
      SleepCommandMessage,
      { wakeUpTime: this.env.nowMs() + durationMs, resultCompletionId: completionId, name: "" },
      (j) => j.resultCompletionId === completionId,
    );
    const result = await this.completion(completionId);
    if (result.$case !== "void") throw new Error(`sleep completed with ${result.$case}`);
  }

  async call(
    service: string,
    handler: string,
    key: string,
    parameter: Uint8Array,
  ): Promise<Uint8Array> {
    const invocationIdCompletion = this.nextCompletionId++;
    const resultCompletion = this.nextCompletionId++;
    this.issue(
      MessageType.CallCommand,
      CallCommandMessage,
      {
        serviceName: service,
        handlerName: handler,
        parameter,
        headers: [],
        key,
        idempotencyKey: undefined,
        invocationIdNotificationIdx: invocationIdCompletion,
        resultCompletionId: resultCompletion,
        name: "",
      },
      (j) =>
        j.serviceName === service &&
        j.handlerName === handler &&
        j.key === key &&
        j.resultCompletionId === resultCompletion,
    );
    const result = await this.completion(resultCompletion);
    if (result.$case === "value") return result.value.content;
    if (result.$case === "failure")
      throw new Error(`call ${service}/${key}/${handler} failed: ${result.value.message}`);
    throw new Error(`call completed with ${result.$case}`);
  }

  // ---- commands, completions, the end ----

  /**
   * One command of the handler: during the replay it must match the next journaled command and
   * the journaled message is returned (its results are the journal's); afterwards it is sent.
   */
  private issue<T>(
    type: number,
    codec: Codec<T>,
    message: T,
    sameAs: (journaled: T) => boolean,
  ): T {
    this.checkAlive();
    if (this.commandCursor < this.commands.length) {
      const frame = this.commands[this.commandCursor++]!;
      const journaled = frame.type === type ? codec.decode(frame.payload) : undefined;
      if (journaled === undefined || !sameAs(journaled)) {
        this.fail(
          JOURNAL_MISMATCH,
          `journal mismatch at command ${this.commandCursor}: the handler issued type 0x${type.toString(16)}, the journal holds 0x${frame.type.toString(16)}`,
        );
        throw new AttemptOver();
      }
      return journaled;
    }
    this.send(type, encodeMessage(codec, message));
    return message;
  }

  private completion(completionId: number): Promise<NotificationResult> {
    this.checkAlive();
    const known = this.notifications.get(completionId);
    if (known !== undefined) return Promise.resolve(known);
    return new Promise((resolve) => {
      this.waiters.set(completionId, resolve);
      this.maybeSuspend();
    });
  }

  /** Suspends when the handler waits on what cannot come any more in this attempt. */
  private maybeSuspend(): void {
    if (this.terminal !== undefined || this.torn || !this.inputClosed) return;
    if (this.waiters.size === 0 || this.runsExecuting > 0) return;
    this.send(
      MessageType.Suspension,
      encodeMessage(SuspensionMessage, {
        waitingCompletions: [...this.waiters.keys()],
        waitingSignals: [CANCEL_SIGNAL],
        waitingNamedSignals: [],
        awaitingOn: undefined,
      }),
    );
    this.terminal = "suspended";
    this.stats.suspensions++;
    this.waiters.clear();
    this.endResponse();
  }

  private complete(output: Uint8Array): void {
    if (this.torn || this.terminal !== undefined) return;
    try {
      this.issue(
        MessageType.OutputCommand,
        OutputCommandMessage,
        { result: { $case: "value", value: { content: output } }, name: "" },
        () => true,
      );
    } catch {
      return;
    }
    if (this.commandCursor < this.commands.length) {
      this.fail(JOURNAL_MISMATCH, "the journal holds commands after the handler's Output");
      return;
    }
    this.send(MessageType.End, encodeMessage(EndMessage, {}));
    this.terminal = "ended";
    if (this.inputClosed) this.endResponse();
  }

  private handlerFailed(error: unknown): void {
    if (error instanceof AttemptOver || this.torn || this.terminal !== undefined) return;
    if (error instanceof RetryableError) {
      this.endWithError(500, error.message);
      return;
    }
    this.fail(500, `the handler failed: ${String(error)}`);
  }

  private protocolError(message: string): void {
    this.fail(PROTOCOL_VIOLATION, message);
  }

  /** Ends the attempt with an ErrorMessage; Keel must never cause one, so it is a violation. */
  private fail(code: number, message: string): void {
    if (this.torn || this.terminal !== undefined) return;
    this.env.violation(`SDK error ${code} in ${this.invocationId || "an invocation"}: ${message}`);
    this.endWithError(code, message);
  }

  private endWithError(code: number, message: string): void {
    this.send(MessageType.Error, encodeMessage(ErrorMessage, { code, message, stacktrace: "" }));
    this.terminal = "failed";
    this.waiters.clear();
    if (this.inputClosed) this.endResponse();
  }

  private checkAlive(): void {
    if (this.torn || this.terminal !== undefined) throw new AttemptOver();
  }

  private send(type: number, payload: Uint8Array): void {
    if (this.torn || this.responseEnded) return;
    this.response.data(encodeFrame(type, payload));
  }

  /** The SDK closes its response once the request has ended too. */
  private endResponse(): void {
    if (this.responseEnded || this.torn || !this.inputClosed) return;
    this.responseEnded = true;
    this.response.end();
  }
}
