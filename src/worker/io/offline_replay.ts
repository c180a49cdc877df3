/**
 * Offline replay of a stopped node's data directory: opens its metadata, its local loglets and, per
 * partition, either its LMDB store (replayed forward from its applied LSN, as a start would) or an
 * empty in-memory store (rebuilt from LSN 1), applies the log without leadership and reports a
 * digest of every partition's tables. Two stores of one partition with equal digests at an equal
 * applied LSN hold exactly the same keys and values.
 *
 * Opening the loglets runs their recovery as a start would (damage that is not a torn tail is an
 * error) but writes nothing: a torn tail stays in the file. `cutTornTail` cuts it as a start does,
 * once every partition store is known to lie within its log; `acceptDamagedTail` is the operator's
 * way past damage a start refuses. The data directory is locked while any of these runs.
 */

import {
  KeelError,
  assert,
  PartitionId,
  PartitionTable,
  Sha256,
  describeError,
  toHex,
  writeU32BE,
} from "../../core/index.js";
import { rmSync } from "node:fs";
import { Bifrost, chainKey } from "../../bifrost/index.js";
import { getJson } from "../../metadata/index.js";
import {
  type PartitionReader,
  MemoryStore,
  type PartitionStore,
  TableReader,
} from "../../partition-store/index.js";
import { PARTITION_TABLE_KEY } from "../../node/index.js";
import { assertStoreWithinLog, replayPartition } from "../index.js";
import { dataDirLayout, lockDirectory } from "../../node/io/index.js";
import { FileMetadataStore } from "../../metadata/io/index.js";
import { openLmdbEnvironment, type LmdbEnvironment } from "../../partition-store/io/index.js";
import { LocalLogletProvider } from "../../bifrost/io/index.js";
import type { DamagedTail } from "../../platform/io/index.js";

const DIGEST_PAGE_ENTRIES = 4096;

export interface StoreDigest {
  /** SHA-256 over every key and value in key order, each length-prefixed, in hex. */
  readonly sha256: string;
  readonly entries: number;
}

/** A deterministic digest of every entry a partition store holds. */
export function digestStore(reader: PartitionReader): StoreDigest {
  const hash = new Sha256();
  const length = new Uint8Array(4);
  let entries = 0;
  let after: string | undefined;
  for (;;) {
    const page = reader.scan("", DIGEST_PAGE_ENTRIES, after);
    for (const [key, value] of page) {
      const keyBytes = Buffer.from(key, "latin1");
      writeU32BE(length, 0, keyBytes.length);
      hash.update(length);
      hash.update(keyBytes);
      writeU32BE(length, 0, value.length);
      hash.update(length);
      hash.update(value);
      entries++;
    }
    if (page.length < DIGEST_PAGE_ENTRIES) break;
    after = page[page.length - 1]![0];
  }
  return { sha256: toHex(hash.digest()), entries };
}

export interface PartitionReplay {
  readonly partition: number;
  /** The store's applied LSN before the replay (0 for a store rebuilt from LSN 1). */
  readonly storeAppliedLsn: number;
  readonly appliedLsn: number;
  readonly logTail: number;
  readonly digest: StoreDigest;
}

export interface OfflineReplayOptions {
  /** `store`: the node's own stores, replayed forward; `fresh`: empty stores, from LSN 1. */
  readonly source: "store" | "fresh";
  /** Replay a partition only through this LSN (default: its log's tail). */
  readonly throughLsn?: (partition: number) => number | undefined;
}

