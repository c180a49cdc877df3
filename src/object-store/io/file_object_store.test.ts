import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { KeelError } from "../../core/errors.js";
import { parseObjectStoreUrl } from "../object_store.js";
import { FileObjectStore } from "./file_object_store.js";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

const roots: string[] = [];
after(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});
const freshRoot = async (): Promise<string> => {
  const root = await mkdtemp(join(tmpdir(), "keel-objects-"));
  roots.push(root);
  return root;
};

describe("file object store", () => {
  it("never lists what a crash left half written", async () => {
    const root = await freshRoot();
    const store = new FileObjectStore(root);
    await store.put("1/done", [bytes("whole")]);
    await mkdir(join(root, "1"), { recursive: true });
    await writeFile(join(root, "1", "half.tmp"), "torn");
    assert.deepEqual(await store.list("1/"), ["1/done"]);
    assert.deepEqual((await readdir(join(root, "1"))).sort(), ["done", "half.tmp"]);
  });

  it("leaves no empty directories behind a deleted object", async () => {
    const root = await freshRoot();
    const store = new FileObjectStore(root);
    await store.put("2/lsn_1-a/data", [bytes("x")]);
    await store.put("2/lsn_1-a/manifest.json", [bytes("{}")]);
    await store.put("2/lsn_2-b/data", [bytes("y")]);
    await store.delete("2/lsn_1-a/manifest.json");
    assert.deepEqual((await readdir(join(root, "2"))).sort(), ["lsn_1-a", "lsn_2-b"]);
    await store.delete("2/lsn_1-a/data");
    assert.deepEqual(await readdir(join(root, "2")), ["lsn_2-b"]);
    await store.delete("2/lsn_2-b/data");
    assert.deepEqual(await readdir(root), []);
  });
});

describe("object store destinations", () => {
  it("parses file and s3 URLs and refuses others with the reason", () => {
    assert.deepEqual(parseObjectStoreUrl("file:///var/keel/snaps/"), {
      scheme: "file",
      path: "/var/keel/snaps",
    });
    assert.deepEqual(parseObjectStoreUrl("s3://bucket/some/prefix"), {
      scheme: "s3",
      bucket: "bucket",
      prefix: "some/prefix",
    });
    for (const url of ["file://relative/dir", "s3://", "http://x", "/just/a/path"]) {
      assert.throws(
        () => parseObjectStoreUrl(url),
        (error) => error instanceof KeelError && error.code === "bad_request",
        url,
      );
    }
  });
});
