import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Version } from "../../core/brand.js";
import { seededPrng } from "../../core/prng.js";
import { ANY_VERSION, MUST_NOT_EXIST, matchesVersion } from "../../metadata/store.js";
import {
  checkLinearizable,
  stepRegister,
  type HistoryOperation,
  type RegisterInput,
  type RegisterOutput,
} from "./linearizability.js";

let nextId = 1;
function op(
  client: number,
  call: number,
  ret: number | undefined,
  input: RegisterInput,
  output: RegisterOutput | undefined,
  key = "k",
): HistoryOperation {
  return { id: nextId++, client, key, call, ret, input, output };
}

const put = (value: string, precondition = ANY_VERSION): RegisterInput => ({
  kind: "put",
  value,
  precondition,
});
const del = (precondition = ANY_VERSION): RegisterInput => ({ kind: "delete", precondition });
const get: RegisterInput = { kind: "get" };
const wrote = (version: number): RegisterOutput => ({ kind: "put", version });
const saw = (value: string | undefined, version = 0): RegisterOutput => ({
  kind: "value",
  value,
  version,
});
const refused = (currentVersion: number | undefined): RegisterOutput => ({
  kind: "preconditionFailed",
  currentVersion,
});

describe("linearizability checker: accepts linearizable histories", () => {
  it("a sequential history of puts, reads and a delete", () => {
    const history = [
      op(1, 1, 2, put("a"), wrote(1)),
      op(1, 3, 4, get, saw("a", 1)),
      op(2, 5, 6, put("b", matchesVersion(Version(1))), wrote(2)),
      op(2, 7, 8, del(), { kind: "deleted" }),
      op(1, 9, 10, get, saw(undefined)),
      op(1, 11, 12, put("c", MUST_NOT_EXIST), wrote(1)),
    ];
    assert.equal(checkLinearizable(history).ok, true);
  });

  it("a read concurrent with a write may see either value", () => {
    for (const seen of [saw(undefined), saw("a", 1)]) {
      const history: HistoryOperation[] = [op(1, 1, 4, put("a"), wrote(1)), op(2, 2, 3, get, seen)];
      assert.equal(checkLinearizable(history).ok, true);
    }
  });

  it("concurrent CAS writers: one wins, the other sees the winner's version", () => {
    const history = [
      op(1, 1, 5, put("a", MUST_NOT_EXIST), refused(1)),
      op(2, 2, 4, put("b", MUST_NOT_EXIST), wrote(1)),
      op(3, 6, 7, get, saw("b", 1)),
    ];
    assert.equal(checkLinearizable(history).ok, true);
  });

  it("a write with an unknown outcome may take effect late, or never", () => {
    const late = [
      op(1, 1, undefined, put("x"), undefined),
      op(2, 2, 3, get, saw(undefined)),
      op(2, 4, 5, get, saw("x", 1)),
    ];
    assert.equal(checkLinearizable(late).ok, true);
    const never = [op(1, 1, undefined, put("x"), undefined), op(2, 2, 3, get, saw(undefined))];
    assert.equal(checkLinearizable(never).ok, true);
  });

  it("keys are checked independently", () => {
    const history = [
      op(1, 1, 2, put("a"), wrote(1), "k1"),
      op(2, 3, 4, get, saw(undefined), "k2"),
      op(2, 5, 6, get, saw("a", 1), "k1"),
    ];
    assert.equal(checkLinearizable(history).ok, true);
  });

  it("a long valid concurrent history is checked quickly", () => {
    // Clients overlap in windows; effects happen at a random instant inside each window.
    const prng = seededPrng(42);
    const history: HistoryOperation[] = [];
    let state: { value: string; version: number } | undefined;
    let time = 0;
    for (let n = 0; n < 400; n++) {
      const call = time;
      const effectAt = call + 1 + prng.nextInt(3);
      const ret = effectAt + 1 + prng.nextInt(3);
      time += 2;
      const choice = prng.nextInt(4);
      const input: RegisterInput =
        choice === 0
          ? get
          : choice === 1
            ? put(`v${n}`)
            : choice === 2
              ? put(`v${n}`, matchesVersion(Version(state?.version ?? 1)))
              : del();
      const stepped = stepRegister(state, input, undefined)!;
      let output: RegisterOutput;
      if (input.kind === "get") output = saw(state?.value, state?.version ?? 0);
      else if (input.kind === "put") {
        output = stepped.next === state ? refused(state?.version) : wrote(stepped.next!.version);
      } else
        output =
          stepped.next === state && state !== undefined
            ? refused(state.version)
            : { kind: "deleted" };
      state = stepped.next;
      // Effects are applied in call order here, so intervals that respect call order are valid.
      history.push(op(n % 5, call * 10 + n, ret * 10 + 5000 + n, input, output));
    }
    const result = checkLinearizable(history);
    assert.equal(result.ok, true, JSON.stringify(!result.ok ? result.reason : ""));
  });
});

describe("linearizability checker: rejects non-linearizable histories", () => {
  it("a stale read after an acknowledged write", () => {
    const history = [op(1, 1, 2, put("a"), wrote(1)), op(2, 3, 4, get, saw(undefined))];
    const result = checkLinearizable(history);
    assert.equal(result.ok, false);
  });

  it("a read of an older value after a newer one was read (no time travel)", () => {
    const history = [
      op(1, 1, 10, put("a"), wrote(1)),
      op(1, 11, 20, put("b"), wrote(2)),
      op(2, 12, 13, get, saw("b", 2)),
      op(3, 14, 15, get, saw("a", 1)),
    ];
    assert.equal(checkLinearizable(history).ok, false);
  });

  it("two creators both succeed with mustNotExist", () => {
    const history = [
      op(1, 1, 3, put("a", MUST_NOT_EXIST), wrote(1)),
      op(2, 2, 4, put("b", MUST_NOT_EXIST), wrote(1)),
    ];
    assert.equal(checkLinearizable(history).ok, false);
  });

  it("a lost update: two CAS on the same version both succeed", () => {
    const history = [
      op(1, 1, 2, put("a"), wrote(1)),
      op(1, 3, 6, put("b", matchesVersion(Version(1))), wrote(2)),
      op(2, 4, 5, put("c", matchesVersion(Version(1))), wrote(2)),
    ];
    assert.equal(checkLinearizable(history).ok, false);
  });

  it("a failed precondition that reports the wrong current version", () => {
    const history = [
      op(1, 1, 2, put("a"), wrote(1)),
      op(2, 3, 4, put("b", MUST_NOT_EXIST), refused(7)),
    ];
    assert.equal(checkLinearizable(history).ok, false);
  });

  it("an unknown write seen and then unseen without anything removing it", () => {
    const history = [
      op(1, 1, undefined, put("x"), undefined),
      op(2, 2, 3, get, saw("x", 1)),
      op(2, 4, 5, get, saw(undefined)),
    ];
    assert.equal(checkLinearizable(history).ok, false);
  });

  it("a write applied twice (a retry without deduplication)", () => {
    const history = [op(1, 1, 4, put("a"), wrote(1)), op(2, 5, 6, get, saw("a", 2))];
    assert.equal(checkLinearizable(history).ok, false);
  });
});
