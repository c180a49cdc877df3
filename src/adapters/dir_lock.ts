/**
 * One server per data directory: a LOCK file holding the owner's PID, created exclusively. A lock
 * left by a process that no longer exists (a crash) is taken over.
 */

import { openSync, readFileSync, rmSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { KeelError } from "../core/errors.js";

/** True when `pid` runs; a killed process not yet reaped (a zombie) does not count. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true;
  }
}

export function lockDirectory(dir: string): () => void {
  const path = join(dir, "LOCK");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const owner = Number(readFileSync(path, "utf8").trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
        throw new KeelError(
          "unavailable",
          `the data directory ${dir} is in use by another keel-server (pid ${owner})`,
        );
      }
      rmSync(path, { force: true });
    }
  }
  throw new KeelError("unavailable", `cannot lock the data directory ${dir}`);
}
