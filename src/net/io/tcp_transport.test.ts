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

  it("never puts a request asked again from a failure callback on the connection that closed", async () => {
    const net = new Net();
    const a = await net.node(1);
    const b = await net.node(2);
    b.serve(SERVICE, { onMessage: () => undefined, onRequest: () => undefined });
    echo(a, "a:");
    assert.equal(await ask(b, 1, "warm"), "a:warm");
    // Many requests in flight when the connection closes, each asked again once it fails (as a
    // sequencer re-sends its stores): a re-sent request written to the closing connection would be
    // failed by the same loop and sent again, without end, and the event loop would never turn.
    const outcomes: string[] = [];
    const resent = new Promise<void>((resolve) => {
      for (let i = 0; i < 50; i++)
        a.request(NodeId(2), SERVICE, utf8(`r${i}`), 5_000, (first) => {
          outcomes.push(first.ok ? "ok" : first.error);
          a.request(NodeId(2), SERVICE, utf8(`again${i}`), 5_000, (second) => {
            outcomes.push(second.ok ? "ok" : second.error);
            if (outcomes.length === 100) resolve();
          });
        });
    });
    await new Promise((r) => setTimeout(r, 50));
    await b.close();
    await resent;
    assert.deepEqual(outcomes.slice(0, 50), Array<string>(50).fill("unavailable"));
    assert.deepEqual(outcomes.slice(50), Array<string>(50).fill("unreachable"));
    await a.close();
  });

  it("fails a request to a node whose process is gone as unreachable, at once", async () => {
    const net = new Net();
    const a = await net.node(1);
    const b = await net.node(2);
    echo(b, "b:");
    assert.equal(await ask(a, 2, "warm"), "b:warm");
    await b.close();
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    // Nothing listens on its port: the request was never sent, and the answer does not wait.
    assert.equal(await ask(a, 2, "gone", 5_000), "error:unreachable");
    assert.ok(Date.now() - started < 2_000);
    await a.close();
  });

  it("fails requests to a gone node within the redial backoff, not their own timeout", async () => {
    const net = new Net();
    // The default backoff, which bounds how long a dead node's requests wait.
    const a = await TcpTransport.start({
      self: NodeId(1),
      generation: 1,
      listen: { host: "127.0.0.1", port: 0 },
      peers: net.peers,
    });
    const b = await net.node(2);
    echo(b, "b:");
    try {
      assert.equal(await ask(a, 2, "warm"), "b:warm");
      await b.close();
      await new Promise((r) => setTimeout(r, 50));
      // One-way messages keep waiting for the peer, so the transport keeps redialing with backoff.
      for (let i = 0; i < 8; i++) {
        a.send(NodeId(2), SERVICE, utf8(`notice ${i}`));
        assert.equal(await ask(a, 2, `request ${i}`, 5_000), "error:unreachable");
      }
      const started = Date.now();
      assert.equal(await ask(a, 2, "after many failed dials", 5_000), "error:unreachable");
      assert.ok(Date.now() - started < 1_000, `failed after ${Date.now() - started} ms`);
    } finally {
      await a.close();
    }
  });

  it("answers a client connection by address without making it a node's connection", async () => {
    const net = new Net();
    const a = await net.node(1);
    const b = await net.node(2);
    echo(a, "a:");
    const seenByB = echo(b, "b:");
    const askAt = (from: TcpTransport, port: number, text: string): Promise<string> =>
      new Promise((resolve) =>
        from.requestAt({ host: "127.0.0.1", port }, SERVICE, utf8(text), 2_000, (o) =>
          resolve(o.ok ? fromUtf8(o.payload) : `error:${o.error}`),
        ),
      );
    const client = TcpTransport.client();
    assert.equal(await askAt(client, a.port, "who"), "a:who");
    // A node may also ask by address; the node connection between the two stays as it was.
    assert.equal(await ask(b, 1, "first"), "a:first");
    assert.equal(await askAt(b, a.port, "by-address"), "a:by-address");
    a.send(NodeId(2), SERVICE, utf8("still-node-2"));
    assert.equal(await ask(a, 2, "back"), "b:back");
    assert.deepEqual(seenByB, ["1:still-node-2"]);
    // The acceptor sees a client as the anonymous node 0 and cannot address it.
    let from: number | undefined;
    a.serve(SERVICE + 1, {
      onMessage: () => undefined,
      onRequest: (sender, payload, respond) => {
        from = sender;
        respond(payload);
      },
    });
    await new Promise<void>((resolve) =>
      client.requestAt({ host: "127.0.0.1", port: a.port }, SERVICE + 1, utf8("x"), 2_000, () =>
        resolve(),
      ),
    );
    assert.equal(from, 0);
    await client.close();
    await a.close();
    await b.close();
  });

  it("fails a client request to an address where nothing listens", async () => {
    const client = TcpTransport.client({ reconnectBackoffMsMin: 10, reconnectBackoffMsMax: 20 });
    const probe = await TcpTransport.start({
      self: NodeId(9),
      generation: 1,
      listen: { host: "127.0.0.1", port: 0 },
      peers: () => new Map(),
    });
    const port = probe.port;
    await probe.close();
    const outcome = await new Promise<RequestOutcome>((resolve) =>
      client.requestAt({ host: "127.0.0.1", port }, SERVICE, utf8("x"), 300, resolve),
    );
    assert.equal(outcome.ok, false);
    await client.close();
  });

  it("hands connections that open with another protocol's bytes over, and keeps its own", async () => {
    const handedOver: string[] = [];
    const other = await TcpTransport.start({
      self: NodeId(1),
      generation: 1,
      listen: { host: "127.0.0.1", port: 0 },
      peers: () => new Map([[NodeId(2), { host: "127.0.0.1", port: dialer.port }]]),
      otherProtocol: (socket, firstBytes) => {
        handedOver.push(firstBytes.toString("latin1"));
        socket.end("HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n");
      },
    });
    const dialer = await TcpTransport.start({
      self: NodeId(2),
      generation: 1,
      listen: { host: "127.0.0.1", port: 0 },
      peers: () => new Map([[NodeId(1), { host: "127.0.0.1", port: other.port }]]),
    });
    try {
      echo(other, "one:");
      // Node 2's frames still reach node 1 on the same port.
      assert.equal(await ask(dialer, 1, "frames"), "one:frames");
      const res = await fetch(`http://127.0.0.1:${other.port}/metrics`);
      assert.equal(res.status, 204);
      assert.equal(handedOver.length, 1);
      assert.match(handedOver[0]!, /^GET \/metrics HTTP\/1\.1/);
    } finally {
      await dialer.close();
      await other.close();
    }
  });
});
