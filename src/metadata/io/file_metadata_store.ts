/**
 * The `local` metadata store: the in-memory store made durable in one file. Every change rewrites the
 * file atomically (write a temporary file, fsync, rename, fsync the directory) before it is
 * acknowledged; changes are serialized. Fine for metadata, which changes rarely.
 */

import { mkdirSync, readFileSync } from "node:fs";
import { basename, dirname } from "node:path";
import { Version, KeelError } from "../../core/index.js";
import { MemoryMetadataStore, type Precondition, type VersionedValue } from "../index.js";
import { writeFileDurably } from "../../platform/io/index.js";

interface FileFormat {
  readonly format: "keel-metadata-v1";
  readonly entries: { key: string; version: number; value: string }[];
}

export class FileMetadataStore extends MemoryMetadataStore {
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly path: string,
    initial: [string, VersionedValue][],
  ) {
    super(initial);
  }

  static open(path: string): FileMetadataStore {
    mkdirSync(dirname(path), { recursive: true });
    let initial: [string, VersionedValue][] = [];
    let text: string | undefined;
    try {
      text = readFileSync(path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    if (text !== undefined) {
      let parsed: FileFormat;
      try {
        parsed = JSON.parse(text) as FileFormat;
      } catch (error) {
        throw new KeelError(
          "storage",
          `metadata file ${path} is not valid JSON: ${(error as Error).message}`,
        );
      }
      if (parsed.format !== "keel-metadata-v1")
        throw new KeelError("storage", `metadata file ${path} has an unknown format`);
      initial = parsed.entries.map((e) => [
        e.key,
        { value: Buffer.from(e.value, "base64"), version: Version(e.version) },
      ]);
    }
    return new FileMetadataStore(path, initial);
  }

  /** Every key's value now (a single node's metadata, imported when it grows into a cluster). */
  contents(): Map<string, Uint8Array> {
    return new Map(this.snapshot().map(([key, { value }]) => [key, value]));
  }

  override put(key: string, value: Uint8Array, precondition: Precondition): Promise<Version> {
    return this.serialized(() => this.applyPut(key, value, precondition));
  }

  override delete(key: string, precondition: Precondition): Promise<void> {
    return this.serialized(() => this.applyDelete(key, precondition));
  }

  /** Applies in memory, persists, then answers; a failed write rolls the change back. */
  private serialized<T>(change: () => T): Promise<T> {
    const run = this.writing.then(async () => {
      const before = this.snapshot();
      const result = change();
      try {
        await this.persist();
      } catch (error) {
        this.entries.clear();
        for (const [k, v] of before) this.entries.set(k, v);
        throw new KeelError(
          "storage",
          `cannot persist metadata to ${this.path}: ${(error as Error).message}`,
          true,
          { cause: error },
        );
      }
      return result;
    });
    this.writing = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async persist(): Promise<void> {
    const content: FileFormat = {
      format: "keel-metadata-v1",
      entries: this.snapshot().map(([key, v]) => ({
        key,
        version: v.version,
        value: Buffer.from(v.value).toString("base64"),
      })),
    };
    await writeFileDurably(dirname(this.path), basename(this.path), JSON.stringify(content));
  }
}
