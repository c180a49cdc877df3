import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { OneWayCallCommandMessage, SleepCommandMessage } from "../gen/keel/service_protocol.js";
import { concatBytes } from "../core/bytes.js";
import { FrameDecoder, encodeFrame } from "../service-protocol/framing.js";
import { MessageType } from "../service-protocol/message_types.js";
import { encodeMessage } from "../wire/proto_encode.js";
import type { EndpointStreamHandlers, EndpointTransport } from "../invoker/endpoint.js";
import { HandlerClockTransport, shiftTimeField } from "./handler_clock.js";

describe("shiftTimeField", () => {
  it("moves a sleep's wake-up time and keeps its other fields", () => {
    const sleep = encodeMessage(SleepCommandMessage, {
      wakeUpTime: 1_800_000_000_000,
      resultCompletionId: 3,
      name: "nap",
    });
    const shifted = SleepCommandMessage.decode(shiftTimeField(sleep, 1, 86_400_000));
    assert.deepEqual(shifted, {
      wakeUpTime: 1_800_086_400_000,
      resultCompletionId: 3,
      name: "nap",
    });
  });

  it("leaves a send without delay (time 0) alone", () => {
    const send = encodeMessage(OneWayCallCommandMessage, {
      serviceName: "S",
      handlerName: "h",
      parameter: new Uint8Array(0),
      invokeTime: 0,
      headers: [],
      key: "",
      invocationIdNotificationIdx: 1,
      name: "",
    });
    const shifted = OneWayCallCommandMessage.decode(shiftTimeField(send, 4, 1000));
    assert.equal(shifted.invokeTime, 0);
    assert.equal(shifted.serviceName, "S");
  });

  it("copies fields it does not know byte for byte", () => {
    const sleep = encodeMessage(SleepCommandMessage, {
      wakeUpTime: 1000,
      resultCompletionId: 1,
      name: "",
    });
    const unknownField = Uint8Array.of((15 << 3) | 2, 2, 0xab, 0xcd); // field 15, 2 bytes
    const withUnknown = new Uint8Array([...sleep, ...unknownField]);
    const shifted = shiftTimeField(withUnknown, 1, 500);
    assert.deepEqual([...shifted.subarray(shifted.length - 4)], [...unknownField]);
    assert.equal(SleepCommandMessage.decode(shifted).wakeUpTime, 1500);
  });
});

describe("HandlerClockTransport", () => {
  /** Opens a stream through the transport; returns what the SDK "sends" and what the node gets. */
  function stream(offsetMs: number) {
    let sdk: EndpointStreamHandlers | undefined;
    const inner: EndpointTransport = {
      open: (_request, handlers) => {
        sdk = handlers;
        return { write: () => undefined, end: () => undefined, abort: () => undefined };
      },
      close: () => Promise.resolve(),
    };
    const received: Uint8Array[] = [];
    let ended = false;
    new HandlerClockTransport(inner, () => offsetMs).open(
      { uri: "http://x", useHttp11: false, requestResponse: false, path: "/", headers: {} },
      {
        onResponse: () => undefined,
        onData: (chunk) => received.push(chunk),
        onEnd: () => (ended = true),
        onError: () => undefined,
      },
    );
    return {
      send: (bytes: Uint8Array) => sdk!.onData(bytes),
      end: () => sdk!.onEnd(),
      received,
      ended: () => ended,
    };
  }

  it("shifts a sleep split across chunks and passes other frames through", () => {
    const s = stream(1000);
    const sleep = encodeFrame(
      MessageType.SleepCommand,
      encodeMessage(SleepCommandMessage, { wakeUpTime: 5000, resultCompletionId: 1, name: "" }),
    );
    const other = encodeFrame(MessageType.OutputCommand, Uint8Array.of(1, 2, 3));
    const bytes = concatBytes([other, sleep]);
    // Cut inside the first frame's header, inside the sleep's header and inside its payload.
    const cuts = [0, 3, 9, 14, bytes.length];
    for (let i = 1; i < cuts.length; i++) s.send(bytes.subarray(cuts[i - 1], cuts[i]));
    const frames = new FrameDecoder(1 << 20).push(concatBytes(s.received));
    assert.equal(frames.length, 2);
    assert.deepEqual([...frames[0]!.payload], [1, 2, 3]);
    assert.equal(SleepCommandMessage.decode(frames[1]!.payload).wakeUpTime, 6000);
  });

  it("hands a truncated last frame and an oversized one on as they came", () => {
    const truncated = stream(1000);
    const sleep = encodeFrame(
      MessageType.SleepCommand,
      encodeMessage(SleepCommandMessage, { wakeUpTime: 5000, resultCompletionId: 1, name: "" }),
    );
    truncated.send(sleep.subarray(0, 6));
    truncated.end();
    assert.deepEqual([...concatBytes(truncated.received)], [...sleep.subarray(0, 6)]);
    assert.equal(truncated.ended(), true);

    const oversized = stream(1000);
    const header = Uint8Array.of(0x04, 0x0c, 0, 0, 0x7f, 0xff, 0xff, 0xff, 9, 9);
    oversized.send(header.subarray(0, 5));
    oversized.send(header.subarray(5));
    oversized.send(Uint8Array.of(7));
    assert.deepEqual([...concatBytes(oversized.received)], [...header, 7]);
  });
});
