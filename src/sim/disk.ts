/**
 * A simulated disk: named files of bytes with a synced and an unsynced part. `sync` makes the current
 * content durable; `crash` throws away what was not synced, optionally keeping a random prefix of
 * the unsynced appends (a torn write), as a real disk may.
 */

import type { Prng } from "../core/index.js";

interface SimFile {
  synced: Uint8Array;
  current: Uint8Array;
}

export class SimDisk {
  private readonly files = new Map<string, SimFile>();
  /** When set, a crash keeps a random prefix of unsynced appended bytes. */
  tornWrites = true;

  constructor(private readonly prng: Prng) {}

  read(name: string): Uint8Array | undefined {
    return this.files.get(name)?.current;
  }

  write(name: string, content: Uint8Array): void {
    const file = this.files.get(name) ?? { synced: new Uint8Array(0), current: new Uint8Array(0) };
    file.current = content.slice();
    this.files.set(name, file);
  }

  append(name: string, bytes: Uint8Array): void {
    const file = this.files.get(name) ?? { synced: new Uint8Array(0), current: new Uint8Array(0) };
    const next = new Uint8Array(file.current.length + bytes.length);
    next.set(file.current, 0);
    next.set(bytes, file.current.length);
    file.current = next;
    this.files.set(name, file);
  }

  sync(name: string): void {
    const file = this.files.get(name);
    if (file !== undefined) file.synced = file.current;
  }

  remove(name: string): void {
    this.files.delete(name);
  }

  names(): string[] {
    return [...this.files.keys()].sort();
  }

  /** Loses unsynced data. A file whose unsynced change is an append may keep a torn prefix of it. */
  crash(): void {
    for (const [name, file] of this.files) {
      if (file.current === file.synced) continue;
      const isAppend =
        file.current.length > file.synced.length &&
        file.synced.every((byte, i) => file.current[i] === byte);
      if (this.tornWrites && isAppend && this.prng.chance(0.5)) {
        const extra = this.prng.nextInt(file.current.length - file.synced.length + 1);
        file.current = file.current.slice(0, file.synced.length + extra);
      } else {
        file.current = file.synced;
      }
      file.synced = file.current;
      if (file.current.length === 0 && file.synced.length === 0) this.files.delete(name);
    }
  }
}
