#!/usr/bin/env node
// Fills a registered node's data directory for the recovery benchmark, fast: an in-process node on
// keel-server's own adapters (local loglets, LMDB stores, the metadata file) whose endpoint is
// scripted instead of the SDK. `completed` invocations of Bench/noop run to completion; `inflight`
// invocations of Bench/steps are accepted and their attempts hang, so they are still running when
// the parent kills this process with SIGKILL (after "populated" on stdout): exactly the state a
// crashed server leaves. The log skips fdatasync here (only the page cache matters for a SIGKILL).
//
//   node bench/recovery_populate.mjs <data-dir> <completed> <inflight> <ids-file>
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = (p) => import(path.join(ROOT, "dist", "src", p));
const { dataDirLayout } = await dist("node/io/data_dir.js");
const { FileMetadataStore } = await dist("metadata/io/file_metadata_store.js");
const { LocalLogletProvider } = await dist("bifrost/local/io/local_loglet.js");
const { openLmdbEnvironment } = await dist("partition-store/io/lmdb_store.js");
const { systemClock, systemEntropy } = await dist("platform/io/system.js");
const { targetOf } = await dist("schema/index.js");
const { KeelNode } = await dist("node/node.js");
const { NO_LOG } = await dist("platform/ports.js");
const { freshInvocationId } = await dist("core/ids.js");
const { encodeFrame } = await dist("service-protocol/framing.js");
const { MessageType } = await dist("service-protocol/message_types.js");
const { retentionOf } = await dist("schema/schema.js");
const { OutputCommandMessage, EndMessage } = await dist("gen/keel/service_protocol.js");

const [dataDir, completedText, inflightText, idsFile] = process.argv.slice(2);
const completed = Number(completedText);
const inflight = Number(inflightText);
const OUTSTANDING_MAX = 2000;

const answer = Buffer.concat([
  encodeFrame(MessageType.OutputCommand, OutputCommandMessage.encode({ result: { $case: "value", value: { content: Buffer.from('"x"') } }, name: "" }).finish()),
  encodeFrame(MessageType.End, EndMessage.encode({}).finish()),
]);

/** Bench/noop attempts answer at once; Bench/steps attempts hang until the process dies. */
const scriptedEndpoint = {
  open(request, handlers) {
    const hangs = request.path.endsWith("/steps");
    queueMicrotask(() => {
      handlers.onResponse(200, { "content-type": request.headers["content-type"] });
      if (!hangs) handlers.onData(answer);
    });
    return { write() {}, end() {}, abort() {} };
  },
  close: async () => undefined,
};

const layout = dataDirLayout(dataDir);
const { environment: stores } = await openLmdbEnvironment(layout.partitionStores, (error) => { throw error; });
const node = new KeelNode(
  { nodeName: "n1", partitions: 24, clusterName: "localcluster", invokerConcurrencyMax: 20_000 },
  {
    metadata: FileMetadataStore.open(layout.metadataFile),
    loglets: new Map([["local", new LocalLogletProvider(layout.localLogletRoot, { noSync: true })]]),
    initialLoglet: () => ({ provider: "local", params: "{}" }),
    openPartitionStore: (p) => stores.partition(p),
    transport: scriptedEndpoint,
    clock: systemClock,
    entropy: systemEntropy,
    logger: NO_LOG,
    onFatal: (error) => { console.error("populate: fatal", error); process.exit(1); },
  },
);
await node.start();

function invocation(serviceName, handlerName) {
  const schema = node.schema();
  const service = schema.service(serviceName);
  const handler = service?.handlers.find((h) => h.name === handlerName);
  if (handler === undefined) throw new Error(`populate: ${serviceName}/${handlerName} is not registered`);
  const target = targetOf(service, handler, "");
  const random = new Uint8Array(16);
  systemEntropy.fill(random);
  const id = freshInvocationId(target, random);
  return {
    id,
    value: {
      invocationId: id.bytes, target, argument: Buffer.from('"x"'), headers: [],
      source: { kind: { $case: "ingress", value: {} } }, responseSink: undefined, idempotencyKey: "",
      executionTimeMs: 0, ...retentionOf(service, handler, false), wantsResult: false,
    },
  };
}

/** Runs `count` submissions with at most OUTSTANDING_MAX in flight; `awaitResult` waits for completion. */
async function submitAll(count, serviceName, handlerName, awaitResult, onId) {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const { id, value } = invocation(serviceName, handlerName);
      onId?.(id.toString());
      const { completion } = await node.submit(value, id.partitionKey, awaitResult);
      if (awaitResult) await completion;
    }
  };
  await Promise.all(Array.from({ length: Math.min(OUTSTANDING_MAX, count) }, worker));
}

const started = Date.now();
await submitAll(completed, "Bench", "noop", true);
const ids = [];
await submitAll(inflight, "Bench", "steps", false, (id) => ids.push(id));
fs.writeFileSync(idsFile, ids.join("\n"));
await stores.flushed();
process.stdout.write(`populated ${completed} completed and ${inflight} in flight in ${Date.now() - started} ms\n`);
// The parent kills this process now; until then, the in-flight attempts hang.
setInterval(() => undefined, 1 << 30);
