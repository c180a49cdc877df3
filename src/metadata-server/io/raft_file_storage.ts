/**
 * Durable Raft storage for a metadata-server member, in two files under its directory (format and
 * recovery: src/metadata-server/raft/storage_format.ts):
 * - `raft-snapshot`: the latest snapshot, replaced atomically (temporary file, fsync, rename, fsync
 *   of the directory);
 * - `raft-log`: frames of hard states and entries, appended with one `writev` and one `fdatasync`
 *   per persist (so a busy leader groups many proposals in one sync); rewritten atomically after each
 *   snapshot and when the member opens (which also drops a torn tail left by a crash).
 * `done` is called only once the data is on stable storage: Raft sends votes and acknowledgements
 * only after that. Any I/O error is reported to the driver, which stops the member.
 */

import { open, mkdir, readFile, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { concatBytes, KeelError, describeError } from "../../core/index.js";
import {
  type RaftRecovered,
  StoragePlanner,
  recoverStorage,
  type PersistWork,
  type RaftStorage,
} from "../index.js";
import { writeFileDurably } from "../../platform/io/index.js";

export const RAFT_SNAPSHOT_FILE = "raft-snapshot";
export const RAFT_LOG_FILE = "raft-log";

async function readIfExists(path: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

export class FileRaftStorage implements RaftStorage {
  private closed = false;

  private constructor(
    private readonly dir: string,
    private log: FileHandle,
    private readonly planner: StoragePlanner,
  ) {}

  /** True when `dir` holds Raft state (the member was provisioned or has joined before). */
  static async exists(dir: string): Promise<boolean> {
    return (await readIfExists(join(dir, RAFT_LOG_FILE))) !== undefined;
  }

  /** Writes a freshly provisioned state; refuses a directory that already holds Raft state. */
  static async provision(dir: string, state: RaftRecovered): Promise<void> {
    await mkdir(dir, { recursive: true });
    if (await FileRaftStorage.exists(dir)) {
      throw new KeelError("conflict", `${dir} already holds Raft state: provisioning happens once`);
    }
    const planner = new StoragePlanner(state);
    const writes = planner.plan({ snapshot: state.snapshot, hardState: undefined, entries: [] });
    if (writes.snapshotFile !== undefined) {
      await writeFileDurably(dir, RAFT_SNAPSHOT_FILE, writes.snapshotFile);
    }
    await writeFileDurably(dir, RAFT_LOG_FILE, concatBytes(planner.logFile()));
  }

  /** Recovers the state in `dir` (empty for a new member) and rewrites the log file cleanly. */
  static async open(dir: string): Promise<{ storage: FileRaftStorage; recovered: RaftRecovered }> {
    await mkdir(dir, { recursive: true });
    const recovered = recoverStorage(
      await readIfExists(join(dir, RAFT_SNAPSHOT_FILE)),
      await readIfExists(join(dir, RAFT_LOG_FILE)),
    );
    const planner = new StoragePlanner(recovered);
    await writeFileDurably(dir, RAFT_LOG_FILE, concatBytes(planner.logFile()));
    const log = await open(join(dir, RAFT_LOG_FILE), "a");
    return { storage: new FileRaftStorage(dir, log, planner), recovered };
  }

  persist(work: PersistWork, done: (error: Error | undefined) => void): void {
    this.write(work).then(
      () => done(undefined),
      (error: unknown) =>
        done(
          new KeelError("storage", `raft storage in ${this.dir}: ${describeError(error)}`, false, {
            cause: error,
          }),
        ),
    );
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.log.close().catch(() => undefined);
  }

  private async write(work: PersistWork): Promise<void> {
    if (this.closed) throw new KeelError("storage", "raft storage is closed");
    const writes = this.planner.plan(work);
    if (writes.snapshotFile !== undefined) {
      await writeFileDurably(this.dir, RAFT_SNAPSHOT_FILE, writes.snapshotFile);
    }
    if (writes.logRewrite !== undefined) {
      await this.log.close();
      await writeFileDurably(
        this.dir,
        RAFT_LOG_FILE,
        concatBytes([...writes.logRewrite, ...writes.logAppend]),
      );
      this.log = await open(join(this.dir, RAFT_LOG_FILE), "a");
      return;
    }
    if (writes.logAppend.length === 0) return;
    await this.log.writev([...writes.logAppend]);
    await this.log.datasync();
  }
}
