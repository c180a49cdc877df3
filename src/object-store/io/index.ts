/**
 * Object stores on real I/O: a directory (`file:///dir`) or an S3-compatible bucket
 * (`s3://bucket/prefix`).
 */

import { parseObjectStoreUrl, type ObjectStore } from "../index.js";
import { FileObjectStore } from "./file_object_store.js";

export { FileObjectStore } from "./file_object_store.js";
export type { S3Settings } from "./s3_object_store.js";

/** How to reach an S3-compatible store other than AWS's defaults. */
export interface S3Access {
  readonly endpoint?: string;
  readonly region?: string;
  readonly pathStyle?: boolean;
}

/**
 * The object store at a destination URL; a URL Keel cannot use is a `bad_request` saying why. The AWS
 * SDK is loaded only for an S3 destination: a node that keeps its snapshots in a directory never
 * loads it.
 */
export async function openObjectStore(url: string, s3: S3Access = {}): Promise<ObjectStore> {
  const location = parseObjectStoreUrl(url);
  if (location.scheme === "file") return new FileObjectStore(location.path);
  const { S3ObjectStore } = await import("./s3_object_store.js");
  return new S3ObjectStore({ bucket: location.bucket, prefix: location.prefix, ...s3 });
}
