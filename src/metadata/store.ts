/**
 * The metadata store contract: a small, linearizable key-value store with versioned compare-and-swap.
 * It holds what every node must agree on: the schema (deployments and services), log chains, the
 * partition table and leader epochs.
 *
 * - `get` returns the latest value and its version, or undefined.
 * - `put` with a precondition (`none`, `mustNotExist`, `matchesVersion`) either applies atomically and
 *   returns the new version (previous + 1; the first version is 1) or fails with PreconditionFailed.
 * - `delete` likewise; a deleted key reads as undefined and may be created again.
 * - `subscribe` calls the listener after each change of the key that this store observes.
 *
 * Providers: `memory` (tests, simulation), `local` (one node, a durable file; src/metadata/io),
 * `replicated` (a Raft group; later). One contract suite checks them all.
 */

import { type Version, KeelError } from "../core/index.js";

export type Precondition =
  | { readonly kind: "none" }
  | { readonly kind: "mustNotExist" }
  | { readonly kind: "matchesVersion"; readonly version: Version };

export const ANY_VERSION: Precondition = { kind: "none" };
export const MUST_NOT_EXIST: Precondition = { kind: "mustNotExist" };
export const matchesVersion = (version: Version): Precondition => ({
  kind: "matchesVersion",
  version,
});

export interface VersionedValue {
  readonly value: Uint8Array;
  readonly version: Version;
}

export class PreconditionFailed extends KeelError {
  constructor(
    readonly key: string,
    readonly precondition: Precondition,
    readonly currentVersion: Version | undefined,
  ) {
    super(
      "conflict",
      `metadata key '${key}': precondition ${JSON.stringify(precondition)} failed, current version is ${
        currentVersion ?? "absent"
      }`,
    );
  }
}

export interface MetadataStore {
  get(key: string): Promise<VersionedValue | undefined>;
  put(key: string, value: Uint8Array, precondition: Precondition): Promise<Version>;
  delete(key: string, precondition: Precondition): Promise<void>;
  subscribe(key: string, listener: (value: VersionedValue | undefined) => void): () => void;
  close(): Promise<void>;
}

/** Checks a precondition against the current version; the one rule every provider shares. */
export function preconditionHolds(
  precondition: Precondition,
  current: Version | undefined,
): boolean {
  switch (precondition.kind) {
    case "none":
      return true;
    case "mustNotExist":
      return current === undefined;
    case "matchesVersion":
      return current === precondition.version;
  }
}
