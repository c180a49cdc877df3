/** The `local` metadata store (one durable file) against the shared contract, plus a reopen. */

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { FileMetadataStore } from "../../src/metadata/io/file_metadata_store.js";
import { MUST_NOT_EXIST } from "../../src/metadata/store.js";
import { describeMetadataStoreContract } from "./metadata_store_contract.js";

const root = mkdtempSync(join(tmpdir(), "keel-file-metadata-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

describeMetadataStoreContract("local (file)", {
  create: () => Promise.resolve(FileMetadataStore.open(join(root, `m${n++}`, "metadata.json"))),
});

describe("local metadata store durability", () => {
  it("keeps values and versions across a reopen", async () => {
    const path = join(root, "reopen", "metadata.json");
    const first = FileMetadataStore.open(path);
    await first.put("k", new TextEncoder().encode("v"), MUST_NOT_EXIST);
    await first.close();
    const second = FileMetadataStore.open(path);
    const value = await second.get("k");
    assert.equal(value?.version, 1);
    assert.equal(new TextDecoder().decode(value?.value), "v");
    await second.close();
  });
});
