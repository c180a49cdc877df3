/**
 * Assertions that stay on in production. A failed assertion is a bug in Keel, never an expected
 * outcome: the process crashes and recovery replays the log. Expected outcomes (bad input, sealed,
 * not leader) are typed results or KeelErrors instead.
 */

export class AssertionFailure extends Error {
  override readonly name = "AssertionFailure";
}

export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new AssertionFailure(message);
}

export function assertNever(value: never, what = "value"): never {
  throw new AssertionFailure(`unexpected ${what}: ${JSON.stringify(value)}`);
}

export function unreachable(message: string): never {
  throw new AssertionFailure(`unreachable: ${message}`);
}

/** Returns the value, asserting that it is present. */
export function defined<T>(value: T | undefined | null, what: string): T {
  if (value === undefined || value === null) throw new AssertionFailure(`${what} is missing`);
  return value;
}
