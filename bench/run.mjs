#!/usr/bin/env node
// `npm run bench`: Keel's benchmark entry point. Runs the harness (bench.mjs, adopted from the shared
// side-by-side harness) against a fresh keel-server on loopback and prints, per workload and
// concurrency, invocations/s and p50/p99 latency. Results (JSON + Markdown) go to bench/results/.
//
//   npm run bench                                  noop and steps at c = 1, 16, 64
//   npm run bench -- --workloads noop,steps,counter --concurrency 1,64 --duration 10 --repeats 3
//
// Any option is passed through to bench.mjs. The load generator is wrk when installed (Debian: wrk),
// otherwise the harness's Node load generator (costs more client CPU; noted in the output).
// Then the recovery benchmark (bench/recovery.mjs: start-up after a SIGKILL with 100,000 completed and
// 10,000 in-flight invocations): --no-recovery skips it, --recovery-<option> V passes --<option> V.
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");
const SERVER = path.join(ROOT, "dist", "src", "bin", "keel-server.js");

if (!fs.existsSync(SERVER)) {
  console.error("bench: dist/ is missing; run `npm run build` first");
  process.exit(1);
}
const hasWrk = spawnSync("sh", ["-c", "command -v wrk"]).status === 0;
const recoveryArgs = [];
const passed = [];
let runRecovery = true;
for (let i = 2; i < process.argv.length; i++) {
  const arg = process.argv[i];
  if (arg === "--no-recovery") runRecovery = false;
  else if (arg.startsWith("--recovery-")) recoveryArgs.push(`--${arg.slice("--recovery-".length)}`, process.argv[++i]);
  else passed.push(arg);
}
const has = (flag) => passed.includes(flag);
const args = [path.join(HERE, "bench.mjs")];
if (!has("--server-cmd")) {
  args.push(
    "--server-cmd",
    `${process.execPath} ${SERVER} --base-dir {data} --node-name n1 --bind-address 127.0.0.1 --ingress-port {ingress_port} --admin-port {admin_port} --node-port {fabric_port} --log-level warn`,
  );
}
if (!has("--label")) args.push("--label", "keel");
if (!has("--workloads")) args.push("--workloads", "noop,steps");
if (!has("--concurrency")) args.push("--concurrency", "1,16,64");
if (!has("--duration")) args.push("--duration", "5");
if (!has("--warmup")) args.push("--warmup", "2");
if (!has("--batch-sends")) args.push("--batch-sends", "0");
if (!has("--loadgen")) args.push("--loadgen", hasWrk ? "wrk" : "node");
args.push(...passed);
if (!hasWrk && !has("--loadgen")) console.log("bench: wrk is not installed; using the Node load generator");

const out = spawnSync(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"], cwd: HERE });
const text = out.stdout.toString();
process.stdout.write(text.split("\n").filter((l) => / c=\d+ rep=|ERROR|results in/.test(l)).join("\n") + "\n");
const dir = /results in (.*)$/m.exec(text)?.[1];
if (dir !== undefined && fs.existsSync(path.join(dir, "results.md"))) {
  console.log("");
  console.log(execFileSync(process.execPath, [path.join(HERE, "headline.mjs"), "keel: thr/s · p50 ms · p99 ms", dir]).toString());
}
let status = out.status ?? 1;
if (runRecovery) {
  console.log("");
  const recovery = spawnSync(process.execPath, [path.join(HERE, "recovery.mjs"), ...recoveryArgs], { stdio: "inherit" });
  if (status === 0) status = recovery.status ?? 1;
}
process.exit(status);
