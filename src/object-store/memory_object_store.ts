/** An object store in memory, for tests and the simulator: the port's contract without a disk. */

import { KeelError } from "../core/index.js";
import { validObjectKey, type ObjectData, type ObjectStore } from "./object_store.js";

export class MemoryObjectStore implements ObjectStore {
  readonly description = "memory://";
  readonly objects = new Map<string, Uint8Array>();

  async put(key: string, data: ObjectData): Promise<void> {
    checkKey(key);
    const parts: Uint8Array[] = [];
    for await (const part of data) parts.push(part);
    const size = parts.reduce((sum, part) => sum + part.length, 0);
    const whole = new Uint8Array(size);
    let at = 0;
    for (const part of parts) {
      whole.set(part, at);
      at += part.length;
    }
    this.objects.set(key, whole);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    checkKey(key);
    return this.objects.get(key);
  }

  async read(key: string): Promise<AsyncIterable<Uint8Array> | undefined> {
    const whole = await this.get(key);
    if (whole === undefined) return undefined;
    return (async function* () {
      yield whole;
    })();
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    this.objects.delete(key);
  }

  close(): void {}
}

function checkKey(key: string): void {
  if (!validObjectKey(key)) throw new KeelError("bad_request", `'${key}' is not an object key`);
}
