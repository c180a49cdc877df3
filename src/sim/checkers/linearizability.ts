/**
 * A linearizability checker for histories of a versioned register per key (the metadata store's
 * model): get → absent | (value, version); put(value, precondition) → version | precondition failed
 * (with the current version); delete(precondition) → deleted | precondition failed. A put makes the
 * version previous + 1 (1 when the key is absent); a delete makes the key absent.
 *
 * The search is Wing & Gong's, with Lowe's memoization: walk the events in real-time order; at a
 * call, try to linearize that operation now (the model must accept its recorded output), lift it out
 * and restart from the front; at a return whose operation is not yet linearized, undo the last
 * choice. A configuration (set of linearized operations, model state) seen before is not explored
 * again. Keys are independent (linearizability is local), so each key is checked on its own.
 *
 * Operations whose outcome is unknown (a write that timed out) return at infinity and accept any
 * output: they may take effect at any point after their call, or never. Operations that certainly
 * had no effect are left out of the history by the recorder.
 *
 * Real-time order comes from a sequence number per event, not from clock readings: in the simulator
 * every event happens in one total order, so "A returned before B was called" is exact.
 */

import { assert, Version } from "../../core/index.js";
import { preconditionHolds, type Precondition } from "../../metadata/index.js";

export type RegisterInput =
  | { readonly kind: "get" }
  | { readonly kind: "put"; readonly value: string; readonly precondition: Precondition }
  | { readonly kind: "delete"; readonly precondition: Precondition };

export type RegisterOutput =
  | { readonly kind: "value"; readonly value: string | undefined; readonly version: number }
  | { readonly kind: "put"; readonly version: number }
  | { readonly kind: "deleted" }
  | { readonly kind: "preconditionFailed"; readonly currentVersion: number | undefined };

export interface HistoryOperation {
  readonly id: number;
  readonly client: number;
  readonly key: string;
  /** Event sequence numbers: `call < ret`; `ret` undefined when the outcome is unknown. */
  readonly call: number;
  readonly ret: number | undefined;
  readonly input: RegisterInput;
  /** Undefined when the outcome is unknown. */
  readonly output: RegisterOutput | undefined;
}

export type CheckResult =
  | { readonly ok: true; readonly searchSteps: number }
  | {
      readonly ok: false;
      readonly key: string;
      readonly reason: string;
      readonly operations: readonly HistoryOperation[];
    };

interface RegisterState {
  readonly value: string;
  readonly version: number;
}

/** Search steps allowed per key before the checker gives up (reported as a failure). */
export const LINEARIZABILITY_SEARCH_STEPS_MAX = 5_000_000;

/** The store's own precondition rule, on the model's plain version numbers. */
function holds(precondition: Precondition, state: RegisterState | undefined): boolean {
  return preconditionHolds(precondition, state === undefined ? undefined : Version(state.version));
}

/** The model: applies `op` to `state`; undefined when the recorded output is impossible there. */
export function stepRegister(
  state: RegisterState | undefined,
  input: RegisterInput,
  output: RegisterOutput | undefined,
): { next: RegisterState | undefined } | undefined {
  switch (input.kind) {
    case "get": {
      if (output === undefined) return { next: state };
      if (output.kind !== "value") return undefined;
      const matches =
        state === undefined
          ? output.value === undefined
          : output.value === state.value && output.version === state.version;
      return matches ? { next: state } : undefined;
    }
    case "put": {
      if (!holds(input.precondition, state)) {
        if (output === undefined) return { next: state };
        const ok = output.kind === "preconditionFailed" && output.currentVersion === state?.version;
        return ok ? { next: state } : undefined;
      }
      const next = { value: input.value, version: (state?.version ?? 0) + 1 };
      if (output === undefined) return { next };
      return output.kind === "put" && output.version === next.version ? { next } : undefined;
    }
    case "delete": {
      if (!holds(input.precondition, state)) {
        if (output === undefined) return { next: state };
        const ok = output.kind === "preconditionFailed" && output.currentVersion === state?.version;
        return ok ? { next: state } : undefined;
      }
      if (output === undefined) return { next: undefined };
      return output.kind === "deleted" ? { next: undefined } : undefined;
    }
  }
}

interface Event {
  readonly op: HistoryOperation;
  readonly slot: number;
  readonly isCall: boolean;
  readonly time: number;
  match: Event | undefined;
  prev: Event | undefined;
  next: Event | undefined;
}

function stateKey(state: RegisterState | undefined): string {
  return state === undefined ? "-" : `${state.version}:${state.value}`;
}

