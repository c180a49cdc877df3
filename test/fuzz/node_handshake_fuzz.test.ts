/**
 * Fuzzing the node port's handshake (net/io/node_auth.ts): a transport that requires the cluster's
 * credentials gets seeded raw connections that send random bytes, envelopes of every kind before
 * the handshake, truncated and oversized frames, handshakes with wrong keys or wrong phases, and a
 * recorded valid handshake replayed on a new connection, each followed by requests.
 *
 * What must hold: no request from an unauthenticated connection reaches a service; the transport
 * keeps serving a client that holds the credentials after every round; nothing throws. Seeds: see
 * `fuzzSeeds`.
 */

import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { describe, it } from "node:test";
import { seededPrng } from "../../src/core/prng.js";
import { fromUtf8, utf8 } from "../../src/core/bytes.js";
import { NodeId } from "../../src/core/node_id.js";
import { encodeEnvelope, encodeHello, EnvelopeDecoder } from "../../src/net/envelope.js";
import {
  ClusterCredentials,
  decodeAuthFrame,
  encodeAuthFrame,
  type AuthFrame,
} from "../../src/net/io/node_auth.js";
import { TcpTransport } from "../../src/net/io/tcp_transport.js";
import { Gen, fuzzSeeds } from "./generate.js";

const SERVICE = 9;
const SECRET = utf8("the fuzzed cluster's secret");
const CONNECTIONS_PER_ROUND = 20;
/** How long a fuzzed connection stays open for the node to answer or close it. */
const LINGER_MS = 60;

const auth = (frame: AuthFrame): Uint8Array =>
  encodeEnvelope({ kind: "auth", service: 0, requestId: 0, payload: encodeAuthFrame(frame) });
const request = (id: number): Uint8Array =>
  encodeEnvelope({ kind: "request", service: SERVICE, requestId: id, payload: utf8("fuzz") });

/** Opens a raw connection, lets `script` talk on it, and closes it. */
async function raw(
  port: number,
  script: (socket: Socket, frames: () => Promise<Uint8Array[]>) => Promise<void>,
): Promise<void> {
  const socket = connect(port, "127.0.0.1");
  socket.on("error", () => undefined);
  await new Promise<void>((resolve) => {
    socket.once("connect", resolve);
    socket.once("close", resolve);
  });
  const decoder = new EnvelopeDecoder(1 << 20);
  const received: Uint8Array[] = [];
  const waiters: (() => void)[] = [];
  socket.on("data", (chunk: Buffer) => {
    try {
      for (const envelope of decoder.push(new Uint8Array(chunk)))
        if (envelope.kind === "auth") received.push(envelope.payload);
    } catch {
      // the node sent something this client cannot read: the script sees nothing more
    }
    waiters.splice(0).forEach((wake) => wake());
  });
  socket.on("close", () => waiters.splice(0).forEach((wake) => wake()));
  // The auth frames received so far, after waiting for one more (or the close) for a moment.
  const frames = async (): Promise<Uint8Array[]> => {
    await new Promise<void>((resolve) => {
      waiters.push(resolve);
      setTimeout(resolve, LINGER_MS);
    });
    return received;
  };
  try {
    await script(socket, frames);
    await new Promise((r) => setTimeout(r, LINGER_MS));
  } finally {
    socket.destroy();
  }
}

