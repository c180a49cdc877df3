#!/usr/bin/env node
// The CPU cost of the metric events one invocation of the `steps` workload reports (an attempt
// started, answered and finished, its log appends, its completion, the ingress answer), measured
// in isolation: no server, no I/O. Compare it with the server's CPU per invocation (`bench.mjs`,
// "server µs CPU/inv") to see what metrics cost the hot path.
//   npm run build && node bench/metrics_cost.mjs [--appends 8] [--iterations 1000000]
import { parseArgs } from "node:util";
import { PrometheusMetrics } from "../dist/src/observability/io/index.js";

const { values } = parseArgs({
  options: {
    appends: { type: "string", default: "8" },
    iterations: { type: "string", default: "1000000" },
  },
});
const appends = Number(values.appends);
const count = Number(values.iterations);
const metrics = new PrometheusMetrics({ processMetrics: false });
const oneInvocation = () => {
  const sent = metrics.startTimer();
  metrics.invoker.attemptStarted();
  metrics.invoker.endpointResponded(sent);
  for (let i = 0; i < appends; i++) metrics.log.appendCommitted(2, 200, metrics.startTimer());
  metrics.invoker.attemptFinished("ended");
  metrics.partitions.invocationCompleted("succeeded");
  metrics.ingress.requestAnswered(200, sent);
};
for (let i = 0; i < count / 5; i++) oneInvocation(); // warm-up (JIT)
const start = process.hrtime.bigint();
for (let i = 0; i < count; i++) oneInvocation();
const ns = Number(process.hrtime.bigint() - start) / count;
console.log(`${(ns / 1000).toFixed(2)} µs of metric events per invocation (${appends} log appends)`);
