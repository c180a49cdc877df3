import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatDurationFriendly, formatDurationIso, parseDuration } from "./duration.js";

describe("durations", () => {
  it("parse friendly and ISO-8601 forms", () => {
    const cases: [string, number][] = [
      ["5s", 5000],
      ["60ms", 60],
      ["60 sec", 60_000],
      ["1m", 60_000],
      ["2h 30m", 9_000_000],
      ["1d", 86_400_000],
      ["PT60S", 60_000],
      ["PT1.5S", 1500],
      ["P1D", 86_400_000],
      ["PT1H30M", 5_400_000],
      ["0", 0],
      ["0s", 0],
      ["PT0S", 0],
    ];
    for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
  });

  it("reject what is neither", () => {
    for (const bad of ["", "abc", "10", "00", " 0", "5 parsecs", "P", "PT", "1x"])
      assert.equal(parseDuration(bad), undefined, bad);
  });

  it("render like Restate", () => {
    assert.equal(formatDurationFriendly(86_400_000), "1d");
    assert.equal(formatDurationFriendly(60_000), "1m");
    assert.equal(formatDurationFriendly(500), "500ms");
    assert.equal(formatDurationFriendly(600_000), "10m");
    assert.equal(formatDurationFriendly(5_400_000), "1h 30m");
    assert.equal(formatDurationFriendly(0), "0s");
    assert.equal(formatDurationIso(86_400_000), "PT86400S");
  });
});
