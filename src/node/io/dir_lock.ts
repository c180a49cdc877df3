/**
 * One process per data directory: an exclusive lock on `<dir>/LOCK`, held by an open file description
 * for the life of the process (Linux OFD locks via fs-native-extensions; flock on macOS). The kernel
 * releases it when the process ends, however it ends, and it holds across PID namespaces: two
 * containers sharing a volume cannot both own the directory, where a PID file could not tell (a PID
 * from another namespace means nothing here). The file also records the owner's PID, for the message
 * a refused start prints; it is never unlinked, since a process may be about to lock that very file.
 */

import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import fsExtensions from "fs-native-extensions";
import { KeelError, describeError } from "../../core/index.js";

/** Locks `dir` for this process or fails saying who holds it; returns the release. */
export function lockDirectory(dir: string): () => void {
  const path = join(dir, "LOCK");
  const fd = openSync(path, "a+");
  let locked: boolean;
  try {
    locked = fsExtensions.tryLock(fd);
  } catch (error) {
    closeSync(fd);
    throw new KeelError(
      "unavailable",
      `cannot lock the data directory ${dir}: ${describeError(error)}`,
    );
  }
  if (!locked) {
    closeSync(fd);
    const owner = readFileSync(path, "utf8").trim();
    throw new KeelError(
      "unavailable",
      `the data directory ${dir} is in use by another process ` +
        `(${owner === "" ? "its pid is not recorded" : `which recorded pid ${owner}`}); ` +
        `one data directory has one owner`,
    );
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`, 0);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    closeSync(fd);
  };
}
