/**
 * The object store port and its destinations.
 *
 * Contract: `put` makes an object visible whole or not at all (a reader never sees half of it) and
 * durable when it resolves, its data taken a part at a time (a snapshot larger than memory streams
 * through; a part source that throws leaves no object); `read` gives an object a part at a time; `list(prefix)` returns the keys starting with `prefix`, sorted; `get` of a
 * missing key is undefined; `delete` of a missing key succeeds. Keys are `/`-separated names of
 * letters, digits, `.`, `_` and `-` (no empty, `.` or `..` segment), so that every store can hold
 * them as they are.
 */

import { KeelError } from "../core/index.js";

/** An object's data, a part at a time. */
export type ObjectData = Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

export interface ObjectStore {
  /** Where the objects are, for messages (`file:///var/keel/snapshots`). */
  readonly description: string;
  put(key: string, data: ObjectData): Promise<void>;
  /** The whole object (small ones: manifests). */
  get(key: string): Promise<Uint8Array | undefined>;
  /** The object a part at a time (large ones: snapshot data). */
  read(key: string): Promise<AsyncIterable<Uint8Array> | undefined>;
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
  /** Releases connections; the store is not used afterwards. */
  close(): void;
}

export type ObjectStoreLocation =
  | { readonly scheme: "file"; readonly path: string }
  | { readonly scheme: "s3"; readonly bucket: string; readonly prefix: string };

const SEGMENT = /^[A-Za-z0-9._-]+$/;

export function validObjectKey(key: string): boolean {
  return key
    .split("/")
    .every((segment) => SEGMENT.test(segment) && segment !== "." && segment !== "..");
}

/** Parses a destination URL; a bad one is a `bad_request` naming what is wrong. */
export function parseObjectStoreUrl(url: string): ObjectStoreLocation {
  const scheme = /^([a-z0-9]+):\/\//.exec(url)?.[1];
  if (scheme === "file") {
    const path = decodeURIComponent(url.slice("file://".length));
    if (!path.startsWith("/")) {
      throw new KeelError(
        "bad_request",
        `'${url}': a file destination names an absolute directory, as in file:///var/keel/snapshots`,
      );
    }
    return { scheme, path: path.length > 1 ? path.replace(/\/+$/, "") : path };
  }
  if (scheme === "s3") {
    const rest = url.slice("s3://".length);
    const slash = rest.indexOf("/");
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    if (bucket === "")
      throw new KeelError("bad_request", `'${url}': an s3 destination names a bucket`);
    return { scheme, bucket, prefix: slash < 0 ? "" : rest.slice(slash + 1).replace(/\/+$/, "") };
  }
  throw new KeelError(
    "bad_request",
    `'${url}': a destination is a file:///directory or an s3://bucket/prefix URL`,
  );
}
