import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { PacedWriter } from "./endpoint_transport.js";

/** A stream that reports a write done only when told to, as a slow endpoint would. */
class HeldStream extends Writable {
  readonly written: Uint8Array[] = [];
  private readonly held: (() => void)[] = [];
  ended = false;

  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.written.push(chunk);
    this.held.push(done);
  }

  override _final(done: () => void): void {
    this.ended = true;
    done();
  }

  /** Completes every held write; returns how many there were. */
  release(): number {
    const held = this.held.splice(0);
    for (const done of held) done();
    return held.length;
  }
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("paced writes to an endpoint stream", () => {
  it("hands over at most the write-ahead at a time and the rest in order as pieces are sent", async () => {
    const stream = new HeldStream();
    const writer = new PacedWriter(stream, 100, 40);
    const body = new Uint8Array(1000).map((_, i) => i % 251);
    writer.write(body.subarray(0, 700));
    writer.write(body.subarray(700));
    writer.end();
    let rounds = 0;
    for (;;) {
      await settle();
      const inFlight = stream.writableLength;
      assert.ok(inFlight <= 100 + 40, `${inFlight} bytes handed over at once`);
      if (stream.release() === 0) break;
      rounds++;
    }
    await settle();
    assert.ok(rounds >= 7, `the body went in ${rounds} rounds`);
    assert.deepEqual(Buffer.concat(stream.written), Buffer.from(body));
    assert.ok(
      stream.written.every((piece) => piece.length <= 40),
      "no piece is larger than a chunk",
    );
    assert.equal(writer.waitingBytes, 0);
    assert.ok(stream.ended, "the stream is ended once everything was handed over");
  });

  it("ends the stream only after every byte written before the end", async () => {
    const stream = new HeldStream();
    const writer = new PacedWriter(stream, 10, 10);
    writer.write(new Uint8Array(25));
    writer.end();
    writer.write(new Uint8Array(5)); // after the end: ignored
    await settle();
    assert.equal(stream.ended, false);
    while (stream.release() > 0) await settle();
    await settle();
    assert.equal(Buffer.concat(stream.written).length, 25);
    assert.ok(stream.ended);
  });
});
