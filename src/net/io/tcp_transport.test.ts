import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fromUtf8, utf8 } from "../../core/bytes.js";
import { NodeId } from "../../core/node_id.js";
import type { RequestOutcome, ServiceHandler } from "../transport.js";
import { TcpTransport, type PeerAddress } from "./tcp_transport.js";

const SERVICE = 9;

class Net {
  readonly ports = new Map<NodeId, number>();
  readonly peers = (): Map<NodeId, PeerAddress> =>
    new Map([...this.ports].map(([n, port]) => [n, { host: "127.0.0.1", port }]));

  async node(id: number, generation = 1, port = 0): Promise<TcpTransport> {
    const transport = await TcpTransport.start({
      self: NodeId(id),
      generation,
      listen: { host: "127.0.0.1", port },
      peers: this.peers,
      reconnectBackoffMsMin: 10,
      reconnectBackoffMsMax: 50,
    });
    this.ports.set(NodeId(id), transport.port);
    return transport;
  }
}

/** Echoes requests with a prefix and records one-way messages. */
function echo(transport: TcpTransport, prefix: string, messages: string[] = []): string[] {
  const handler: ServiceHandler = {
    onMessage: (from, payload) => messages.push(`${from}:${fromUtf8(payload)}`),
    onRequest: (_from, payload, respond) => respond(utf8(`${prefix}${fromUtf8(payload)}`)),
  };
  transport.serve(SERVICE, handler);
  return messages;
}

function ask(from: TcpTransport, to: number, text: string, timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve) =>
    from.request(NodeId(to), SERVICE, utf8(text), timeoutMs, (o: RequestOutcome) =>
      resolve(o.ok ? fromUtf8(o.payload) : `error:${o.error}`),
    ),
  );
}

describe("tcp transport", () => {
  it("carries requests, responses and one-way messages, also to itself", async () => {
    const net = new Net();
    const a = await net.node(1);
    const b = await net.node(2);
    echo(a, "a:");
    const seen = echo(b, "b:");
    assert.equal(await ask(a, 2, "hello"), "b:hello");
    assert.equal(await ask(b, 1, "back"), "a:back");
    assert.equal(await ask(a, 1, "self"), "a:self");
    a.send(NodeId(2), SERVICE, utf8("note"));
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(seen, ["1:note"]);
    await a.close();
    await b.close();
  });

  it("settles on one connection when both nodes dial at once", async () => {
    const net = new Net();
    const a = await net.node(1);
    const b = await net.node(2);
    echo(a, "a:");
    echo(b, "b:");
    const answers = await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => ask(a, 2, `x${i}`)),
      ...Array.from({ length: 20 }, (_, i) => ask(b, 1, `y${i}`)),
    ]);
    assert.deepEqual(
      answers.slice(0, 20),
      Array.from({ length: 20 }, (_, i) => `b:x${i}`),
    );
    assert.deepEqual(
      answers.slice(20),
      Array.from({ length: 20 }, (_, i) => `a:y${i}`),
    );
    await a.close();
    await b.close();
  });

  it("reconnects to a restarted peer and never mixes up its answers", async () => {
    const net = new Net();
    const a = await net.node(1);
    let b = await net.node(2);
    echo(a, "a:");
    echo(b, "old:");
    assert.equal(await ask(a, 2, "1"), "old:1");
    const port = b.port;
    await b.close();
    assert.match(await ask(a, 2, "while-down", 200), /^error:(timeout|unavailable)$/);
    b = await net.node(2, 2, port);
    echo(b, "new:");
    assert.equal(await ask(a, 2, "2"), "new:2");
    await a.close();
    await b.close();
  });

  it("fails requests in flight as unavailable when their connection closes", async () => {
    const net = new Net();
    const a = await net.node(1);
    const b = await net.node(2);
    echo(a, "a:");
    b.serve(SERVICE, { onMessage: () => undefined, onRequest: () => undefined });
    assert.equal(await ask(b, 1, "warm"), "a:warm");
    const pending = ask(a, 2, "never answered", 5_000);
    await new Promise((r) => setTimeout(r, 50));
    await b.close();
    assert.equal(await pending, "error:unavailable");
    await a.close();
  });
});
