/**
 * The object store contract (src/object-store/object_store.ts) against every implementation: memory,
 * a directory, and an S3-compatible server (s3rver) through the AWS SDK's client (a streamed object
 * larger than a part goes up as a multipart upload there).
 */

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { KeelError } from "../../src/core/errors.js";
import { MemoryObjectStore } from "../../src/object-store/memory_object_store.js";
import type { ObjectStore } from "../../src/object-store/object_store.js";
import { FileObjectStore } from "../../src/object-store/io/file_object_store.js";
import { S3ObjectStore } from "../../src/object-store/io/s3_object_store.js";
import { startS3Server, type TestS3Server } from "../support/s3_server.js";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (data: Uint8Array | undefined): string | undefined =>
  data === undefined ? undefined : new TextDecoder().decode(data);

function describeObjectStoreContract(name: string, create: () => Promise<ObjectStore>): void {
  describe(`object store contract: ${name}`, () => {
    it("puts whole objects from parts, reads, lists by prefix in order, deletes", async () => {
      const store = await create();
      await store.put("3/lsn_2-b/data", [bytes("he"), bytes("llo")]);
      await store.put("3/lsn_1-a/data", [bytes("first")]);
      await store.put("30/x", [bytes("other partition")]);
      assert.equal(text(await store.get("3/lsn_2-b/data")), "hello");
      assert.deepEqual(await store.list("3/"), ["3/lsn_1-a/data", "3/lsn_2-b/data"]);
      await store.put("3/lsn_1-a/data", [bytes("replaced")]);
      assert.equal(text(await store.get("3/lsn_1-a/data")), "replaced");
      await store.delete("3/lsn_1-a/data");
      await store.delete("3/never-there");
      assert.equal(await store.get("3/lsn_1-a/data"), undefined);
      assert.deepEqual(await store.list("3/"), ["3/lsn_2-b/data"]);
      assert.deepEqual(await store.list("9/"), []);
    });

    it("streams an object larger than a part in and out, and leaves none when its source fails", async () => {
      const store = await create();
      // 20 MiB in 1 MiB parts, each part's bytes telling its place: more than two S3 upload parts.
      const part = (i: number) => new Uint8Array(1024 * 1024).fill(i);
      async function* source(failAt?: number): AsyncGenerator<Uint8Array> {
        for (let i = 0; i < 20; i++) {
          if (i === failAt) throw new Error("source failed");
          yield part(i);
        }
      }
      await store.put("big/data", source());
      const read = await store.read("big/data");
      assert.ok(read !== undefined);
      let at = 0;
      for await (const chunk of read) {
        for (let j = 0; j < chunk.length; j += 4099)
          assert.equal(chunk[j], Math.floor((at + j) / (1024 * 1024)), `byte ${at + j}`);
        at += chunk.length;
      }
      assert.equal(at, 20 * 1024 * 1024);
      assert.equal(await store.read("big/none"), undefined);
      await assert.rejects(store.put("big/failed", source(12)), /source failed/);
      assert.equal(await store.get("big/failed"), undefined);
      assert.deepEqual(await store.list("big/"), ["big/data"]);
      await store.delete("big/data");
    });

    it("refuses keys that could escape or confuse the store", async () => {
      const store = await create();
      for (const key of ["../x", "a/../../b", "", "a//b", "/abs", "a/./b", "sp ace"]) {
        await assert.rejects(
          () => store.put(key, [bytes("x")]),
          (error) => error instanceof KeelError && error.code === "bad_request",
          key,
        );
      }
    });
  });
}

const roots: string[] = [];
let s3: TestS3Server;
let prefixes = 0;
const opened: ObjectStore[] = [];
before(async () => {
  s3 = await startS3Server();
  Object.assign(process.env, s3.credentials);
});
after(async () => {
  for (const store of opened) store.close();
  await s3.close();
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

describeObjectStoreContract("memory", () => Promise.resolve(new MemoryObjectStore()));
describeObjectStoreContract("file", async () => {
  const root = await mkdtemp(join(tmpdir(), "keel-objects-"));
  roots.push(root);
  return new FileObjectStore(join(root, "a"));
});
describeObjectStoreContract("s3", () => {
  const store = new S3ObjectStore({
    bucket: s3.bucket,
    prefix: `run/${++prefixes}`,
    endpoint: s3.endpoint,
    pathStyle: true,
  });
  opened.push(store);
  return Promise.resolve(store);
});
