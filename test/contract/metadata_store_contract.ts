/**
 * The MetadataStore contract suite (see src/metadata/store.ts). Every provider runs it through
 * `describeMetadataStoreContract(name, harness)`: `memory`, `local` (the single-node core's file
 * store) and `replicated` (the Raft group) must behave the same.
 *
 * What it pins down: versions start at 1 and grow by one per put; the three preconditions and the
 * PreconditionFailed error with the current version; delete, and re-creating a deleted key (which
 * starts again at version 1); stored values are copies; compare-and-swap races have exactly one
 * winner; subscribers hear of changes made through the same store; keys are independent.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Version } from "../../src/core/brand.js";
import {
  ANY_VERSION,
  MUST_NOT_EXIST,
  PreconditionFailed,
  matchesVersion,
  type MetadataStore,
  type VersionedValue,
} from "../../src/metadata/store.js";

export interface MetadataStoreHarness {
  /** A fresh, empty store. */
  create(): Promise<MetadataStore>;
  cleanup?(): Promise<void>;
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (value: VersionedValue | undefined): string | undefined =>
  value === undefined ? undefined : new TextDecoder().decode(value.value);

async function rejectsWithVersion(
  operation: Promise<unknown>,
  currentVersion: number | undefined,
): Promise<void> {
  await assert.rejects(operation, (error: unknown) => {
    assert.ok(
      error instanceof PreconditionFailed,
      `expected PreconditionFailed, got ${String(error)}`,
    );
    assert.equal(error.currentVersion, currentVersion);
    return true;
  });
}

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail("condition not reached in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export function describeMetadataStoreContract(
  provider: string,
  harness: MetadataStoreHarness,
): void {
  describe(`metadata store contract: ${provider}`, () => {
    it("reads an absent key as undefined", async () => {
      const store = await harness.create();
      assert.equal(await store.get("absent"), undefined);
      await store.close();
    });

    it("creates with mustNotExist at version 1, then each put adds one", async () => {
      const store = await harness.create();
      assert.equal(await store.put("k", bytes("a"), MUST_NOT_EXIST), 1);
      assert.equal(await store.put("k", bytes("b"), ANY_VERSION), 2);
      assert.equal(await store.put("k", bytes("c"), matchesVersion(Version(2))), 3);
      const found = await store.get("k");
      assert.equal(text(found), "c");
      assert.equal(found?.version, 3);
      await store.close();
    });

    it("refuses failed preconditions with the current version, changing nothing", async () => {
      const store = await harness.create();
      await rejectsWithVersion(store.put("k", bytes("x"), matchesVersion(Version(1))), undefined);
      await store.put("k", bytes("a"), MUST_NOT_EXIST);
      await rejectsWithVersion(store.put("k", bytes("x"), MUST_NOT_EXIST), 1);
      await rejectsWithVersion(store.put("k", bytes("x"), matchesVersion(Version(7))), 1);
      const found = await store.get("k");
      assert.equal(text(found), "a");
      assert.equal(found?.version, 1);
      await store.close();
    });

    it("deletes with a precondition; a deleted key reads as absent and starts again at version 1", async () => {
      const store = await harness.create();
      await store.put("k", bytes("a"), MUST_NOT_EXIST);
      await store.put("k", bytes("b"), ANY_VERSION);
      await rejectsWithVersion(store.delete("k", matchesVersion(Version(1))), 2);
      await store.delete("k", matchesVersion(Version(2)));
      assert.equal(await store.get("k"), undefined);
      await rejectsWithVersion(store.delete("k", matchesVersion(Version(2))), undefined);
      await store.delete("k", ANY_VERSION);
      assert.equal(await store.put("k", bytes("again"), MUST_NOT_EXIST), 1);
      await store.close();
    });

    it("stores a copy of the value", async () => {
      const store = await harness.create();
      const value = bytes("original");
      await store.put("k", value, ANY_VERSION);
      value.fill(0);
      assert.equal(text(await store.get("k")), "original");
      await store.close();
    });

    it("keeps keys independent", async () => {
      const store = await harness.create();
      await store.put("a", bytes("1"), MUST_NOT_EXIST);
      await store.put("b", bytes("1"), MUST_NOT_EXIST);
      await store.put("a", bytes("2"), ANY_VERSION);
      assert.equal((await store.get("a"))?.version, 2);
      assert.equal((await store.get("b"))?.version, 1);
      await store.close();
    });

    it("lets exactly one of racing compare-and-swaps on the same version win", async () => {
      const store = await harness.create();
      await store.put("k", bytes("base"), MUST_NOT_EXIST);
      const racers = Array.from({ length: 8 }, (_, n) =>
        store.put("k", bytes(`racer ${n}`), matchesVersion(Version(1))),
      );
      const outcomes = await Promise.allSettled(racers);
      const winners = outcomes.filter((o) => o.status === "fulfilled");
      assert.equal(winners.length, 1);
      for (const loser of outcomes.filter((o) => o.status === "rejected")) {
        assert.ok(loser.reason instanceof PreconditionFailed);
      }
      assert.equal((await store.get("k"))?.version, 2);
      await store.close();
    });

    it("tells subscribers about changes made through the store, until they unsubscribe", async () => {
      const store = await harness.create();
      const seen: (string | undefined)[] = [];
      const unsubscribe = store.subscribe("k", (value) => seen.push(text(value)));
      await store.put("k", bytes("a"), ANY_VERSION);
      await waitFor(() => seen.includes("a"));
      await store.delete("k", ANY_VERSION);
      await waitFor(() => seen.at(-1) === undefined && seen.length >= 2);
      unsubscribe();
      const before = seen.length;
      await store.put("k", bytes("after"), ANY_VERSION);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(seen.length, before);
      await store.close();
    });
  });
}
