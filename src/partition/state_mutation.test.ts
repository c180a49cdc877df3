import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { utf8 } from "../core/bytes.js";
import { stateVersion } from "./state_mutation.js";

const entry = (key: string, value: string) => ({ key: utf8(key), value: utf8(value) });

describe("state version token", () => {
  // Vectors from Restate's `StateMutationVersion` tests and from what `restate state clear` sent.
  it("matches Restate's tokens", () => {
    assert.equal(stateVersion([]), "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
    assert.equal(
      stateVersion([entry("name", "bob")]),
      "tDqA04Lj3_qJ-PgNPTecXDGZgpwy6jm2Ni2BYqJIthM",
    );
    assert.equal(
      stateVersion([entry("b", "bbb"), entry("a", "aaa")]),
      "RVM17P6x18Wp-JnzQ01BzmqCvhAunTOQI_az6Px3Zyk",
    );
    assert.equal(
      stateVersion([entry("count", "11")]),
      "cMb9c90EhFbafdr3_Qpca1nBD50pQUEfUNXEqtsu7Ng",
    );
  });
});
