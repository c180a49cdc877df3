/**
 * In-memory metadata store. Also the state machine the durable providers wrap: the local provider
 * persists its snapshot after each change, the replicated one applies committed Raft entries to it.
 */

import { Version } from "../core/index.js";
import {
  PreconditionFailed,
  preconditionHolds,
  type MetadataStore,
  type Precondition,
  type VersionedValue,
} from "./store.js";

export class MemoryMetadataStore implements MetadataStore {
  protected readonly entries = new Map<string, VersionedValue>();
  private readonly listeners = new Map<string, Set<(value: VersionedValue | undefined) => void>>();

  constructor(initial?: Iterable<[string, VersionedValue]>) {
    if (initial !== undefined) for (const [key, value] of initial) this.entries.set(key, value);
  }

  get(key: string): Promise<VersionedValue | undefined> {
    return Promise.resolve(this.entries.get(key));
  }

  put(key: string, value: Uint8Array, precondition: Precondition): Promise<Version> {
    try {
      return Promise.resolve(this.applyPut(key, value, precondition));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  delete(key: string, precondition: Precondition): Promise<void> {
    try {
      this.applyDelete(key, precondition);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  subscribe(key: string, listener: (value: VersionedValue | undefined) => void): () => void {
    let set = this.listeners.get(key);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(key, set);
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  close(): Promise<void> {
    this.listeners.clear();
    return Promise.resolve();
  }

  /** Applies a put synchronously; throws PreconditionFailed. */
  protected applyPut(key: string, value: Uint8Array, precondition: Precondition): Version {
    const current = this.entries.get(key);
    if (!preconditionHolds(precondition, current?.version)) {
      throw new PreconditionFailed(key, precondition, current?.version);
    }
    const next = { value: value.slice(), version: Version((current?.version ?? 0) + 1) };
    this.entries.set(key, next);
    this.notify(key, next);
    return next.version;
  }

  protected applyDelete(key: string, precondition: Precondition): void {
    const current = this.entries.get(key);
    if (!preconditionHolds(precondition, current?.version)) {
      throw new PreconditionFailed(key, precondition, current?.version);
    }
    if (current === undefined) return;
    this.entries.delete(key);
    this.notify(key, undefined);
  }

  /** Every entry, for persisting a snapshot. */
  protected snapshot(): [string, VersionedValue][] {
    return [...this.entries];
  }

  private notify(key: string, value: VersionedValue | undefined): void {
    for (const listener of this.listeners.get(key) ?? []) listener(value);
  }
}