describe("node-port handshake fuzz", () => {
  it("never lets an unauthenticated connection reach a service, and keeps serving", async () => {
    const credentials = new ClusterCredentials(SECRET, "fuzz");
    const wrong = new ClusterCredentials(utf8("not the cluster's secret at all"), "fuzz");
    let served = 0;
    const refused: string[] = [];
    const node = await TcpTransport.start({
      self: NodeId(1),
      generation: 1,
      listen: { host: "127.0.0.1", port: 0 },
      peers: () => new Map(),
      credentials,
      onRefused: (_remote, reason) => refused.push(reason),
    });
    node.serve(SERVICE, {
      onMessage: () => served++,
      onRequest: (_from, payload, respond) => {
        served++;
        respond(payload);
      },
    });
    const client = TcpTransport.client({ credentials });
    const legitimate = (): Promise<string> =>
      new Promise((resolve) =>
        client.requestAt({ host: "127.0.0.1", port: node.port }, SERVICE, utf8("ok"), 5_000, (o) =>
          resolve(o.ok ? fromUtf8(o.payload) : `error:${o.error}`),
        ),
      );

    // A valid handshake's frames, recorded to be replayed later on other connections.
    let recorded: Uint8Array[] = [];
    await raw(node.port, async (socket, frames) => {
      const nonce = ClusterCredentials.nonce();
      socket.write(auth({ phase: "challenge", nonce }));
      const [answer] = await frames();
      const decoded = decodeAuthFrame(answer!);
      assert.equal(decoded.phase, "answer");
      const proof = auth({
        phase: "proof",
        proof: credentials.proof("dialer", nonce, (decoded as { nonce: Uint8Array }).nonce),
      });
      recorded = [auth({ phase: "challenge", nonce }), proof];
      socket.write(proof);
    });

    const seeds = fuzzSeeds("node handshake fuzz", [], 5);
    let rounds = 0;
    try {
      for (let seed = seeds.next(); seed !== undefined; seed = seeds.next()) {
        const gen = new Gen(seededPrng(seed));
        const servedBefore = served;
        for (let c = 0; c < CONNECTIONS_PER_ROUND; c++) {
          const attack = gen.int(7);
          await raw(node.port, async (socket, frames) => {
            switch (attack) {
              case 0: // random bytes
                socket.write(gen.bytes(256));
                break;
              case 1: // an envelope other than the handshake first
                socket.write(
                  gen.pick([
                    encodeHello({ node: 2, generation: 1 }),
                    request(1),
                    encodeEnvelope({
                      kind: "message",
                      service: SERVICE,
                      requestId: 0,
                      payload: utf8("m"),
                    }),
                  ]),
                );
                break;
              case 2: {
                // a truncated handshake frame
                const frame = auth({ phase: "challenge", nonce: ClusterCredentials.nonce() });
                socket.write(frame.subarray(0, gen.int(frame.length)));
                break;
              }
              case 3: {
                // a challenge, then a proof made with the wrong key
                const nonce = ClusterCredentials.nonce();
                socket.write(auth({ phase: "challenge", nonce }));
                const [answer] = await frames();
                if (answer === undefined) break;
                const theirs = decodeAuthFrame(answer) as { nonce: Uint8Array };
                socket.write(
                  auth({ phase: "proof", proof: wrong.proof("dialer", nonce, theirs.nonce) }),
                );
                break;
              }
              case 4: // a recorded valid handshake, replayed on a new connection
                for (const frame of recorded) socket.write(frame);
                break;
              case 5: // phases out of order, or a proof first
                socket.write(
                  gen.pick([
                    auth({ phase: "proof", proof: gen.bytes(32) }),
                    auth({
                      phase: "answer",
                      nonce: ClusterCredentials.nonce(),
                      proof: gen.bytes(32),
                    }),
                  ]),
                );
                break;
              case 6: // a frame header claiming a huge frame
                socket.write(new Uint8Array([0x7f, 0xff, 0xff, 0xff, 4, 0, 0]));
                break;
            }
            // Whatever the handshake did, ask for service on the same connection.
            socket.write(request(7));
          });
        }
        assert.equal(served, servedBefore, `seed ${seed}: an unauthenticated request was served`);
        assert.equal(await legitimate(), "ok", `seed ${seed}: the node still serves its cluster`);
        served = servedBefore;
        rounds++;
      }
      assert.ok(refused.length > 0, "refusals are reported");
      console.log(
        `node handshake fuzz: ${rounds} round(s), ${refused.length} connection(s) refused`,
      );
    } finally {
      await client.close();
      await node.close();
    }
  });
});
