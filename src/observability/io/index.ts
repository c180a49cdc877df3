/**
 * Node implementations of the observability port: Prometheus metrics through prom-client, and the
 * node port's `GET /metrics`.
 */

export {
  PrometheusMetrics,
  METRICS_CONTENT_TYPE,
  type PartitionGaugeSource,
  type RaftGaugeSource,
  type ScrapeSources,
} from "./prometheus.js";
export { METRICS_PATH, metricsHandler } from "./metrics_http.js";
export {
  OpenTelemetryTracing,
  TRACED_INVOCATIONS_MAX,
  tracesUrl,
  type IngressSpan,
  type TracingOptions,
} from "./tracing.js";
export { timedLogServerStores } from "./loglet_transport.js";
