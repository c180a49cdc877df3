/**
 * The layout of a node's data directory (`<base-dir>/<node-name>`): one place that says where the
 * metadata file, the local loglets and the partition stores live, for the server and the offline tools.
 */

import { join } from "node:path";

export interface DataDirLayout {
  readonly metadataFile: string;
  /** The write-ahead stream shared by every local loglet of the node. */
  readonly localLogletRoot: string;
  /** The LMDB environment holding every partition store. */
  readonly partitionStores: string;
}

export function dataDirLayout(dataDir: string): DataDirLayout {
  return {
    metadataFile: join(dataDir, "metadata", "metadata.json"),
    localLogletRoot: join(dataDir, "local-loglet"),
    partitionStores: join(dataDir, "db"),
  };
}
