/**
 * The per-phase counts of invocation statuses that the partition FSM keeps for metrics: moved by
 * every status written, and counted once for a store written before they were kept.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PartitionKey } from "../core/brand.js";
import { InvocationId } from "../core/ids.js";
import { InvocationPhase, InvocationStatus } from "../gen/keel/records.js";
import { MemoryPartitionStore } from "./store.js";
import { INVOCATION_PHASES, TableReader, Tables, emptyFsm } from "./tables.js";

const idOf = (n: number): InvocationId =>
  InvocationId.fromParts(PartitionKey(7n), new Uint8Array(16).fill(n));
const statusIn = (phase: InvocationPhase): InvocationStatus => ({
  ...InvocationStatus.decode(new Uint8Array(0)),
  phase,
});

describe("invocations by phase", () => {
  it("moves the counts by the phases each record changed", () => {
    const store = new MemoryPartitionStore();
    const counts = emptyFsm().invocationsByPhase;
    assert.equal(counts.length, INVOCATION_PHASES);
    const first = new Tables(store);
    first.putStatus(idOf(1), statusIn(InvocationPhase.INVOCATION_PHASE_INVOKED));
    first.putStatus(idOf(2), statusIn(InvocationPhase.INVOCATION_PHASE_INVOKED));
    first.putStatus(idOf(3), statusIn(InvocationPhase.INVOCATION_PHASE_SCHEDULED));
    first.flush(counts);
    assert.deepEqual(counts, [0, 1, 2, 0, 0, 0]);
    const second = new Tables(store);
    // Changed in place, as the state machine does, then put; one deleted; one put unchanged.
    const one = second.status(idOf(1))!;
    one.phase = InvocationPhase.INVOCATION_PHASE_COMPLETED;
    second.putStatus(idOf(1), one);
    second.deleteStatus(idOf(3));
    second.putStatus(idOf(2), second.status(idOf(2))!);
    second.flush(counts);
    assert.deepEqual(counts, [0, 0, 1, 0, 0, 1]);
    assert.deepEqual(new TableReader(store).countByPhase(), counts);
  });

  it("counts the statuses of a store written before the counts were kept, once", () => {
    const store = new MemoryPartitionStore();
    const tables = new Tables(store);
    tables.putStatus(idOf(1), statusIn(InvocationPhase.INVOCATION_PHASE_SUSPENDED));
    tables.putStatus(idOf(2), statusIn(InvocationPhase.INVOCATION_PHASE_COMPLETED));
    tables.flush(new Array<number>(INVOCATION_PHASES).fill(0));
    tables.putFsm({ ...emptyFsm(), appliedLsn: 2, invocationsByPhase: [] });
    assert.deepEqual(new TableReader(store).fsm().invocationsByPhase, [0, 0, 0, 1, 0, 1]);
    assert.deepEqual(
      new TableReader(new MemoryPartitionStore()).fsm().invocationsByPhase,
      [0, 0, 0, 0, 0, 0],
    );
  });
});
