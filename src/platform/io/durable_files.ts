/**
 * The one way Keel replaces a small file durably (temporary file, fsync, rename, fsync of the
 * directory), and reads a file holding one number: for state that must survive a crash whole or not
 * at all (metadata, generations, clean-close records, store states).
 */

import { open, rename, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { KeelError } from "../../core/index.js";

export async function fsyncDir(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `dir/name` with `content` (one piece or several, written in order as they come)
 * atomically and durably (temp file, fsync, rename, fsync dir); a content source that throws leaves
 * `dir/name` as it was and no temporary file.
 */
export async function writeFileDurably(
  dir: string,
  name: string,
  content: string | Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
): Promise<void> {
  const tmp = join(dir, `${name}.tmp`);
  const handle = await open(tmp, "w");
  try {
    if (typeof content === "string" || content instanceof Uint8Array) {
      await handle.writeFile(content);
    } else {
      for await (const part of content) await handle.write(part);
    }
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(tmp, { force: true });
    throw error;
  }
  await handle.close();
  await rename(tmp, join(dir, name));
  await fsyncDir(dir);
}

/** Reads a file holding one non-negative integer; undefined when the file does not exist. */
export async function readNumberFile(path: string): Promise<number | undefined> {
  try {
    const handle = await open(path, "r");
    try {
      const text = (await handle.readFile("utf8")).trim();
      const value = Number(text);
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new KeelError("storage", `${path}: expected a non-negative integer, found '${text}'`);
      }
      return value;
    } finally {
      await handle.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** Reads a JSON file written with `writeFileDurably`; undefined when the file does not exist. */
export async function readJsonFile<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new KeelError("storage", `${path}: not valid JSON (${(error as Error).message})`);
  }
}
