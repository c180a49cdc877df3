/**
 * Node transports inside one process: every node of an in-process cluster gets an endpoint of one
 * `InProcessNetwork`. Delivery is asynchronous (never inside the caller's stack), requests time out
 * like on a real network, and replacing a node's endpoint (a restart) drops its predecessor: answers
 * to the old endpoint's requests never reach the new one.
 */

import type { NodeId } from "../../core/index.js";
import type { NodeTransport, RequestOutcome, ServiceHandler } from "../index.js";

export class InProcessNetwork {
  private readonly endpoints = new Map<NodeId, InProcessTransport>();

  /** A fresh endpoint for `self`, replacing any previous one. */
  endpoint(self: NodeId): InProcessTransport {
    this.endpoints.get(self)?.close();
    const endpoint = new InProcessTransport(this, self);
    this.endpoints.set(self, endpoint);
    return endpoint;
  }

  lookup(node: NodeId): InProcessTransport | undefined {
    return this.endpoints.get(node);
  }

  remove(self: NodeId): void {
    this.endpoints.get(self)?.close();
    this.endpoints.delete(self);
  }
}

export class InProcessTransport implements NodeTransport {
  private readonly handlers = new Map<number, ServiceHandler>();
  private open = true;

  constructor(
    private readonly network: InProcessNetwork,
    readonly self: NodeId,
  ) {}

  close(): void {
    this.open = false;
  }

  serve(service: number, handler: ServiceHandler): void {
    this.handlers.set(service, handler);
  }

  send(to: NodeId, service: number, payload: Uint8Array): void {
    if (!this.open) return;
    setImmediate(() => this.network.lookup(to)?.handler(service)?.onMessage(this.self, payload));
  }

  request(
    to: NodeId,
    service: number,
    payload: Uint8Array,
    timeoutMs: number,
    done: (outcome: RequestOutcome) => void,
  ): void {
    if (!this.open) return;
    let finished = false;
    const finish = (outcome: RequestOutcome): void => {
      if (finished || !this.open) return;
      finished = true;
      clearTimeout(timer);
      done(outcome);
    };
    const timer = setTimeout(
      () =>
        finish({
          ok: false,
          error: "timeout",
          detail: `node ${to} did not answer in ${timeoutMs} ms`,
        }),
      timeoutMs,
    );
    setImmediate(() => {
      const handler = this.network.lookup(to)?.handler(service);
      if (handler === undefined) {
        return finish({ ok: false, error: "unavailable", detail: `node ${to} is not running` });
      }
      handler.onRequest(this.self, payload, (response) =>
        setImmediate(() => finish({ ok: true, payload: response })),
      );
    });
  }

  private handler(service: number): ServiceHandler | undefined {
    return this.open ? this.handlers.get(service) : undefined;
  }
}
