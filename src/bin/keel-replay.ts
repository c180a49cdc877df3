#!/usr/bin/env node
/**
 * keel-replay: replays a stopped node's log into its partition stores without taking leadership and
 * prints, per partition, the applied LSN and a SHA-256 digest of the store's tables. With `--fresh`
 * the stores are rebuilt in memory from LSN 1 instead, and the node's own stores are left untouched.
 * A node recovered from a crash and the same log replayed from scratch must print the same digests.
 */

import { parseArgs } from "node:util";
import { acceptDamagedTail, replayDataDir } from "../worker/io/index.js";
import { describeDamagedTail } from "../platform/io/index.js";
import { describeError } from "../core/index.js";

const USAGE = `Usage: keel-replay --data-dir DIR [--fresh] [--through P:LSN,...] [--json]
       keel-replay --data-dir DIR --accept-damaged-tail

Replays the log of the stopped node whose data lives in DIR (<base-dir>/<node-name>) and prints,
per partition, the store's applied LSN before and after, the log's tail and a digest of the tables.
Nothing in DIR is written unless --accept-damaged-tail is given.

  --data-dir DIR          the node's data directory
  --fresh                 rebuild every store in memory from LSN 1 (leaves the node's stores alone)
  --through P:LSN,...     stop partition P at LSN (default: each log's tail)
  --json                  print JSON instead of a table
  --accept-damaged-tail   repair what a start refuses when the end of the newest log file is damaged
                          but durable (a partition store applied it, or intact frames follow it):
                          cut the file at the damage, losing that frame and all after it, and remove
                          the partition stores, which the next start rebuilds from the logs
  -h, --help              show this help
`;

function parseThrough(text: string | undefined): Map<number, number> {
  const out = new Map<number, number>();
  if (text === undefined) return out;
  for (const item of text.split(",")) {
    const match = /^(\d+):(\d+)$/.exec(item.trim());
    if (match === null) throw new Error(`--through: expected P:LSN, found '${item}'`);
    out.set(Number(match[1]), Number(match[2]));
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      "data-dir": { type: "string" },
      fresh: { type: "boolean", default: false },
      through: { type: "string" },
      json: { type: "boolean", default: false },
      "accept-damaged-tail": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const dataDir = values["data-dir"];
  if (dataDir === undefined) throw new Error(`--data-dir is required\n\n${USAGE}`);
  if (values["accept-damaged-tail"]) {
    const cut = await acceptDamagedTail(dataDir);
    process.stdout.write(
      cut === undefined
        ? "the newest log file ends cleanly: nothing to repair, nothing changed\n"
        : `cut ${describeDamagedTail(cut)}; removed the partition stores (the next start rebuilds them from the logs)\n`,
    );
    return;
  }
  const through = parseThrough(values.through);
  const replays = await replayDataDir(dataDir, {
    source: values.fresh ? "fresh" : "store",
    throughLsn: (p) => through.get(p),
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(replays, null, 2)}\n`);
    return;
  }
  const lines = replays.map(
    (r) =>
      `p${r.partition}\tstore ${r.storeAppliedLsn}\tapplied ${r.appliedLsn}\ttail ${r.logTail}\t` +
      `entries ${r.digest.entries}\tsha256 ${r.digest.sha256}\n`,
  );
  process.stdout.write(lines.join(""));
}

main().catch((error: unknown) => {
  process.stderr.write(`keel-replay: ${describeError(error)}\n`);
  process.exit(1);
});
