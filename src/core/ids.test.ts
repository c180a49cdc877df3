import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PartitionKey } from "./brand.js";
import { fromHex, toHex } from "./bytes.js";
import {
  InvocationId,
  formatAwakeableId,
  formatDeploymentId,
  formatUlid,
  isDeploymentId,
  parseAwakeableId,
  resourceIdProblem,
} from "./ids.js";

describe("invocation ids", () => {
  it("match the reference server's text for known raw bytes", () => {
    // Recorded from the reference server: raw StartMessage.id and its debug id.
    const text = "inv_1521kvNaBygA1R0ZSxqpt0sHwqww6uMyB6";
    const id = InvocationId.parse(text);
    assert.ok(id !== undefined);
    assert.equal(toHex(id.bytes).slice(0, 16), "a48d3c89ba2b9e3a");
    assert.equal(id.toString(), text);
    assert.equal(InvocationId.fromBytes(id.bytes).toString(), text);
  });

  it("round-trips partition key and uuid", () => {
    const uuid = fromHex("00112233445566778899aabbccddeeff")!;
    const id = InvocationId.fromParts(PartitionKey(0xfedcba9876543210n), uuid);
    const parsed = InvocationId.parse(id.toString())!;
    assert.equal(parsed.partitionKey, 0xfedcba9876543210n);
    assert.deepEqual([...parsed.uuid], [...uuid]);
    assert.equal(id.toString().length, 38);
    assert.ok(id.toString().startsWith("inv_1"));
  });

  it("rejects malformed text", () => {
    for (const bad of [
      "",
      "inv_1",
      "xyz",
      "inv_2521kvNaBygA1R0ZSxqpt0sHwqww6uMyB6",
      "inv_1521kvNaBygA1R0ZSxqpt0sHwqww6uMyB!",
    ]) {
      assert.equal(InvocationId.parse(bad), undefined, bad);
    }
    // 11 'Z' characters exceed u64.
    assert.equal(InvocationId.parse("inv_1ZZZZZZZZZZZ1R0ZSxqpt0sHwqww6uMyB6"), undefined);
  });
});

describe("awakeable ids", () => {
  it("encode the invocation id and the signal index like the SDK", () => {
    // Recorded: this awakeable id belongs to signal 17 of its invocation.
    const ref = parseAwakeableId("sign_1xepmBfgWx5JFFY4_0sW0oY4b33u1u9hpAAAAEQ");
    assert.ok(ref !== undefined);
    assert.equal(ref.signalIndex, 17);
    assert.equal(
      formatAwakeableId(ref.invocationId, 17),
      "sign_1xepmBfgWx5JFFY4_0sW0oY4b33u1u9hpAAAAEQ",
    );
    assert.equal(parseAwakeableId("sign_1abc"), undefined);
    assert.equal(parseAwakeableId("prom_1xepmBfgWx5JFFY4_0sW0oY4b33u1u9hpAAAAEQ"), undefined);
  });
});

describe("deployment ids", () => {
  it("have Restate's shape", () => {
    const id = formatDeploymentId(new Uint8Array(16).fill(7));
    assert.match(id, /^dp_1[0-9a-zA-Z]{22}$/);
    assert.ok(isDeploymentId(id));
    assert.ok(isDeploymentId("dp_14fdTQydcVZ05d0M0XXX8yJ"));
    assert.ok(!isDeploymentId("dp_1short"));
  });
});

describe("ULIDs", () => {
  it("encode 48 bits of time and 80 random bits in Crockford base32", () => {
    // The time of the ULID specification's example, 01ARYZ6S41…
    assert.equal(formatUlid(1469918176385, new Uint8Array(10)), "01ARYZ6S410000000000000000");
    assert.equal(formatUlid(0, new Uint8Array(10).fill(255)), "0000000000ZZZZZZZZZZZZZZZZ");
    assert.throws(() => formatUlid(2 ** 48, new Uint8Array(10)), RangeError);
  });
});

describe("resource ids", () => {
  it("name the problem as Restate does", () => {
    const dp = formatDeploymentId(new Uint8Array(16).fill(7));
    assert.equal(resourceIdProblem(dp, "dp"), undefined);
    assert.equal(resourceIdProblem(`sub_${dp.slice(3)}`, "sub"), undefined);
    assert.equal(resourceIdProblem(dp, "sub"), "id doesn't match the expected type");
    assert.equal(resourceIdProblem("nope", "dp"), "bad format");
    assert.equal(resourceIdProblem("dp_1", "dp"), "bad length");
    assert.equal(resourceIdProblem(`${dp}x`, "dp"), "bad length");
    assert.equal(resourceIdProblem(`dp_2${dp.slice(4)}`, "dp"), "unrecognized codec version");
    assert.equal(resourceIdProblem("xx_1abc", "dp"), "unrecognized resource type: xx");
    assert.equal(resourceIdProblem(`dp_1${"!".repeat(22)}`, "dp"), "base62 decode error");
  });
});
