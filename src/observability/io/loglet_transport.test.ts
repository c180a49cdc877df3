import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeLogletMessage, type LogletId } from "../../bifrost/index.js";
import { NodeId, generationalNodeId } from "../../core/index.js";
import { NodeService, type NodeTransport, type RequestOutcome } from "../../net/index.js";
import { NO_METRICS, type TimerStamp } from "../index.js";
import { timedLogServerStores } from "./loglet_transport.js";

describe("timed log-server stores", () => {
  it("times store requests to log servers by server, and passes everything else through", () => {
    const answers: ((outcome: RequestOutcome) => void)[] = [];
    const asked: number[] = [];
    const inner: NodeTransport = {
      self: NodeId(1),
      send: () => undefined,
      serve: () => undefined,
      request: (to, _service, _payload, _timeoutMs, done) => {
        asked.push(to);
        answers.push(done);
      },
    };
    const timed: string[] = [];
    const transport = timedLogServerStores(inner, {
      ...NO_METRICS,
      startTimer: () => 7 as TimerStamp,
      loglet: {
        storeAnswered: (server, answered, started) =>
          timed.push(`${server} ${answered} ${started}`),
      },
    });
    assert.equal(transport.self, NodeId(1));
    const header = { logletId: "5_0" as LogletId, knownGlobalTail: 1 };
    const store = encodeLogletMessage({
      kind: "store",
      header,
      sequencer: generationalNodeId(1, 1),
      first: 1,
      repair: false,
      payloads: [new Uint8Array([1])],
    });
    const info = encodeLogletMessage({ kind: "getInfo", header });
    const results: boolean[] = [];
    transport.request(NodeId(2), NodeService.logServer, store, 1000, (o) => results.push(o.ok));
    transport.request(NodeId(3), NodeService.logServer, store, 1000, (o) => results.push(o.ok));
    transport.request(NodeId(2), NodeService.logServer, info, 1000, (o) => results.push(o.ok));
    answers[0]!({ ok: true, payload: new Uint8Array() });
    answers[1]!({ ok: false, error: "timeout", detail: "no answer in time" });
    answers[2]!({ ok: true, payload: new Uint8Array() });
    assert.deepEqual(asked, [2, 3, 2]);
    assert.deepEqual(results, [true, false, true], "every answer reaches its caller");
    assert.deepEqual(timed, ["2 true 7", "3 false 7"], "only the stores are timed");
  });
});
