import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { presentFields } from "./objects.js";

describe("presentFields", () => {
  it("keeps defined values (falsy ones too) and leaves undefined ones out", () => {
    const fields = presentFields({ a: 1, b: undefined, c: 0, d: "", e: null, f: false });
    assert.deepEqual(fields, { a: 1, c: 0, d: "", e: null, f: false });
    assert.equal("b" in fields, false);
  });
});
