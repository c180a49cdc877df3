/**
 * The replicated metadata store's state machine: the versioned key-value map of the local provider
 * (MemoryMetadataStore, whose precondition and version rules it reuses unchanged), plus the client
 * sessions that make retried writes exactly-once.
 *
 * Determinism: every member applies the same committed entries in the same order and must reach the
 * same state. Nothing here reads a clock or iterates in an order that depends on anything but the
 * applied entries (Maps iterate in insertion order; sessions are moved to the end when active, so
 * the least recently active session is the first one).
 *
 * Invariants: at most `clientSessionsMax` sessions; at most `sessionResultsMax` remembered results
 * per session; a session's remembered results are all numbered at or above its `ackedBelow`.
 */

import { assert, AssertionFailure, Version } from "../core/index.js";
import {
  decodeCommand,
  readWriteResult,
  writeWriteResult,
  type CommandResult,
  type WriteOp,
  type WriteResult,
} from "./commands.js";
import {
  MemoryMetadataStore,
  PreconditionFailed,
  type Precondition,
  type VersionedValue,
} from "../metadata/index.js";
import { RAFT_CODEC_FORMAT } from "./raft/codec.js";
import { ByteReader, ByteWriter } from "../wire/index.js";
import type { LogIndex } from "./raft/types.js";

export interface StateMachineLimits {
  /** Client sessions remembered at most; the least recently active one is forgotten first. */
  readonly clientSessionsMax: number;
  /** Results remembered per session at most (a client keeps fewer writes than this in flight). */
  readonly sessionResultsMax: number;
}

export const DEFAULT_STATE_MACHINE_LIMITS: StateMachineLimits = {
  clientSessionsMax: 4096,
  sessionResultsMax: 256,
};

interface Session {
  ackedBelow: number;
  readonly results: Map<number, WriteResult>;
}

export class MetadataStateMachine extends MemoryMetadataStore {
  private sessions = new Map<number, Session>();

  constructor(private readonly limits: StateMachineLimits = DEFAULT_STATE_MACHINE_LIMITS) {
    super();
    assert(limits.clientSessionsMax >= 1, "clientSessionsMax must be at least 1");
    assert(limits.sessionResultsMax >= 1, "sessionResultsMax must be at least 1");
  }

  /** Writes reach this state only through committed entries (apply). */
  override put(_key: string, _value: Uint8Array, _precondition: Precondition): Promise<Version> {
    return Promise.reject(new AssertionFailure("the replicated state is written only by apply()"));
  }

  override delete(_key: string, _precondition: Precondition): Promise<void> {
    return Promise.reject(new AssertionFailure("the replicated state is written only by apply()"));
  }

  /** Sets an initial value (version 1) while provisioning, before anything was applied. */
  provisionValue(key: string, value: Uint8Array): void {
    assert(this.sessions.size === 0, "initial values are set before any entry is applied");
    assert(!this.entries.has(key), `initial value of '${key}' set twice`);
    this.applyPut(key, value, { kind: "mustNotExist" });
  }

  read(key: string): VersionedValue | undefined {
    return this.entries.get(key);
  }

  sessionCount(): number {
    return this.sessions.size;
  }

  /** Applies one committed command entry, at log index `index`. */
  apply(index: LogIndex, data: Uint8Array): CommandResult {
    const command = decodeCommand(data);
    switch (command.kind) {
      case "openSession":
        return this.openSession(index);
      case "write":
        return this.applyWrite(command.sessionId, command.seq, command.ackedBelow, command.op);
    }
  }

  private openSession(index: LogIndex): CommandResult {
    assert(!this.sessions.has(index), `session ${index} opened twice`);
    this.sessions.set(index, { ackedBelow: 0, results: new Map() });
    while (this.sessions.size > this.limits.clientSessionsMax) {
      const oldest = this.sessions.keys().next().value;
      assert(oldest !== undefined, "a session to evict");
      this.sessions.delete(oldest);
    }
    return { kind: "sessionOpened", sessionId: index };
  }

  private applyWrite(sessionId: number, seq: number, ackedBelow: number, op: WriteOp): WriteResult {
    const session = this.sessions.get(sessionId);
    if (session === undefined) return { kind: "sessionExpired" };
    // Most recently active last: eviction takes the first.
    this.sessions.delete(sessionId);
    this.sessions.set(sessionId, session);
    if (ackedBelow > session.ackedBelow) {
      session.ackedBelow = ackedBelow;
      for (const done of [...session.results.keys()]) {
        if (done < ackedBelow) session.results.delete(done);
      }
    }
    // A copy of a write whose answer the client already has: its result is forgotten, and the
    // client no longer listens. It must not be applied again.
    if (seq < session.ackedBelow) return { kind: "sessionExpired" };
    const remembered = session.results.get(seq);
    if (remembered !== undefined) return remembered;
    const result = this.execute(op);
    session.results.set(seq, result);
    while (session.results.size > this.limits.sessionResultsMax) {
      const oldest = Math.min(...session.results.keys());
      session.results.delete(oldest);
      session.ackedBelow = Math.max(session.ackedBelow, oldest + 1);
    }
    return result;
  }

  private execute(op: WriteOp): WriteResult {
    try {
      if (op.kind === "put") {
        return { kind: "put", version: this.applyPut(op.key, op.value, op.precondition) };
      }
      this.applyDelete(op.key, op.precondition);
      return { kind: "deleted" };
    } catch (error) {
      if (error instanceof PreconditionFailed) {
        return { kind: "preconditionFailed", currentVersion: error.currentVersion };
      }
      throw error;
    }
  }

  /** The whole state (values and sessions) as bytes, for a Raft snapshot. */
  encodeSnapshot(): Uint8Array {
    const out = new ByteWriter().u32(RAFT_CODEC_FORMAT);
    const values = this.snapshot();
    out.count(values.length);
    for (const [key, { value, version }] of values) out.string(key).bytes(value).u53(version);
    out.count(this.sessions.size);
    for (const [id, session] of this.sessions) {
      out.u53(id).u53(session.ackedBelow).count(session.results.size);
      for (const [seq, result] of session.results) {
        out.u53(seq);
        writeWriteResult(out, result);
      }
    }
    return out.finish();
  }

  /** Replaces the whole state with a snapshot's. */
  restore(bytes: Uint8Array): void {
    this.entries.clear();
    this.sessions = new Map();
    if (bytes.length === 0) return;
    const input = new ByteReader(bytes, "metadata snapshot");
    input.version(RAFT_CODEC_FORMAT);
    for (let n = input.count(); n > 0; n--) {
      const key = input.string();
      const value = input.bytes();
      this.entries.set(key, { value, version: Version(input.u53()) });
    }
    for (let n = input.count(); n > 0; n--) {
      const id = input.u53();
      const session: Session = { ackedBelow: input.u53(), results: new Map() };
      for (let r = input.count(); r > 0; r--) {
        const seq = input.u53();
        session.results.set(seq, readWriteResult(input));
      }
      this.sessions.set(id, session);
    }
    input.end();
  }
}
