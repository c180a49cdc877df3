/**
 * The node transport contract (src/net/transport.ts), run by every implementation: TCP, in process,
 * and the simulator's network.
 *
 * - a request gets exactly one outcome: the response, "timeout" after its timeout, or "unavailable";
 *   never synchronously, and handlers never run inside the caller's stack;
 * - one-way messages reach the service's handler with the sender's id (best effort);
 * - a node may send to itself;
 * - a request to a node nobody runs fails ("timeout", "unavailable" or "unreachable"), once.
 */

import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { fromUtf8, utf8 } from "../../src/core/bytes.js";
import { NodeId } from "../../src/core/node_id.js";
import type { NodeTransport, RequestOutcome } from "../../src/net/transport.js";

export interface TransportFactory {
  /** A transport for node `id` on a network shared by this factory's nodes. */
  node(id: number): Promise<NodeTransport>;
  /** Lets the transports make progress (a simulated network steps; real ones wait). */
  settle(): Promise<void>;
  close(): Promise<void>;
}

const SERVICE = 9;

export function describeNodeTransportContract(name: string, make: () => TransportFactory): void {
  describe(`node transport contract: ${name}`, () => {
    const factory = make();
    after(() => factory.close());

    const ask = async (
      from: NodeTransport,
      to: number,
      text: string,
      timeoutMs = 2_000,
    ): Promise<{ outcomes: string[] }> => {
      const outcomes: string[] = [];
      let synchronous = true;
      from.request(NodeId(to), SERVICE, utf8(text), timeoutMs, (o: RequestOutcome) => {
        assert.equal(synchronous, false, "a request's outcome never arrives synchronously");
        outcomes.push(o.ok ? fromUtf8(o.payload) : `error:${o.error}`);
      });
      synchronous = false;
      for (let i = 0; i < 2_000 && outcomes.length === 0; i++) await factory.settle();
      // Give a second, wrong outcome a chance to show itself.
      for (let i = 0; i < 5; i++) await factory.settle();
      return { outcomes };
    };

    it("answers requests, delivers one-way messages with the sender's id, also to itself", async () => {
      const a = await factory.node(1);
      const b = await factory.node(2);
      const messages: string[] = [];
      let inHandler = false;
      for (const [transport, prefix] of [
        [a, "a:"],
        [b, "b:"],
      ] as const) {
        transport.serve(SERVICE, {
          onMessage: (from, payload) => messages.push(`${from}>${fromUtf8(payload)}`),
          onRequest: (_from, payload, respond) => {
            inHandler = true;
            respond(utf8(`${prefix}${fromUtf8(payload)}`));
            inHandler = false;
          },
        });
      }
      assert.deepEqual((await ask(a, 2, "x")).outcomes, ["b:x"]);
      assert.deepEqual((await ask(b, 1, "y")).outcomes, ["a:y"]);
      assert.deepEqual((await ask(a, 1, "self")).outcomes, ["a:self"]);
      a.send(NodeId(2), SERVICE, utf8("m1"));
      a.send(NodeId(1), SERVICE, utf8("m2"));
      assert.deepEqual(messages, [], "one-way messages are never delivered synchronously");
      assert.equal(inHandler, false);
      for (let i = 0; i < 2_000 && messages.length < 2; i++) await factory.settle();
      assert.deepEqual(messages.sort(), ["1>m1", "1>m2"]);
    });

    it("fails a request the handler never answers with one timeout", async () => {
      const c = await factory.node(3);
      const d = await factory.node(4);
      d.serve(SERVICE, { onMessage: () => undefined, onRequest: () => undefined });
      c.serve(SERVICE, { onMessage: () => undefined, onRequest: () => undefined });
      assert.deepEqual((await ask(c, 4, "silent", 50)).outcomes, ["error:timeout"]);
    });

    it("fails a request to a node nobody runs, once", async () => {
      const e = await factory.node(5);
      e.serve(SERVICE, { onMessage: () => undefined, onRequest: () => undefined });
      const { outcomes } = await ask(e, 77, "nobody", 200);
      assert.equal(outcomes.length, 1, String(outcomes));
      assert.match(outcomes[0]!, /^error:(timeout|unavailable|unreachable)$/);
    });
  });
}
