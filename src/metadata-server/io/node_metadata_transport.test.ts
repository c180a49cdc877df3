import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { NodeId } from "../../core/node_id.js";
import { NodeService } from "../../net/envelope.js";
import { TcpTransport, type PeerAddress } from "../../net/io/tcp_transport.js";
import { LogIndex, MemberId, Term } from "../raft/types.js";
import type { Envelope } from "../wire.js";
import { ClientMetadataTransport, MemberMetadataTransport } from "./node_metadata_transport.js";

async function member(
  id: number,
): Promise<{ transport: MemberMetadataTransport; inbox: Envelope[] }> {
  const addresses = new Map<NodeId, PeerAddress>();
  const node = await TcpTransport.start({
    self: NodeId(id),
    generation: 1,
    listen: { host: "127.0.0.1", port: 0 },
    peers: () => addresses,
  });
  const transport = new MemberMetadataTransport(`127.0.0.1:${node.port}`, node, addresses);
  const inbox: Envelope[] = [];
  transport.onReceive((envelope) => inbox.push(envelope));
  return { transport, inbox };
}

const until = async (condition: () => boolean): Promise<void> => {
  for (let waited = 0; !condition(); waited += 10) {
    assert.ok(waited < 3_000, "timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe("metadata on the node transport", () => {
  const closing: { close(): void }[] = [];
  after(() => closing.forEach((c) => c.close()));

  it("carries Raft between members by node id and answers a client where it asked", async () => {
    const one = await member(1);
    const two = await member(2);
    closing.push(one.transport, two.transport);
    const heartbeat: Envelope = {
      from: one.transport.address,
      message: {
        kind: "raft",
        message: {
          kind: "heartbeat",
          from: MemberId(1),
          to: MemberId(2),
          term: Term(3),
          commit: LogIndex(7),
          readRound: 1,
        },
      },
    };
    one.transport.send(two.transport.address, heartbeat);
    await until(() => two.inbox.length === 1);
    assert.deepEqual(two.inbox[0], heartbeat);

    const client = new ClientMetadataTransport("client:test", TcpTransport.client(), true);
    closing.push(client);
    const answers: Envelope[] = [];
    client.onReceive((envelope) => answers.push(envelope));
    client.send(two.transport.address, {
      from: client.address,
      message: { kind: "request", requestId: 5, request: { kind: "status" } },
    });
    await until(() => two.inbox.length === 2);
    assert.equal(two.inbox[1]!.from, "client:test");
    // A response nobody asked for is dropped; the one awaited travels back to the client.
    two.transport.send("client:test", {
      from: two.transport.address,
      message: { kind: "response", requestId: 6, response: { kind: "joined" } },
    });
    assert.equal(two.transport.dropped, 1);
    two.transport.send("client:test", {
      from: two.transport.address,
      message: { kind: "response", requestId: 5, response: { kind: "retry", reason: "test" } },
    });
    await until(() => answers.length === 1);
    assert.deepEqual(answers[0], {
      from: two.transport.address,
      message: { kind: "response", requestId: 5, response: { kind: "retry", reason: "test" } },
    });
  });

  it("drops what is not a metadata envelope instead of failing", async () => {
    const one = await member(1);
    closing.push(one.transport);
    const stranger = TcpTransport.client();
    const outcome = await new Promise<string>((resolve) =>
      stranger.requestAt(
        { host: "127.0.0.1", port: Number(one.transport.address.split(":")[1]) },
        NodeService.metadata,
        new Uint8Array([0xff, 0x00, 0x13]),
        200,
        (o) => resolve(o.ok ? "answered" : o.error),
      ),
    );
    assert.equal(outcome, "timeout");
    assert.equal(one.inbox.length, 0);
    await stranger.close();
  });
});
