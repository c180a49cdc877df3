import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fromUtf8, utf8 } from "../../core/bytes.js";
import { NodeId } from "../../core/node_id.js";
import type { RequestOutcome } from "../transport.js";
import { ClusterCredentials, decodeAuthFrame, encodeAuthFrame } from "./node_auth.js";
import { TcpTransport, type PeerAddress } from "./tcp_transport.js";

const SERVICE = 9;
const SECRET = utf8("a cluster secret of enough length");

/** Nodes on loopback, each with the credentials it is given (or none). */
async function node(
  id: number,
  peers: Map<NodeId, PeerAddress>,
  credentials: ClusterCredentials | undefined,
  refused: string[] = [],
): Promise<TcpTransport> {
  const transport = await TcpTransport.start({
    self: NodeId(id),
    generation: 1,
    listen: { host: "127.0.0.1", port: 0 },
    peers: () => peers,
    reconnectBackoffMsMin: 10,
    reconnectBackoffMsMax: 50,
    ...(credentials === undefined ? {} : { credentials }),
    onRefused: (_remote, reason) => refused.push(reason),
  });
  peers.set(NodeId(id), { host: "127.0.0.1", port: transport.port });
  transport.serve(SERVICE, {
    onMessage: () => undefined,
    onRequest: (_from, payload, respond) => respond(utf8(`echo:${fromUtf8(payload)}`)),
  });
  return transport;
}

const ask = (from: TcpTransport, to: number): Promise<string> =>
  new Promise((resolve) =>
    from.request(NodeId(to), SERVICE, utf8("hi"), 2_000, (o: RequestOutcome) =>
      resolve(o.ok ? fromUtf8(o.payload) : `error:${o.error}`),
    ),
  );

describe("node-port authentication", () => {
  it("encodes and decodes every handshake frame, and refuses a nonce of another size", () => {
    const nonce = ClusterCredentials.nonce();
    const proof = new Uint8Array(32).fill(7);
    for (const frame of [
      { phase: "challenge", nonce },
      { phase: "answer", nonce, proof },
      { phase: "proof", proof },
    ] as const)
      assert.deepEqual(decodeAuthFrame(encodeAuthFrame(frame)), frame);
    assert.throws(() =>
      decodeAuthFrame(encodeAuthFrame({ phase: "challenge", nonce: new Uint8Array(8) })),
    );
    assert.throws(() => decodeAuthFrame(new Uint8Array([9])));
  });

  it("binds both nonces: a proof for one connection proves nothing on another", () => {
    const credentials = new ClusterCredentials(SECRET, "c");
    const [d, a, a2] = [
      ClusterCredentials.nonce(),
      ClusterCredentials.nonce(),
      ClusterCredentials.nonce(),
    ];
    const proof = credentials.proof("dialer", d, a);
    assert.ok(ClusterCredentials.matches(proof, credentials.proof("dialer", d, a)));
    assert.ok(!ClusterCredentials.matches(proof, credentials.proof("dialer", d, a2)));
    assert.ok(!ClusterCredentials.matches(proof, credentials.proof("acceptor", d, a)));
    const otherCluster = new ClusterCredentials(SECRET, "other");
    assert.ok(!ClusterCredentials.matches(proof, otherCluster.proof("dialer", d, a)));
    assert.throws(() => new ClusterCredentials(utf8("short"), "c"), /at least 16 bytes/);
  });

  it("lets nodes with the cluster's credentials talk, and refuses those without or with others", async () => {
    const peers = new Map<NodeId, PeerAddress>();
    const refused: string[] = [];
    const credentials = new ClusterCredentials(SECRET, "c");
    const a = await node(1, peers, credentials, refused);
    const b = await node(2, peers, credentials);
    const stranger = await node(3, peers, undefined);
    const impostorRefused: string[] = [];
    const impostor = await node(
      4,
      peers,
      new ClusterCredentials(utf8("another secret, also long"), "c"),
      impostorRefused,
    );
    try {
      assert.equal(await ask(b, 1), "echo:hi");
      assert.equal(await ask(a, 2), "echo:hi");
      assert.match(await ask(stranger, 1), /^error:(unreachable|unavailable|timeout)$/);
      assert.match(await ask(impostor, 1), /^error:(unreachable|unavailable|timeout)$/);
      assert.ok(
        refused.some((r) => /hello before the handshake/.test(r)),
        refused.join("; "),
      );
      // The impostor finds the node's answer wrong and hangs up before it could prove anything.
      assert.ok(
        impostorRefused.some((r) => /does not hold the cluster's credentials/.test(r)),
        impostorRefused.join("; "),
      );
      // A client connection authenticates too.
      const client = TcpTransport.client({ credentials });
      const answer = await new Promise<string>((resolve) =>
        client.requestAt(peers.get(NodeId(1))!, SERVICE, utf8("c"), 2_000, (o) =>
          resolve(o.ok ? fromUtf8(o.payload) : `error:${o.error}`),
        ),
      );
      assert.equal(answer, "echo:c");
      await client.close();
    } finally {
      await Promise.all([a.close(), b.close(), stranger.close(), impostor.close()]);
    }
  });
});
