import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { concatBytes, utf8 } from "../core/bytes.js";
import {
  decodeHello,
  encodeEnvelope,
  encodeHello,
  EnvelopeDecoder,
  NodeService,
  type Envelope,
} from "./envelope.js";

describe("node envelope", () => {
  it("splits a stream cut anywhere into the envelopes that were sent", () => {
    const sent: Envelope[] = [
      { kind: "message", service: NodeService.loglet, requestId: 0, payload: utf8("one-way") },
      { kind: "request", service: NodeService.metadata, requestId: 2 ** 40, payload: utf8("ask") },
      { kind: "response", service: NodeService.metadata, requestId: 7, payload: new Uint8Array(0) },
    ];
    const stream = concatBytes([
      encodeHello({ node: 3, generation: 9 }),
      ...sent.map(encodeEnvelope),
    ]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const decoder = new EnvelopeDecoder(1024);
      const got = [...decoder.push(stream.subarray(0, cut)), ...decoder.push(stream.subarray(cut))];
      assert.deepEqual(decodeHello(got[0]!), { node: 3, generation: 9 });
      assert.deepEqual(got.slice(1), sent);
    }
  });

  it("refuses a frame larger than the limit", () => {
    const big = encodeEnvelope({
      kind: "message",
      service: 1,
      requestId: 0,
      payload: new Uint8Array(2000),
    });
    assert.throws(() => new EnvelopeDecoder(1024).push(big), /outside 11..1024/);
  });
});
