/** Typed JSON values on top of the byte-valued metadata store. */

import { type Version, fromUtf8, utf8 } from "../core/index.js";
import type { MetadataStore, Precondition } from "./store.js";

export interface Versioned<T> {
  readonly value: T;
  readonly version: Version;
}

export async function getJson<T>(
  store: MetadataStore,
  key: string,
): Promise<Versioned<T> | undefined> {
  const found = await store.get(key);
  if (found === undefined) return undefined;
  return { value: JSON.parse(fromUtf8(found.value)) as T, version: found.version };
}

export function putJson<T>(
  store: MetadataStore,
  key: string,
  value: T,
  precondition: Precondition,
): Promise<Version> {
  return store.put(key, utf8(JSON.stringify(value)), precondition);
}