/** Checks one key's operations. */
export function checkKey(key: string, operations: readonly HistoryOperation[]): CheckResult {
  const events: Event[] = [];
  operations.forEach((op, slot) => {
    assert(op.ret === undefined || op.call < op.ret, `operation ${op.id} returns before its call`);
    assert((op.ret === undefined) === (op.output === undefined), "unknown outcomes have no return");
    const call: Event = {
      op,
      slot,
      isCall: true,
      time: op.call,
      match: undefined,
      prev: undefined,
      next: undefined,
    };
    const ret: Event = {
      op,
      slot,
      isCall: false,
      time: op.ret ?? Number.POSITIVE_INFINITY,
      match: call,
      prev: undefined,
      next: undefined,
    };
    call.match = ret;
    events.push(call, ret);
  });
  // Calls before returns at equal times: only unknown returns tie (at infinity), and their order
  // does not matter.
  events.sort((a, b) => a.time - b.time || Number(b.isCall) - Number(a.isCall));
  const head: Event = {
    op: operations[0]!,
    slot: -1,
    isCall: false,
    time: Number.NEGATIVE_INFINITY,
    match: undefined,
    prev: undefined,
    next: undefined,
  };
  let tail = head;
  for (const event of events) {
    event.prev = tail;
    tail.next = event;
    tail = event;
  }

  const lift = (call: Event): void => {
    const ret = call.match!;
    call.prev!.next = call.next;
    if (call.next !== undefined) call.next.prev = call.prev;
    ret.prev!.next = ret.next;
    if (ret.next !== undefined) ret.next.prev = ret.prev;
  };
  const unlift = (call: Event): void => {
    const ret = call.match!;
    ret.prev!.next = ret;
    if (ret.next !== undefined) ret.next.prev = ret;
    call.prev!.next = call;
    if (call.next !== undefined) call.next.prev = call;
  };

  const linearized = new Uint32Array(Math.ceil(operations.length / 32) || 1);
  const seen = new Set<string>();
  const stack: { call: Event; state: RegisterState | undefined }[] = [];
  let remainingCompleted = operations.filter((op) => op.ret !== undefined).length;
  let state: RegisterState | undefined = undefined;
  let entry = head.next;
  let steps = 0;

  while (remainingCompleted > 0) {
    steps++;
    if (steps > LINEARIZABILITY_SEARCH_STEPS_MAX) {
      return { ok: false, key, reason: `search gave up after ${steps} steps`, operations };
    }
    assert(entry !== undefined, "a completed operation remains, so its return is in the list");
    if (entry.isCall) {
      const stepped = stepRegister(state, entry.op.input, entry.op.output);
      if (stepped !== undefined) {
        linearized[entry.slot >> 5]! ^= 1 << (entry.slot & 31);
        const configuration = `${linearized.join(",")}|${stateKey(stepped.next)}`;
        if (!seen.has(configuration)) {
          seen.add(configuration);
          stack.push({ call: entry, state });
          state = stepped.next;
          if (entry.op.ret !== undefined) remainingCompleted--;
          lift(entry);
          entry = head.next;
          continue;
        }
        linearized[entry.slot >> 5]! ^= 1 << (entry.slot & 31);
      }
      entry = entry.next;
      continue;
    }
    // A return whose operation could not be placed before it: undo the latest choice.
    const undone = stack.pop();
    if (undone === undefined) {
      return {
        ok: false,
        key,
        reason: `operation ${entry.op.id} (client ${entry.op.client}) cannot be linearized`,
        operations,
      };
    }
    state = undone.state;
    unlift(undone.call);
    linearized[undone.call.slot >> 5]! ^= 1 << (undone.call.slot & 31);
    if (undone.call.op.ret !== undefined) remainingCompleted++;
    entry = undone.call.next;
  }
  return { ok: true, searchSteps: steps };
}

/** Checks a whole history, key by key. */
export function checkLinearizable(operations: readonly HistoryOperation[]): CheckResult {
  const byKey = new Map<string, HistoryOperation[]>();
  for (const op of operations) {
    const list = byKey.get(op.key) ?? [];
    list.push(op);
    byKey.set(op.key, list);
  }
  let steps = 0;
  for (const [key, list] of [...byKey].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const result = checkKey(key, list);
    if (!result.ok) return result;
    steps += result.searchSteps;
  }
  return { ok: true, searchSteps: steps };
}

/** A readable line per operation, for failure reports. */
export function describeOperation(op: HistoryOperation): string {
  const input =
    op.input.kind === "get"
      ? "get"
      : op.input.kind === "put"
        ? `put ${op.input.value} if ${JSON.stringify(op.input.precondition)}`
        : `delete if ${JSON.stringify(op.input.precondition)}`;
  const output = op.output === undefined ? "unknown" : JSON.stringify(op.output);
  return `#${op.id} c${op.client} [${op.call}, ${op.ret ?? "∞"}] ${op.key}: ${input} → ${output}`;
}
