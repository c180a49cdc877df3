/**
 * A simulated client's requests to one Keel process, shared by the node and cluster simulations:
 * they fail with ConnectionReset when the process dies (as a client's connection would), and one
 * attempt of a client submits (or attaches) and waits for its invocation's result as the ingress
 * does. The simulations decide where each attempt goes and when the client tries again.
 */

import { KeelError } from "../../core/index.js";
import type { Result } from "../../gen/keel/records.js";
import type { KeelNode } from "../../node/index.js";
import { outputOf, submissionAt, type ClientInvocation } from "./workload.js";

/** The connection to a process that died: what its client sees. */
export class ConnectionReset extends Error {
  override readonly name = "ConnectionReset";
}

/** A request without an answer in the client's own time: it gives up on it and tries again. */
export class ClientTimeout extends Error {
  override readonly name = "ClientTimeout";
}

/** The errors after which a client tries again: a lost connection, a timeout, a retryable refusal. */
export function isExpectedClientError(error: unknown): boolean {
  if (error instanceof ConnectionReset || error instanceof ClientTimeout) return true;
  return (
    error instanceof KeelError &&
    (error.retryable || error.code === "unavailable" || error.code === "not_leader")
  );
}

/** The requests clients have open on one process. */
export class ProcessRequests {
  private readonly outstanding = new Set<(error: Error) => void>();

  /** Runs `op` on the process's node, if it serves requests; fails with ConnectionReset otherwise. */
  request<T>(node: KeelNode | undefined, op: (node: KeelNode) => Promise<T>): Promise<T> {
    if (node === undefined) return Promise.reject(new ConnectionReset("the node is down"));
    let promise: Promise<T>;
    try {
      promise = op(node);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return this.guard(promise);
  }

  /** The promise's outcome, unless the process dies first (then ConnectionReset). */
  guard<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const reset = (error: Error): void => reject(error);
      this.outstanding.add(reset);
      promise.then(
        (value) => {
          if (this.outstanding.delete(reset)) resolve(value);
        },
        (error: unknown) => {
          if (this.outstanding.delete(reset))
            reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }

  /** The process died: every open request fails. */
  resetAll(): void {
    const resets = [...this.outstanding];
    this.outstanding.clear();
    for (const reset of resets) reset(new ConnectionReset("the node crashed"));
  }
}

/** Where one attempt goes: a process (by name, for the trace) and its node, if it serves. */
export interface AttemptTarget {
  readonly name: string;
  readonly node: KeelNode | undefined;
  readonly requests: ProcessRequests;
}

export interface AttemptHooks {
  now(): number;
  trace(text: string): void;
  violation(message: string): void;
}

/**
 * One attempt of a client: submits (a call, or a send not yet acknowledged) and waits for the
 * result, or attaches to an acknowledged send. True once the client is done (it has its result, or
 * found a violation); false to try again; throws what the request failed with.
 */
export async function clientAttempt(
  client: ClientInvocation,
  target: AttemptTarget,
  hooks: AttemptHooks,
): Promise<boolean> {
  const { requests } = target;
  if (client.mode === "call" || client.acknowledgedAtMs === undefined) {
    const { outcome, completion } = await requests.request(target.node, (node) =>
      node.submit(
        submissionAt(client, node.ports.clock.nowMs()),
        client.id.partitionKey,
        client.mode === "call",
      ),
    );
    if (outcome.kind !== "accepted" && outcome.kind !== "previouslyAccepted") {
      hooks.violation(`client ${client.index}: submission answered ${outcome.kind}`);
      return true;
    }
    if (client.acknowledgedAtMs === undefined) {
      client.acknowledgedAtMs = hooks.now();
      hooks.trace(`client ${client.index} acknowledged by ${target.name} (${outcome.kind})`);
    }
    if (client.mode === "call") {
      if (completion === undefined) {
        hooks.violation(`client ${client.index}: a call got no completion`);
        return true;
      }
      const attached = await requests.guard(completion);
      if (attached.kind !== "completed") return false; // the leader changed: ask again
      return received(client, attached.result, hooks);
    }
  }
  const attached = await requests.request(target.node, (node) => node.attach(client.id, true));
  switch (attached.kind) {
    case "completed":
      return received(client, attached.result, hooks);
    case "notFound":
      hooks.violation(
        `client ${client.index}: acknowledged send ${client.idText} not found (asked ${target.name})`,
      );
      return true;
    case "notReady":
      return false;
  }
}

function received(client: ClientInvocation, result: Result, hooks: AttemptHooks): boolean {
  const output = outputOf(client, result);
  if (typeof output !== "string") {
    hooks.violation(output.failed);
    return true;
  }
  client.received = output;
  hooks.trace(`client ${client.index} received ${client.received}`);
  return true;
}
