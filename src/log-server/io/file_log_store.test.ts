import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fromUtf8, utf8 } from "../../core/bytes.js";
import { generationalNodeId } from "../../core/node_id.js";
import { EMPTY_META, type StoreWrite } from "../../bifrost/loglet_store.js";
import type { StoredRecord } from "../../bifrost/replicated/messages.js";
import { logletIdOf } from "../../bifrost/replicated/types.js";
import { FileLogServerStore } from "./file_log_store.js";

const root = mkdtempSync(join(tmpdir(), "keel-file-log-store-"));
after(() => rmSync(root, { recursive: true, force: true }));

const A = logletIdOf(1, 0);
const B = logletIdOf(2, 0);
const write = (store: FileLogServerStore, w: StoreWrite): Promise<void> =>
  new Promise((resolve, reject) =>
    store.write(w, (e) => (e === undefined ? resolve() : reject(e))),
  );
const records = (logletId = A, first: number, ...texts: string[]): StoreWrite => ({
  kind: "records",
  logletId,
  first,
  payloads: texts.map(utf8),
});
const read = (store: FileLogServerStore, id = A, from = 1): Promise<string[]> =>
  new Promise((resolve, reject) =>
    store.read(id, from, 1_000, 100, 1 << 20, (r) =>
      r instanceof Error
        ? reject(r)
        : resolve((r as StoredRecord[]).map((x) => fromUtf8(x.payload))),
    ),
  );

describe("file log-server store", () => {
  it("interleaves loglets in one stream and recovers batches and metadata", async () => {
    const dir = join(root, "recover");
    let { store } = await FileLogServerStore.open(dir);
    const meta = { ...EMPTY_META, sequencer: generationalNodeId(1, 1), sealed: true };
    await write(store, { kind: "meta", logletId: A, meta });
    await write(store, records(A, 1, "a1", "a2"));
    await write(store, records(B, 1, "b1"));
    await write(store, records(A, 3, "a3"));
    assert.deepEqual(await read(store), ["a1", "a2", "a3"]);
    assert.deepEqual(await read(store, A, 2), ["a2", "a3"]);
    await store.close();
    const reopened = await FileLogServerStore.open(dir);
    store = reopened.store;
    assert.deepEqual(reopened.recovered.get(A), {
      meta,
      batches: [
        { first: 1, end: 3 },
        { first: 3, end: 4 },
      ],
    });
    assert.deepEqual(reopened.recovered.get(B)?.batches, [{ first: 1, end: 2 }]);
    assert.deepEqual(await read(store, B), ["b1"]);
    await store.close();
  });

  it("unlinks whole files once trimmed, keeping every loglet's metadata", async () => {
    const dir = join(root, "gc");
    let { store } = await FileLogServerStore.open(dir, { segmentBytesTarget: 200 });
    const metaB = { ...EMPTY_META, sequencer: generationalNodeId(2, 1) };
    await write(store, { kind: "meta", logletId: B, meta: metaB });
    for (let i = 1; i <= 20; i++) await write(store, records(A, i, `record-${i}`.padEnd(40, ".")));
    const before = readdirSync(dir).length;
    await write(store, { kind: "meta", logletId: A, meta: { ...EMPTY_META, trimPoint: 15 } });
    await new Promise((r) => setTimeout(r, 100)); // garbage collection runs after the trim
    assert.ok(readdirSync(dir).length < before, "trimmed files are unlinked");
    await store.close();
    const reopened = await FileLogServerStore.open(dir, { segmentBytesTarget: 200 });
    store = reopened.store;
    assert.deepEqual(reopened.recovered.get(B)?.meta, metaB, "B's old metadata survived");
    assert.equal(reopened.recovered.get(A)?.meta?.trimPoint, 15);
    assert.deepEqual(
      (await read(store, A, 16)).map((t) => t.slice(0, 9)),
      ["record-16", "record-17", "record-18", "record-19", "record-20"],
    );
    await store.close();
  });
});
