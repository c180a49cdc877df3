/**
 * A scripted stand-in for an SDK endpoint, behind the EndpointTransport port, for in-process tests of
 * the invoker and the node. Each attempt runs a script that sees the Start message and the replayed
 * journal and answers with protocol messages. Like the real SDK, it closes its response only after
 * the request stream has ended (unless the script says otherwise).
 */

import { FrameDecoder, encodeFrame, type Frame } from "../../src/service-protocol/framing.js";
import { MessageType } from "../../src/service-protocol/message_types.js";
import {
  EndMessage,
  ErrorMessage,
  OutputCommandMessage,
  StartMessage,
  SuspensionMessage,
} from "../../src/gen/keel/service_protocol.js";
import type {
  EndpointRequest,
  EndpointStream,
  EndpointStreamHandlers,
  EndpointTransport,
} from "../../src/invoker/endpoint.js";

export class FakeAttempt {
  start!: StartMessage;
  readonly replayed: Frame[] = [];
  /** Frames pushed by the server after the replay (new notifications). */
  readonly pushed: Frame[] = [];
  requestEnded = false;
  responseEnded = false;
  private onPush: (() => void) | undefined;

  constructor(
    readonly request: EndpointRequest,
    private readonly handlers: EndpointStreamHandlers,
  ) {}

  send(type: number, payload: Uint8Array): void {
    this.sendBytes(encodeFrame(type, payload));
  }

  /** Raw response bytes, framed or not (fuzzing). */
  sendBytes(bytes: Uint8Array): void {
    if (this.responseEnded) return;
    this.handlers.onData(bytes);
  }

  output(value: string): void {
    this.send(
      MessageType.OutputCommand,
      OutputCommandMessage.encode({
        result: { $case: "value", value: { content: new TextEncoder().encode(value) } },
        name: "",
      }).finish(),
    );
  }

  end(): void {
    this.send(MessageType.End, EndMessage.encode({}).finish());
  }

  suspend(completions: number[], signals: number[] = [1]): void {
    this.send(
      MessageType.Suspension,
      SuspensionMessage.encode({
        waitingCompletions: completions,
        waitingSignals: signals,
        waitingNamedSignals: [],
        awaitingOn: undefined,
      }).finish(),
    );
  }

  error(code: number, message: string): void {
    this.send(MessageType.Error, ErrorMessage.encode({ code, message, stacktrace: "" }).finish());
  }

  closeResponse(): void {
    if (this.responseEnded) return;
    this.responseEnded = true;
    this.handlers.onEnd();
  }

  /** Waits until the server pushed at least `count` frames after the replay. */
  async waitForPushed(count: number): Promise<Frame[]> {
    while (this.pushed.length < count)
      await new Promise<void>((resolve) => (this.onPush = resolve));
    return this.pushed;
  }

  /** Called by the transport with the server's bytes. */
  received(frame: Frame): void {
    this.pushed.push(frame);
    const wake = this.onPush;
    this.onPush = undefined;
    wake?.();
  }
}

export type Script = (attempt: FakeAttempt) => void | Promise<void>;

export class FakeEndpoint implements EndpointTransport {
  readonly attempts: FakeAttempt[] = [];

  constructor(
    private readonly script: (request: EndpointRequest, attemptNumber: number) => Script,
  ) {}

  open(request: EndpointRequest, handlers: EndpointStreamHandlers): EndpointStream {
    const attempt = new FakeAttempt(request, handlers);
    this.attempts.push(attempt);
    const decoder = new FrameDecoder(1 << 24);
    let started = false;
    let expected = -1;
    const script = this.script(request, this.attempts.length);
    queueMicrotask(() =>
      handlers.onResponse(200, {
        "content-type": request.headers["content-type"],
        "x-restate-server": "fake-sdk/1",
      }),
    );
    const maybeRun = (): void => {
      if (started || expected < 0 || attempt.replayed.length < expected) return;
      started = true;
      queueMicrotask(() => void script(attempt));
    };
    return {
      write: (bytes) => {
        for (const frame of decoder.push(bytes)) {
          if (frame.type === MessageType.Start) {
            attempt.start = StartMessage.decode(frame.payload);
            expected = attempt.start.knownEntries;
          } else if (!started) {
            attempt.replayed.push(frame);
          } else {
            attempt.received(frame);
          }
          maybeRun();
        }
        maybeRun();
      },
      end: () => {
        attempt.requestEnded = true;
        // Like the SDK: the response closes once the request has ended.
        queueMicrotask(() => attempt.closeResponse());
      },
      abort: () => {
        attempt.requestEnded = true;
        attempt.responseEnded = true;
      },
    };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
