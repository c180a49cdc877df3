/** The Raft storage contract over files and the simulator's disk. */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { seededPrng } from "../../src/core/prng.js";
import { FileRaftStorage } from "../../src/metadata-server/io/raft_file_storage.js";
import { SimDisk } from "../../src/sim/disk.js";
import { SimProcess, openSimRaftStorage, provisionSimDisk } from "../../src/sim/metadata/ports.js";
import { SimScheduler } from "../../src/sim/scheduler.js";
import { describeRaftStorageContract, type OpenedRaftStorage } from "./raft_storage_contract.js";

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

const fileDirs = new WeakMap<OpenedRaftStorage, string>();
describeRaftStorageContract("files", {
  async provision(state) {
    const dir = await mkdtemp(join(tmpdir(), "keel-raft-contract-"));
    dirs.push(dir);
    await FileRaftStorage.provision(dir, state);
    const opened = await FileRaftStorage.open(dir);
    fileDirs.set(opened, dir);
    return opened;
  },
  async reopen(opened) {
    const dir = fileDirs.get(opened)!;
    opened.storage.close();
    const reopened = await FileRaftStorage.open(dir);
    fileDirs.set(reopened, dir);
    return reopened;
  },
  settle: () => new Promise((resolve) => setImmediate(resolve)),
});

const scheduler = new SimScheduler(5);
const simDisks = new WeakMap<OpenedRaftStorage, { disk: SimDisk; process: SimProcess }>();
const openOnDisk = (disk: SimDisk): OpenedRaftStorage => {
  const process = new SimProcess(scheduler);
  const opened = openSimRaftStorage(disk, scheduler, process, () => 3);
  simDisks.set(opened, { disk, process });
  return opened;
};
describeRaftStorageContract("simulated disk", {
  provision(state) {
    const disk = new SimDisk(seededPrng(9));
    provisionSimDisk(disk, state);
    return Promise.resolve(openOnDisk(disk));
  },
  reopen(opened) {
    const { disk, process } = simDisks.get(opened)!;
    process.kill();
    return Promise.resolve(openOnDisk(disk));
  },
  settle: () => {
    scheduler.runFor(5);
    return Promise.resolve();
  },
});
