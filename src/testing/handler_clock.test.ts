import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { OneWayCallCommandMessage, SleepCommandMessage } from "../gen/keel/service_protocol.js";
import { encodeMessage } from "../protocol/proto_encode.js";
import { shiftTimeField } from "./handler_clock.js";

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
