/**
 * The `replicated` loglet provider: `Loglet` handles (the contract of src/bifrost/loglet.ts) over a node's
 * `LogletNode` driver. A segment's `LogletConfig.params` is the JSON of its `LogletParams`
 * (`{"loglet_id":"7_2","sequencer":"N1:3","nodeset":[1,2,3],"replication":{"node":2}}`).
 *
 * A handle is cheap and stateless: the sequencer and everything else live in the node's driver, which
 * the composition root owns (closing a handle or the provider does not stop the node). Operations are
 * the driver's, wrapped in promises; failures reject with the driver's KeelError ("sealed",
 * "unavailable", …).
 */

import { type LogletOffset, describeError, KeelError } from "../../core/index.js";
import type { Loglet, LogletConfig, LogletEntry, LogletProvider, LogletTail } from "../loglet.js";
import { logletIdOf, parseLogletParams, type LogletParams } from "./types.js";
import type { LogletNode, Result } from "./loglet_node.js";

function settle<T>(run: (done: (r: Result<T>) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    run((result) => (result.ok ? resolve(result.value) : reject(result.error)));
  });
}

export class ReplicatedLoglet implements Loglet {
  constructor(
    private readonly node: LogletNode,
    readonly params: LogletParams,
  ) {}

  private get id(): LogletParams["logletId"] {
    return this.params.logletId;
  }

  append(payloads: readonly Uint8Array[]): Promise<LogletOffset> {
    return settle((done) => this.node.append(this.id, payloads, done));
  }

  read(from: LogletOffset, maxRecords: number): Promise<LogletEntry[]> {
    return settle((done) => this.node.read(this.id, from, maxRecords, done));
  }

  waitForTail(beyond: LogletOffset): Promise<LogletTail> {
    return new Promise((resolve) => this.node.waitForTail(this.id, beyond, resolve));
  }

  findTail(): Promise<LogletTail> {
    return settle((done) => this.node.findTail(this.id, done));
  }

  seal(): Promise<LogletTail> {
    return settle((done) => this.node.seal(this.id, done));
  }

  trim(through: LogletOffset): Promise<void> {
    return settle((done) => this.node.trim(this.id, through, done));
  }

  trimPoint(): Promise<number> {
    return settle((done) => this.node.trimPoint(this.id, done));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

export class ReplicatedLogletProvider implements LogletProvider {
  readonly name = "replicated";

  constructor(private readonly node: LogletNode) {}

  open(logId: number, segmentIndex: number, config: LogletConfig): Promise<Loglet> {
    let params: LogletParams;
    try {
      params = parseLogletParams(config.params);
    } catch (error) {
      return Promise.reject(
        new KeelError(
          "bad_request",
          `log ${logId} segment ${segmentIndex}: bad replicated loglet params: ${describeError(error)}`,
        ),
      );
    }
    const expected = logletIdOf(logId, segmentIndex);
    if (params.logletId !== expected) {
      return Promise.reject(
        new KeelError(
          "bad_request",
          `log ${logId} segment ${segmentIndex}: params name loglet ${params.logletId}, expected ${expected}`,
        ),
      );
    }
    this.node.open(params);
    return Promise.resolve(new ReplicatedLoglet(this.node, params));
  }

  /** The node belongs to the composition root, which shuts it down. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
