/**
 * The `replicated` MetadataStore provider: the MetadataStore interface (src/metadata/store.ts) on top
 * of the pure client (src/metadata-server/client.ts), pumped by a Ticker and a MetadataTransport. It passes
 * the same contract suite as the `memory` and `local` providers.
 *
 * Outcomes map to the contract: a failed precondition rejects with PreconditionFailed; a read or a
 * write that certainly had no effect rejects with a retryable KeelError("unavailable"); a write whose
 * outcome is unknown rejects with a non-retryable KeelError("unavailable") that says so, because
 * blindly retrying it could apply it twice (retry with a precondition instead).
 */

import { AssertionFailure, type Version, KeelError } from "../core/index.js";
import type { ClientOp, MetadataClientCore, Outcome } from "./client.js";
import type { MemberId } from "./raft/types.js";
import {
  PreconditionFailed,
  type MetadataStore,
  type Precondition,
  type VersionedValue,
} from "../metadata/index.js";
import type { MemberStatus } from "./wire.js";
import { MetadataClientDriver } from "./client_driver.js";
import type { MetadataTransport, Ticker } from "./ports.js";

interface Waiter {
  resolve(outcome: Outcome): void;
}

export class ReplicatedMetadataStore implements MetadataStore {
  private readonly waiters = new Map<number, Waiter>();
  private readonly listeners = new Map<string, Set<(value: VersionedValue | undefined) => void>>();
  private readonly driver: MetadataClientDriver;

  constructor(
    core: MetadataClientCore,
    transport: MetadataTransport,
    ticker: Ticker,
    tickIntervalMs: number,
  ) {
    this.driver = new MetadataClientDriver(core, transport, ticker, tickIntervalMs, {
      completed: ({ opId, outcome }) => {
        const waiter = this.waiters.get(opId);
        this.waiters.delete(opId);
        waiter?.resolve(outcome);
      },
      changed: ({ key, value }) => {
        for (const listener of this.listeners.get(key) ?? []) listener(value);
      },
    });
  }

  async get(key: string): Promise<VersionedValue | undefined> {
    const outcome = await this.run({ kind: "get", key });
    if (outcome.kind === "value") return outcome.value;
    throw errorOf(outcome, `get '${key}'`);
  }

  async put(key: string, value: Uint8Array, precondition: Precondition): Promise<Version> {
    const outcome = await this.run({
      kind: "write",
      op: { kind: "put", key, value: value.slice(), precondition },
    });
    if (outcome.kind === "written") {
      if (outcome.result.kind === "put") return outcome.result.version;
      if (outcome.result.kind === "preconditionFailed") {
        throw new PreconditionFailed(key, precondition, outcome.result.currentVersion);
      }
    }
    throw errorOf(outcome, `put '${key}'`);
  }

  async delete(key: string, precondition: Precondition): Promise<void> {
    const outcome = await this.run({ kind: "write", op: { kind: "delete", key, precondition } });
    if (outcome.kind === "written") {
      if (outcome.result.kind === "deleted") return;
      if (outcome.result.kind === "preconditionFailed") {
        throw new PreconditionFailed(key, precondition, outcome.result.currentVersion);
      }
    }
    throw errorOf(outcome, `delete '${key}'`);
  }

  subscribe(key: string, listener: (value: VersionedValue | undefined) => void): () => void {
    let set = this.listeners.get(key);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(key, set);
      this.driver.watch(key);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(key) === set) {
        this.listeners.delete(key);
        this.driver.unwatch(key);
      }
    };
  }

  /** Asks the metadata cluster to add `member` (learner, then voter); resolves once it votes. */
  async join(member: MemberId, address: string): Promise<void> {
    const outcome = await this.run({ kind: "join", member, address });
    if (outcome.kind !== "joined") throw errorOf(outcome, `join of member ${member}`);
  }

  /** Asks one member (by address) for its Raft status. */
  async status(address: string): Promise<MemberStatus> {
    const outcome = await this.run({ kind: "status", address });
    if (outcome.kind !== "status") throw errorOf(outcome, `status of ${address}`);
    return outcome.status;
  }

  /**
   * Members to ask besides the seeds (and the leaders that answers name): a client that knew only
   * one member's address must still reach the store when that member is gone.
   */
  learnMembers(addresses: readonly string[]): void {
    for (const address of addresses) this.driver.core.learnMember(address);
  }

  /** The last value seen for `key`, without asking anyone (may be stale). */
  cached(key: string): VersionedValue | undefined {
    return this.driver.core.cached(key);
  }

  /** Another node mentioned a version of `key`; refresh if ours is older. */
  noteVersion(key: string, version: Version): void {
    this.driver.noteVersion(key, version);
  }

  close(): Promise<void> {
    this.driver.close();
    for (const waiter of this.waiters.values()) {
      waiter.resolve({ kind: "failed", reason: "the metadata client was closed" });
    }
    this.waiters.clear();
    this.listeners.clear();
    return Promise.resolve();
  }

  private run(op: ClientOp): Promise<Outcome> {
    if (this.driver.isClosed) {
      return Promise.resolve({ kind: "failed", reason: "the metadata client was closed" });
    }
    return new Promise((resolve) => {
      // Register the waiter before anything is sent: an answer might come back synchronously.
      const opId = this.driver.core.submit(op);
      this.waiters.set(opId, { resolve });
      this.driver.flush();
    });
  }
}

function errorOf(outcome: Outcome, what: string): Error {
  switch (outcome.kind) {
    case "failed":
      return new KeelError("unavailable", `${what} failed: ${outcome.reason}`, true);
    case "unknown":
      return new KeelError(
        "unavailable",
        `${what}: outcome unknown (${outcome.reason}); it may or may not have been applied`,
        false,
      );
    case "value":
    case "written":
    case "joined":
    case "status":
      return new AssertionFailure(`${what}: unexpected outcome ${outcome.kind}`);
  }
}
