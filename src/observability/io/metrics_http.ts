/**
 * `GET /metrics` on the node port, as Restate serves it: the Prometheus text exposition of the node's
 * registry. Anything else on that HTTP server is answered with a JSON error (code and message).
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { sendJson } from "../../platform/io/index.js";
import { METRICS_CONTENT_TYPE, type PrometheusMetrics } from "./prometheus.js";

export const METRICS_PATH = "/metrics";

/** The request handler of the node port's HTTP server. */
export function metricsHandler(
  metrics: PrometheusMetrics,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0];
    if (path !== METRICS_PATH) {
      sendJson(res, 404, {
        code: "not_found",
        message: `no such path on the node port: ${path}; metrics are at GET ${METRICS_PATH}`,
      });
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      sendJson(
        res,
        405,
        {
          code: "method_not_allowed",
          message: `${req.method ?? "?"} ${METRICS_PATH}: only GET and HEAD are allowed`,
        },
        { allow: "GET, HEAD" },
      );
      return;
    }
    let text: string;
    try {
      text = await metrics.scrape();
    } catch (error) {
      sendJson(res, 500, {
        code: "internal",
        message: `collecting metrics failed: ${error instanceof Error ? error.message : String(error)}`,
      });
      return;
    }
    res.writeHead(200, {
      "content-type": METRICS_CONTENT_TYPE,
      "content-length": Buffer.byteLength(text),
    });
    res.end(req.method === "HEAD" ? undefined : text);
  };
}
