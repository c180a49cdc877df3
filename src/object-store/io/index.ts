/**
 * Object stores on real I/O: a directory today (`file:///dir`); S3-compatible stores are the next.
 */

import { KeelError } from "../../core/index.js";
import { parseObjectStoreUrl, type ObjectStore } from "../index.js";
import { FileObjectStore } from "./file_object_store.js";

export { FileObjectStore } from "./file_object_store.js";

/** The object store at a destination URL; a URL Keel cannot use is a `bad_request` saying why. */
export function openObjectStore(url: string): ObjectStore {
  const location = parseObjectStoreUrl(url);
  if (location.scheme === "file") return new FileObjectStore(location.path);
  throw new KeelError(
    "bad_request",
    `'${url}': S3 destinations are not supported yet; use a file:///directory destination`,
  );
}
