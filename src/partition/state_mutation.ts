/**
 * Editing a key's state from outside (the admin API's `POST /services/{svc}/state`), as Restate does:
 * the edit replaces the key's whole state, it waits behind the invocation holding the key's lock (it
 * is queued in the key's inbox like an invocation), and it is dropped when it carries a version token
 * that no longer matches the state at the moment it applies (optimistic concurrency).
 *
 * The version token is Restate's (`StateMutationVersion`): entries sorted by key bytes, then SHA-256
 * over `u64_be(i) ‖ 0x01 ‖ key ‖ 0x02 ‖ value ‖ 0x03` for each entry i, in base64url without padding.
 */

import { compareBytes, toBase64Url, writeU64BE, Sha256 } from "../core/index.js";
import type { PatchState } from "../gen/keel/records.js";
import type { ApplyContext } from "./context.js";
import type { ObjectRef } from "../partition-store/index.js";

export interface StateEntryBytes {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

const SEPARATORS = [new Uint8Array([1]), new Uint8Array([2]), new Uint8Array([3])] as const;

/** The version token of a state (in any order). */
export function stateVersion(entries: readonly StateEntryBytes[]): string {
  const sorted = [...entries].sort((a, b) => compareBytes(a.key, b.key));
  const hash = new Sha256();
  const index = new Uint8Array(8);
  sorted.forEach((entry, i) => {
    writeU64BE(index, 0, BigInt(i));
    hash
      .update(index)
      .update(SEPARATORS[0])
      .update(entry.key)
      .update(SEPARATORS[1])
      .update(entry.value)
      .update(SEPARATORS[2]);
  });
  return toBase64Url(hash.digest());
}

/**
 * Replaces the state of `object` with the edit's, unless its expected version differs from the
 * current one. Returns whether the edit was applied.
 */
export function applyStateMutation(
  ctx: ApplyContext,
  object: ObjectRef,
  mutation: PatchState,
): boolean {
  const current = ctx.tables.stateEntries(object);
  if (mutation.expectedVersion !== "" && mutation.expectedVersion !== stateVersion(current))
    return false;
  ctx.tables.clearState(object);
  for (const entry of mutation.newState) ctx.tables.putState(object, entry.key, entry.value);
  return true;
}
