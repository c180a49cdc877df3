/**
 * How long a failed attempt waits before the next one: the retry policy's exponential interval, then
 * jitter as Restate adds it (from 3 ms up to 30% of the interval, never less than 3 ms), so that many
 * invocations failing together do not retry in lockstep. Randomness comes from a `Prng` the caller
 * seeds (from the `Entropy` port in production), never from `Math.random`.
 */

import { assert, type Prng } from "../core/index.js";
import type { RetryPolicy } from "../schema/index.js";

/** Restate's `DEFAULT_JITTER_MULTIPLIER`: jitter adds at most this share of the interval. */
export const RETRY_JITTER_SHARE_MAX = 0.3;
/** The least jitter Restate adds, which keeps retries off round numbers. */
export const RETRY_JITTER_MS_MIN = 3;

/** The interval before retry number `retry` (1 for the first retry), without jitter. */
export function retryIntervalMs(
  policy: Pick<RetryPolicy, "initialIntervalMs" | "exponentiationFactor" | "maxIntervalMs">,
  retry: number,
): number {
  assert(retry >= 1, `retry numbers start at 1, got ${retry}`);
  return Math.min(
    policy.initialIntervalMs * policy.exponentiationFactor ** (retry - 1),
    policy.maxIntervalMs,
  );
}

/** `intervalMs` plus uniform jitter in [3 ms, 30% of it] (3 ms when that range is empty). */
export function withJitterMs(intervalMs: number, prng: Prng): number {
  assert(intervalMs >= 0, `an interval is not negative, got ${intervalMs}`);
  const jitterMaxMs = intervalMs * RETRY_JITTER_SHARE_MAX;
  if (jitterMaxMs <= RETRY_JITTER_MS_MIN) return intervalMs + RETRY_JITTER_MS_MIN;
  const jitterMs = RETRY_JITTER_MS_MIN + prng.nextFloat() * (jitterMaxMs - RETRY_JITTER_MS_MIN);
  assert(jitterMs <= jitterMaxMs, "jitter stays within its share");
  return intervalMs + jitterMs;
}

/** The delay before retry number `retry` of an invocation with `policy`: interval plus jitter. */
export function retryDelayMs(
  policy: Pick<RetryPolicy, "initialIntervalMs" | "exponentiationFactor" | "maxIntervalMs">,
  retry: number,
  prng: Prng,
): number {
  return withJitterMs(retryIntervalMs(policy, retry), prng);
}