/** Replays every partition of the data directory `dataDir` (`<base-dir>/<node-name>`). */
export async function replayDataDir(
  dataDir: string,
  options: OfflineReplayOptions,
): Promise<PartitionReplay[]> {
  const unlock = lockDirectory(dataDir);
  const layout = dataDirLayout(dataDir);
  const metadata = FileMetadataStore.open(layout.metadataFile);
  const provider = new LocalLogletProvider(layout.localLogletRoot);
  const bifrost = new Bifrost(metadata, new Map([[provider.name, provider]]), (logId) => {
    assert(false, `offline replay never creates logs (log ${logId})`);
  });
  let environment: LmdbEnvironment | undefined;
  try {
    if (options.source === "store") {
      ({ environment } = await openLmdbEnvironment(layout.partitionStores, (error) => {
        throw error;
      }));
    }
    const table = await getJson<{ partitions: number }>(metadata, PARTITION_TABLE_KEY);
    if (table === undefined)
      throw new KeelError("not_found", `${dataDir} holds no provisioned node (no partition table)`);
    const partitionTable = new PartitionTable(table.value.partitions);
    const out: PartitionReplay[] = [];
    for (let p = 0; p < partitionTable.partitionCount; p++) {
      const store: PartitionStore = environment?.partition(p) ?? new MemoryStore();
      try {
        const hasLog = (await getJson(metadata, chainKey(p))) !== undefined;
        const throughLsn = options.throughLsn?.(p);
        const result = hasLog
          ? await replayPartition({
              partitionId: PartitionId(p),
              partitionTable,
              log: await bifrost.log(p),
              store,
              ...(throughLsn === undefined ? {} : { throughLsn }),
            })
          : { storeAppliedLsn: 0, appliedLsn: 0, logTail: 1 };
        out.push({ partition: p, ...result, digest: digestStore(store.reader()) });
      } catch (error) {
        throw new KeelError("storage", `replay of ${dataDir}: ${describeError(error)}`, false, {
          cause: error,
        });
      } finally {
        await store.close();
      }
    }
    return out;
  } finally {
    await environment?.close();
    await bifrost.close();
    unlock();
  }
}

/**
 * Cuts a torn tail of the node's write-ahead stream as a start would: only once every partition
 * store is checked to lie within its log (a store that applied records in the damaged frame proves
 * the frame durable, and the cut is refused). Returns what was cut.
 */
export async function cutTornTail(dataDir: string): Promise<DamagedTail | undefined> {
  const unlock = lockDirectory(dataDir);
  const layout = dataDirLayout(dataDir);
  const metadata = FileMetadataStore.open(layout.metadataFile);
  const provider = new LocalLogletProvider(layout.localLogletRoot);
  const bifrost = new Bifrost(metadata, new Map([[provider.name, provider]]), (logId) => {
    assert(false, `cutting a torn tail never creates logs (log ${logId})`);
  });
  let environment: LmdbEnvironment | undefined;
  try {
    ({ environment } = await openLmdbEnvironment(layout.partitionStores, (error) => {
      throw error;
    }));
    const table = await getJson<{ partitions: number }>(metadata, PARTITION_TABLE_KEY);
    const partitions = table?.value.partitions ?? 0;
    for (let p = 0; p < partitions; p++) {
      if ((await getJson(metadata, chainKey(p))) === undefined) continue;
      const store = environment.partition(p);
      try {
        const applied = new TableReader(store.reader()).fsm().appliedLsn;
        assertStoreWithinLog(PartitionId(p), applied, await (await bifrost.log(p)).findTail());
      } finally {
        await store.close();
      }
    }
    return await (await provider.logStore()).cutDamagedTail();
  } finally {
    await environment?.close();
    await bifrost.close();
    unlock();
  }
}

/**
 * The operator's way past damage at the end of the write-ahead stream that a start refuses (a
 * damaged frame that partition stores applied, or that intact frames follow): cuts the last file at
 * the damage, losing that frame and every later one, and removes the partition stores, which the
 * next start rebuilds from the logs (possible while logs are never trimmed), so that stores and logs
 * agree again. Returns what was cut, or undefined if there was no damage (nothing is changed then).
 */
export async function acceptDamagedTail(dataDir: string): Promise<DamagedTail | undefined> {
  const unlock = lockDirectory(dataDir);
  const layout = dataDirLayout(dataDir);
  const provider = new LocalLogletProvider(layout.localLogletRoot, { acceptDamagedTail: true });
  try {
    const cut = await (await provider.logStore()).cutDamagedTail();
    if (cut !== undefined) rmSync(layout.partitionStores, { recursive: true, force: true });
    return cut;
  } finally {
    await provider.close();
    unlock();
  }
}
