/**
 * An object store in a directory (`file:///dir`): an object is a file at its key's path. A put writes
 * a temporary file, syncs it and renames it into place (then syncs the directory), so an object is
 * whole or absent after a crash; a `.tmp` file left by a crash is never listed.
 */

import { createReadStream } from "node:fs";
import { access, mkdir, readdir, readFile, rm, rmdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { KeelError } from "../../core/index.js";
import { writeFileDurably } from "../../platform/io/index.js";
import { validObjectKey, type ObjectData, type ObjectStore } from "../index.js";

const TEMPORARY_SUFFIX = ".tmp";
const READ_CHUNK_BYTES = 1024 * 1024;

export class FileObjectStore implements ObjectStore {
  readonly description: string;

  constructor(private readonly root: string) {
    this.description = `file://${root}`;
  }

  async put(key: string, data: ObjectData): Promise<void> {
    const path = this.pathOf(key);
    await mkdir(dirname(path), { recursive: true });
    await writeFileDurably(dirname(path), key.slice(key.lastIndexOf("/") + 1), data);
  }

  async read(key: string): Promise<AsyncIterable<Uint8Array> | undefined> {
    const path = this.pathOf(key);
    try {
      await access(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
    return createReadStream(path, { highWaterMark: READ_CHUNK_BYTES }) as AsyncIterable<Uint8Array>;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.pathOf(key)));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    const walk = async (dir: string, under: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
        throw error;
      }
      for (const entry of entries) {
        const key = under === "" ? entry.name : `${under}/${entry.name}`;
        if (entry.isDirectory()) {
          if (prefix.startsWith(`${key}/`) || key.startsWith(prefix))
            await walk(join(dir, entry.name), key);
        } else if (!entry.name.endsWith(TEMPORARY_SUFFIX) && key.startsWith(prefix)) {
          keys.push(key);
        }
      }
    };
    await walk(this.root, "");
    return keys.sort();
  }

  /** Deletes the object, then the directories it leaves empty (a key's directories are its own). */
  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    await rm(path, { force: true });
    for (
      let dir = dirname(path);
      dir !== this.root && dir.startsWith(this.root);
      dir = dirname(dir)
    ) {
      try {
        await rmdir(dir);
      } catch {
        return; // not empty (or already gone): the rest stays
      }
    }
  }

  close(): void {}

  private pathOf(key: string): string {
    if (!validObjectKey(key)) throw new KeelError("bad_request", `'${key}' is not an object key`);
    return join(this.root, ...key.split("/"));
  }
}
