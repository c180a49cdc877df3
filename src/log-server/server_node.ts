/**
 * The log-server role of one node: it pumps the pure `LogServer` machine (log_server.ts) through the
 * node's ports, answering the loglet requests that sequencers, readers and tail coordinators send to
 * log servers (`NodeService.logServer` envelopes) and writing to the node's log store.
 *
 * Invariants:
 * - Store writes complete in the order issued, and a reply that depends on a write leaves only once
 *   the machine has seen that write complete (the machine orders its effects).
 * - A failed store write stops this log server for good (it answers nothing more): the process must
 *   restart and recover from what is durable. After `shutdown` no callback runs again.
 */

import {
  assert,
  assertNever,
  describeError,
  type GenerationalNodeId,
  type NodeId,
} from "../core/index.js";
import {
  type RecoveredLoglet,
  decodeLogletMessage,
  encodeLogletMessage,
  type LogletMessage,
  type LogletId,
} from "../bifrost/index.js";
import { NodeService, type NodeTransport } from "../net/index.js";
import { LogServer, type LogServerEffect } from "./log_server.js";
import type { LogServerStore } from "./store.js";

export interface LogServerNodeConfig {
  readonly self: GenerationalNodeId;
  readonly transport: NodeTransport;
  readonly store: LogServerStore;
  /** What the store found on disk at start-up. */
  readonly recovered: ReadonlyMap<LogletId, RecoveredLoglet>;
  /** The log store failed; this log server has stopped answering. */
  readonly onStoreFailure?: (error: Error) => void;
}

export class LogServerNode {
  private readonly server: LogServer;
  private readonly replies = new Map<number, (payload: Uint8Array) => void>();
  private nextReply = 1;
  private storeFailed = false;
  private stopped = false;

  constructor(private readonly config: LogServerNodeConfig) {
    assert(config.transport.self === config.self.node, "the transport speaks for this node");
    this.server = new LogServer(config.recovered);
    config.transport.serve(NodeService.logServer, {
      onMessage: (from, payload) => this.onMessage(from, payload),
      onRequest: (from, payload, respond) => this.onRequest(from, payload, respond),
    });
  }

  /** Stops all callbacks of this log server. */
  shutdown(): void {
    this.stopped = true;
  }

  /** Read-only view for tests and the simulator's checkers. */
  inspect(): LogServer {
    return this.server;
  }

  private onRequest(
    _from: NodeId,
    payload: Uint8Array,
    respond: (payload: Uint8Array) => void,
  ): void {
    if (this.stopped || this.storeFailed) return;
    const message = decodeOrUndefined(payload);
    switch (message?.kind) {
      case "store":
      case "prepare":
      case "accept":
      case "getRecords":
      case "getInfo":
      case "trim": {
        const token = this.nextReply++;
        this.replies.set(token, respond);
        return this.apply(this.server.onRequest(token, message));
      }
      default:
        // Malformed, or not a request for a log server: no answer, the peer times out.
        return;
    }
  }

  private onMessage(_from: NodeId, payload: Uint8Array): void {
    if (this.stopped || this.storeFailed) return;
    const message = decodeOrUndefined(payload);
    if (message?.kind === "release" || message?.kind === "decided") {
      this.apply(this.server.onNotice(message));
    }
  }

  private apply(effects: LogServerEffect[]): void {
    const { store } = this.config;
    for (const effect of effects) {
      switch (effect.kind) {
        case "reply": {
          const respond = this.replies.get(effect.reply);
          this.replies.delete(effect.reply);
          respond?.(encodeLogletMessage(effect.response));
          break;
        }
        case "write":
          store.write(effect.op, (error) => {
            if (this.stopped || this.storeFailed) return;
            if (error !== undefined) return this.failStore(error);
            this.apply(this.server.onWritten(effect.write));
          });
          break;
        case "read":
          store.read(
            effect.logletId,
            effect.from,
            effect.toExclusive,
            effect.recordsMax,
            effect.bytesMax,
            (result) => {
              if (this.stopped || this.storeFailed) return;
              // A failed read answers "not here"; the reader asks another server.
              this.apply(this.server.onRead(effect.read, result instanceof Error ? [] : result));
            },
          );
          break;
        default:
          assertNever(effect, "log server effect");
      }
    }
  }

  private failStore(error: Error): void {
    this.storeFailed = true;
    this.replies.clear();
    this.config.onStoreFailure?.(
      new Error(`log store of node ${this.config.self.node} failed: ${describeError(error)}`),
    );
  }
}

function decodeOrUndefined(payload: Uint8Array): LogletMessage | undefined {
  try {
    return decodeLogletMessage(payload);
  } catch {
    return undefined;
  }
}
