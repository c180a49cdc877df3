/**
 * The node transport as the replicated loglet sees it, with each store request to a log server
 * timed: what `keel_loglet_store_duration_seconds{log_server}` shows. Everything else passes through
 * untouched; a store request costs a look at its first byte and a clock reading.
 */

import { isStoreRequest } from "../../bifrost/index.js";
import type { NodeId } from "../../core/index.js";
import { NodeService, type NodeTransport, type RequestOutcome } from "../../net/index.js";
import type { KeelMetrics } from "../index.js";

export function timedLogServerStores(
  transport: NodeTransport,
  metrics: Pick<KeelMetrics, "loglet" | "startTimer">,
): NodeTransport {
  return {
    get self() {
      return transport.self;
    },
    send: (to, service, payload) => transport.send(to, service, payload),
    serve: (service, handler) => transport.serve(service, handler),
    request(
      to: NodeId,
      service: number,
      payload: Uint8Array,
      timeoutMs: number,
      done: (outcome: RequestOutcome) => void,
    ): void {
      if (service !== NodeService.logServer || !isStoreRequest(payload)) {
        transport.request(to, service, payload, timeoutMs, done);
        return;
      }
      const started = metrics.startTimer();
      transport.request(to, service, payload, timeoutMs, (outcome) => {
        metrics.loglet.storeAnswered(to, outcome.ok, started);
        done(outcome);
      });
    },
  };
}
