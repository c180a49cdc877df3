/**
 * The layout of a node's data directory (`<base-dir>/<node-name>`): one place that says where the
 * metadata file, the local loglets and the partition stores live, for the server and the offline tools.
 */

import { join } from "node:path";

export interface DataDirLayout {
  readonly metadataFile: string;
  readonly localLogletRoot: string;
  partitionStore(partitionId: number): string;
}

export function dataDirLayout(dataDir: string): DataDirLayout {
  return {
    metadataFile: join(dataDir, "metadata", "metadata.json"),
    localLogletRoot: join(dataDir, "local-loglet"),
    partitionStore: (partitionId) => join(dataDir, "db", `p${partitionId}`),
  };
}
