/**
 * The key layout with user-chosen parts of any length: keys that always fitted keep their encoding
 * (existing stores stay readable), longer parts become digests, and no key is ever longer than a
 * store holds, while one object's keys keep sharing its prefix and inbox keys keep their order.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PartitionKey } from "../core/brand.js";
import { utf8 } from "../core/bytes.js";
import { InvocationId } from "../core/ids.js";
import {
  DIGEST_MARKER,
  hasDigest,
  inboxKey,
  inboxPrefix,
  lockKey,
  notificationKey,
  promiseKey,
  promisePrefix,
  stateKey,
  statePrefix,
  type ObjectRef,
} from "./keys.js";
import { STORE_KEY_BYTES_MAX } from "./store.js";

const object = (key: string, service = "Counter"): ObjectRef => ({
  partitionKey: PartitionKey(0x1234n),
  service,
  key,
});
const id = InvocationId.fromParts(PartitionKey(0x1234n), new Uint8Array(16).fill(7));
/** `pk/Counter/` takes 25 bytes of the 1,463 an object part may take in plain. */
const LONGEST_PLAIN_OBJECT_KEY = 1463 - 25;

/** Every key the layout builds for one object, one state key, one name. */
function keysOf(o: ObjectRef, state: Uint8Array, name: string): string[] {
  return [
    stateKey(o, state),
    lockKey(o),
    inboxKey(o, 1),
    promiseKey(o, name),
    notificationKey(id, { kind: "namedSignal", name }),
  ];
}

describe("partition key layout", () => {
  it("keeps the encoding of every key that always fitted", () => {
    const o = object("a b");
    assert.deepEqual(keysOf(o, utf8("count"), "click me"), [
      "s/0000000000001234/Counter/a%20b/636f756e74",
      "l/0000000000001234/Counter/a%20b",
      "i/0000000000001234/Counter/a%20b/0000000000000001",
      "p/0000000000001234/Counter/a%20b/click%20me",
      `jn/${id.hex}/nclick%20me`,
    ]);
    const longest = object("k".repeat(LONGEST_PLAIN_OBJECT_KEY));
    assert.equal(hasDigest(lockKey(longest)), false, "the longest object key the edges took");
    const longestState = new Uint8Array(256).fill(1);
    assert.equal(stateKey(longest, longestState), `${statePrefix(longest)}${"01".repeat(256)}`);
    const shortState = new Uint8Array(974).fill(1);
    assert.equal(stateKey(object("k"), shortState).length, STORE_KEY_BYTES_MAX - 1);
    assert.equal(hasDigest(stateKey(object("k"), shortState)), false);
  });

  it("stores a part as its digest from the first byte that would not fit", () => {
    const long = object("k".repeat(LONGEST_PLAIN_OBJECT_KEY + 1));
    assert.match(lockKey(long), new RegExp(`^l/0000000000001234/Counter/#[0-9a-f]{64}$`));
    assert.match(
      stateKey(object("k"), new Uint8Array(975)),
      /^s\/0000000000001234\/Counter\/k\/#[0-9a-f]{64}$/,
    );
    assert.match(promiseKey(object("k"), "p".repeat(2000)), /\/k\/#[0-9a-f]{64}$/);
    assert.match(
      notificationKey(id, { kind: "namedSignal", name: "n".repeat(2000) }),
      new RegExp(`^jn/${id.hex}/n#[0-9a-f]{64}$`),
    );
  });

  it("never builds a key longer than a store holds, whatever the parts", () => {
    const huge = "\u4e2d".repeat(20_000); // 60 KB of UTF-8, nine bytes each once percent-encoded
    const cases: [ObjectRef, Uint8Array, string][] = [
      [object("k".repeat(60_000)), new Uint8Array(100_000), "p".repeat(60_000)],
      [object(huge), utf8(huge), huge],
      [object("", "S".repeat(5000)), new Uint8Array(3000), ""],
      [object(huge, "S".repeat(1400)), new Uint8Array(0), huge],
    ];
    for (const [o, state, name] of cases)
      for (const key of keysOf(o, state, name)) assert.ok(key.length <= STORE_KEY_BYTES_MAX);
  });

  it("derives the same keys every time, and different keys for different parts", () => {
    const a = object("x".repeat(3000));
    const b = object(`${"x".repeat(2999)}y`);
    assert.deepEqual(keysOf(a, new Uint8Array(2000), "n".repeat(3000)), [
      ...keysOf(object("x".repeat(3000)), new Uint8Array(2000), "n".repeat(3000)),
    ]);
    assert.notEqual(lockKey(a), lockKey(b));
    assert.notEqual(
      lockKey(a),
      lockKey({ ...a, service: "Other" }),
      "the same key, another service",
    );
    // Long object parts are remembered for a while: many objects later, the same answers.
    const before = lockKey(a);
    for (let i = 0; i < 100; i++) lockKey(object(`${"z".repeat(3000)}${i}`));
    assert.equal(lockKey(object("x".repeat(3000))), before);
    assert.notEqual(
      stateKey(a, new Uint8Array(2000)),
      stateKey(a, new Uint8Array(2000).fill(1)),
      "two long state keys of one object",
    );
    assert.notEqual(promiseKey(a, "n".repeat(3000)), promiseKey(a, `${"n".repeat(2999)}m`));
  });

  it("keeps one object's keys under its prefix, and its inbox in order", () => {
    const o = object("o".repeat(5000));
    assert.ok(stateKey(o, utf8("short")).startsWith(statePrefix(o)));
    assert.ok(stateKey(o, new Uint8Array(4000)).startsWith(statePrefix(o)));
    assert.ok(promiseKey(o, "q".repeat(4000)).startsWith(promisePrefix(o)));
    const inbox = [3, 1, 256, 2].map((seq) => inboxKey(o, seq));
    assert.ok(inbox.every((key) => key.startsWith(inboxPrefix(o))));
    assert.deepEqual(
      [...inbox].sort(),
      [1, 2, 3, 256].map((seq) => inboxKey(o, seq)),
    );
    // A plain key of another object never falls under a long object's prefix, nor the reverse.
    const other = object("o");
    assert.ok(!statePrefix(other).startsWith(statePrefix(o)));
    assert.ok(!statePrefix(o).startsWith(statePrefix(other)));
  });

  it("marks digests with a character no plain part contains", () => {
    let every = "";
    for (let c = 0; c < 0x800; c++) if (c < 0xd800) every += String.fromCharCode(c);
    assert.ok(!encodeURIComponent(every).includes(DIGEST_MARKER));
    assert.ok(!hasDigest(stateKey(object(every.slice(0, 100)), utf8(every.slice(0, 200)))));
  });
});
