import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { seededPrng } from "../core/prng.js";
import {
  RETRY_JITTER_MS_MIN,
  RETRY_JITTER_SHARE_MAX,
  retryDelayMs,
  retryIntervalMs,
  withJitterMs,
} from "./retry_delay.js";

const policy = { initialIntervalMs: 500, exponentiationFactor: 2, maxIntervalMs: 60_000 };

describe("retry delays", () => {
  it("grow exponentially from the initial interval up to the maximum", () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 8, 9].map((retry) => retryIntervalMs(policy, retry)),
      [500, 1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000],
    );
  });

  it("add jitter within Restate's bound: 3 ms to 30% of the interval", () => {
    const prng = seededPrng(7);
    for (let retry = 1; retry <= 9; retry++) {
      const interval = retryIntervalMs(policy, retry);
      for (let i = 0; i < 200; i++) {
        const delay = retryDelayMs(policy, retry, prng);
        assert.ok(delay >= interval + RETRY_JITTER_MS_MIN, `${delay} below ${interval} + 3 ms`);
        assert.ok(
          delay <= interval * (1 + RETRY_JITTER_SHARE_MAX),
          `${delay} above ${interval} + 30%`,
        );
      }
    }
  });

  it("spread many invocations failing at once over the jitter range, still growing", () => {
    const prng = seededPrng(11);
    const samples = (retry: number) =>
      Array.from({ length: 1000 }, () => retryDelayMs(policy, retry, prng));
    let previousMax = 0;
    for (let retry = 1; retry <= 6; retry++) {
      const delays = samples(retry);
      const interval = retryIntervalMs(policy, retry);
      const min = Math.min(...delays);
      const max = Math.max(...delays);
      // Not in lockstep: the delays cover most of the range, and few are equal.
      assert.ok(max - min > interval * RETRY_JITTER_SHARE_MAX * 0.9, `spread ${max - min}`);
      assert.ok(new Set(delays).size > 990, "distinct delays");
      const mean = delays.reduce((a, b) => a + b, 0) / delays.length;
      const expectedMean = interval + (RETRY_JITTER_MS_MIN + interval * RETRY_JITTER_SHARE_MAX) / 2;
      assert.ok(Math.abs(mean - expectedMean) < interval * 0.02, `mean ${mean} vs ${expectedMean}`);
      // Exponential growth survives the jitter: every retry waits longer than any before it.
      assert.ok(min > previousMax, `retry ${retry}: ${min} after ${previousMax}`);
      previousMax = max;
    }
  });

  it("adds exactly 3 ms where 30% of the interval is not more", () => {
    assert.equal(withJitterMs(10, seededPrng(1)), 13);
    assert.equal(withJitterMs(0, seededPrng(1)), 3);
  });
});
