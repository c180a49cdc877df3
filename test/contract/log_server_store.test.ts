/** The log-server store contract over its three implementations. */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { seededPrng } from "../../src/core/prng.js";
import { MemoryLogServerStore } from "../../src/log-server/memory_log_store.js";
import { FileLogServerStore } from "../../src/log-server/io/file_log_store.js";
import { SimDisk } from "../../src/sim/disk.js";
import { SimLogStore } from "../../src/sim/ports.js";
import { SimScheduler } from "../../src/sim/scheduler.js";
import { describeLogServerStoreContract, type OpenedStore } from "./log_server_store_contract.js";

const root = mkdtempSync(join(tmpdir(), "keel-log-store-contract-"));
const open = new Set<FileLogServerStore>();
after(async () => {
  for (const store of open) await store.close();
  rmSync(root, { recursive: true, force: true });
});
let counter = 0;

const realTime = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const files = new WeakMap<OpenedStore, string>();
describeLogServerStoreContract("segment files", {
  async create() {
    const dir = join(root, `f${counter++}`);
    const opened = await FileLogServerStore.open(dir);
    open.add(opened.store);
    files.set(opened, dir);
    return opened;
  },
  async reopen(opened) {
    const dir = files.get(opened)!;
    const old = opened.store as FileLogServerStore;
    await old.close();
    open.delete(old);
    const reopened = await FileLogServerStore.open(dir);
    open.add(reopened.store);
    files.set(reopened, dir);
    return reopened;
  },
  settle: realTime,
});

describeLogServerStoreContract("memory", {
  create() {
    const store = new MemoryLogServerStore({
      nowMs: () => Date.now(),
      setTimer: (ms, run) => {
        const timer = setTimeout(run, ms);
        return () => clearTimeout(timer);
      },
      defer: (run) => queueMicrotask(run),
      deferAfterIo: (run) => setImmediate(run),
    });
    return Promise.resolve({ store, recovered: store.recovered() });
  },
  reopen(opened) {
    const store = opened.store as MemoryLogServerStore;
    return Promise.resolve({ store, recovered: store.recovered() });
  },
  settle: () => new Promise((resolve) => setTimeout(resolve, 1)),
});

const scheduler = new SimScheduler(7);
const disks = new WeakMap<OpenedStore, SimDisk>();
const latency = { syncMinMs: 1, syncMaxMs: 5, readMaxMs: 2 };
describeLogServerStoreContract("simulated disk", {
  create() {
    const disk = new SimDisk(seededPrng(counter++));
    const opened = SimLogStore.open(disk, scheduler, latency);
    disks.set(opened, disk);
    return Promise.resolve(opened);
  },
  reopen(opened) {
    const disk = disks.get(opened)!;
    (opened.store as SimLogStore).kill();
    const reopened = SimLogStore.open(disk, scheduler, latency);
    disks.set(reopened, disk);
    return Promise.resolve(reopened);
  },
  settle: () => {
    scheduler.runFor(10);
    return Promise.resolve();
  },
});
