/**
 * Bifrost stories: a log is a chain of segments; sealing the last one and extending the chain moves
 * appends to a new segment at the sealed tail, while reads span the seam in order.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Lsn } from "../core/brand.js";
import { fromUtf8, utf8 } from "../core/bytes.js";
import { MemoryMetadataStore } from "../metadata/memory_store.js";
import { Bifrost, type LogEntry } from "./bifrost.js";
import { MemoryLogletProvider } from "./memory_loglet.js";

const memory = { provider: "memory", params: "{}" };

function newBifrost(
  metadata = new MemoryMetadataStore(),
  provider = new MemoryLogletProvider(),
): Bifrost {
  return new Bifrost(metadata, new Map([["memory", provider]]), () => memory);
}

const texts = (entries: LogEntry[]): string[] =>
  entries.map((e) => (e.kind === "record" ? fromUtf8(e.payload) : `gap ${e.from}-${e.to}`));

describe("bifrost", () => {
  it("creates a one-segment chain at LSN 1 and appends in order", async () => {
    const log = await newBifrost().log(3);
    assert.equal(await log.findTail(), 1);
    assert.equal(await log.append([utf8("a"), utf8("b")]), 2);
    assert.equal(log.knownTail, 3, "an append teaches the log its tail");
    assert.equal(await log.findTail(), 3);
    assert.deepEqual(texts(await log.read(Lsn(1), 10)), ["a", "b"]);
    assert.deepEqual(
      log.chain.segments.map((s) => s.baseLsn),
      [1],
    );
  });

  it("seals and extends: appends continue at the sealed tail, reads cross the seam in order", async () => {
    const metadata = new MemoryMetadataStore();
    const provider = new MemoryLogletProvider();
    const log = await newBifrost(metadata, provider).log(0);
    await log.append([utf8("1"), utf8("2"), utf8("3")]);
    const base = await log.sealAndExtend(() => memory);
    assert.equal(base, 4, "the new segment starts where the sealed one ended");
    assert.equal(await log.append([utf8("4")]), 4);
    assert.deepEqual(
      log.chain.segments.map((s) => s.baseLsn),
      [1, 4],
    );
    const first = await log.read(Lsn(2), 10);
    assert.deepEqual(
      texts(first),
      ["2", "3"],
      "a read never crosses a segment boundary in one call",
    );
    assert.deepEqual(texts(await log.read(Lsn(4), 10)), ["4"]);
    // Another process opening the log from metadata sees the same chain.
    const reopened = await newBifrost(metadata, provider).log(0);
    assert.equal(await reopened.findTail(), 5);
    assert.deepEqual(texts(await reopened.read(Lsn(4), 10)), ["4"]);
  });

  it("moves a writer whose segment was sealed by another to the new segment", async () => {
    const metadata = new MemoryMetadataStore();
    const provider = new MemoryLogletProvider();
    const writer = await newBifrost(metadata, provider).log(1);
    const other = await newBifrost(metadata, provider).log(1);
    await writer.append([utf8("a")]);
    await other.sealAndExtend(() => memory);
    assert.equal(await writer.append([utf8("b")]), 2, "the append lands in the new segment");
    assert.deepEqual(texts(await other.read(Lsn(2), 10)), ["b"]);
  });

  it("trims across segments and reports the trimmed range as a gap", async () => {
    const log = await newBifrost().log(2);
    await log.append([utf8("1"), utf8("2")]);
    await log.sealAndExtend(() => memory);
    await log.append([utf8("3"), utf8("4")]);
    await log.trim(Lsn(3));
    assert.equal(await log.trimPoint(), 3);
    assert.deepEqual(texts(await log.read(Lsn(1), 10)), ["gap 1-2"]);
    assert.deepEqual(texts(await log.read(Lsn(3), 10)), ["gap 3-3"]);
    assert.deepEqual(texts(await log.read(Lsn(4), 10)), ["4"]);
  });

  it("reports the trim point past a segment sealed before it took a record", async () => {
    const log = await newBifrost().log(4);
    await log.sealAndExtend(() => memory);
    await log.append([utf8("1"), utf8("2"), utf8("3")]);
    await log.trim(Lsn(2));
    assert.deepEqual(
      log.chain.segments.map((s) => s.baseLsn),
      [1, 1],
    );
    assert.equal(await log.trimPoint(), 2);
  });

  it("wakes a tail waiter across a reconfiguration", async () => {
    const log = await newBifrost().log(5);
    await log.append([utf8("a")]);
    const waiting = log.waitForTail(Lsn(2));
    await log.sealAndExtend(() => memory);
    await log.append([utf8("b")]);
    assert.equal(await waiting, 3);
  });

  it("drops segments trimmed away: the chain keeps its trim point, readers see a gap up to it", async () => {
    const metadata = new MemoryMetadataStore();
    const shared = new MemoryLogletProvider();
    // The first segment stands for another node's local loglet: only the first Bifrost can open it.
    const first = new Bifrost(
      metadata,
      new Map([
        ["memory", shared],
        ["elsewhere", new MemoryLogletProvider()],
      ]),
      () => ({ provider: "elsewhere", params: "{}" }),
    );
    const log = await first.log(1);
    await log.append([utf8("a"), utf8("b"), utf8("c")]);
    assert.equal(await log.sealAndExtend(() => memory), 4);
    await log.append([utf8("d")]);
    await log.dropSegmentsThrough(Lsn(3));
    assert.deepEqual(
      log.chain.segments.map((s) => s.baseLsn),
      [4],
    );
    assert.equal(log.chain.trimPoint, 3);
    assert.deepEqual(texts(await log.read(Lsn(1), 10)), ["gap 1-3"]);
    assert.deepEqual(texts(await log.read(Lsn(4), 10)), ["d"]);
    assert.equal(await log.trimPoint(), 3);
    // A node without the dropped segment's provider opens the log from the chain alone.
    const other = await newBifrost(metadata, shared).log(1);
    assert.equal(other.knownTail, 1, "a log opened here knows no tail before it asks");
    assert.equal(await other.trimPoint(), 3);
    assert.deepEqual(texts(await other.read(Lsn(2), 10)), ["gap 2-3"]);
    assert.equal(await other.findTail(), 5);
    assert.equal(other.knownTail, 5);
    // Extending the chain keeps its trim point.
    await other.sealAndExtend(() => memory);
    assert.equal(other.chain.trimPoint, 3);
    assert.equal((await newBifrost(metadata, shared).log(1)).chain.trimPoint, 3);
    // Dropping again, or through less, changes nothing.
    await log.dropSegmentsThrough(Lsn(2));
    assert.equal(log.chain.trimPoint, 3);
  });
});
