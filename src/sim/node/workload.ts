/**
 * The clients' side of the node and cluster simulations: the `Counter/add` invocations they submit
 * (each with an idempotency key, as a call that waits for its result or as a send, some delayed) and
 * the checks of what the node or cluster kept of them once the run is calm. Both simulations drive
 * the same workload so that a single node and a cluster are held to the same promises.
 */

import {
  fromUtf8,
  idempotentInvocationId,
  toHex,
  utf8,
  type InvocationId,
  type Prng,
} from "../../core/index.js";
import {
  HandlerType,
  InvocationPhase,
  ServiceType,
  type InvocationStatus,
  type Result,
  type ServiceInvocation,
  type Target,
} from "../../gen/keel/records.js";
import { objectOf, targetRefOf } from "../../partition/index.js";
import type { ObjectRef } from "../../partition-store/index.js";
import { retentionOf, type Schema } from "../../schema/index.js";
import { COUNTER, TALLY, type AddArgument, type AddOutput, type Ledger } from "./services.js";

export interface WorkloadShape {
  readonly invocations: number;
  readonly counterKeys: number;
  readonly tallyKeys: number;
  readonly sleepChance: number;
  readonly sleepMaxMs: number;
  readonly sendChance: number;
  readonly faultPhaseMs: number;
}

export interface ClientInvocation {
  readonly index: number;
  readonly counterKey: string;
  readonly argument: AddArgument;
  readonly mode: "call" | "send";
  /** A send's delay: its execution time is counted from each submission, as the ingress does. */
  readonly delayMs: number;
  /** When, in the fault phase, the client first submits. */
  readonly startAtMs: number;
  readonly id: InvocationId;
  readonly idText: string;
  readonly invocation: ServiceInvocation;
  acknowledgedAtMs: number | undefined;
  /** The output the client received, as text. */
  received: string | undefined;
}

/** The run's clients, drawn from the workload's PRNG. */
export function clientInvocations(
  shape: WorkloadShape,
  schema: Schema,
  prng: Prng,
): ClientInvocation[] {
  const service = schema.services.find((s) => s.name === COUNTER)!;
  const retention = retentionOf(service, service.handlers[0]!, true);
  const clients: ClientInvocation[] = [];
  for (let index = 0; index < shape.invocations; index++) {
    const counterKey = `c${prng.nextInt(shape.counterKeys)}`;
    const argument: AddArgument = {
      sleepMs: prng.chance(shape.sleepChance) ? 1 + prng.nextInt(shape.sleepMaxMs) : 0,
      tally: shape.tallyKeys > 0 && prng.chance(0.5) ? `t${prng.nextInt(shape.tallyKeys)}` : "",
    };
    const mode = prng.chance(shape.sendChance) ? "send" : "call";
    // Some sends are delayed, as `/send?delay=…` makes them: a durable timer starts them.
    const delayMs = mode === "send" && prng.chance(0.3) ? 1 + prng.nextInt(shape.sleepMaxMs) : 0;
    const target: Target = {
      service: COUNTER,
      handler: "add",
      key: counterKey,
      serviceType: ServiceType.SERVICE_TYPE_VIRTUAL_OBJECT,
      handlerType: HandlerType.HANDLER_TYPE_EXCLUSIVE,
    };
    const idempotencyKey = `client-${index}`;
    const id = idempotentInvocationId(targetRefOf(target), idempotencyKey);
    clients.push({
      index,
      counterKey,
      argument,
      mode,
      delayMs,
      startAtMs: prng.nextInt(Math.floor(shape.faultPhaseMs * 0.8)),
      id,
      idText: id.toString(),
      invocation: {
        invocationId: id.bytes,
        target,
        argument: utf8(JSON.stringify(argument)),
        headers: [],
        source: { kind: { $case: "ingress", value: {} } },
        responseSink: undefined,
        traceParent: "",
        idempotencyKey,
        executionTimeMs: 0,
        ...retention,
        wantsResult: mode === "call",
      },
      acknowledgedAtMs: undefined,
      received: undefined,
    });
  }
  return clients;
}

/** The client's submission as it is sent at `nowMs` (a delayed send counts its delay from then). */
export function submissionAt(client: ClientInvocation, nowMs: number): ServiceInvocation {
  return {
    ...client.invocation,
    executionTimeMs: client.delayMs === 0 ? 0 : nowMs + client.delayMs,
  };
}

/** The client's output once it received a value; a failure is a violation (handlers never fail). */
export function outputOf(client: ClientInvocation, result: Result): string | { failed: string } {
  if (result.kind?.$case !== "value")
    return { failed: `client ${client.index}: ${client.idText} failed: ${safeJson(result.kind)}` };
  return fromUtf8(result.kind.value);
}

/** What the checks read of the node or cluster: an invocation's status, an object's state. */
export interface StoredView {
  status(id: InvocationId): InvocationStatus | undefined;
  state(object: ObjectRef, name: string): Uint8Array | undefined;
}

/**
 * Every acknowledged invocation completed once, its stored output is what the client received, and
 * that output carries the one run result its handler saw.
 */
export function checkInvocations(
  clients: readonly ClientInvocation[],
  stored: StoredView,
  ledger: Ledger,
  violation: (message: string) => void,
  trace: (text: string) => void,
): void {
  for (const client of clients) {
    const status = stored.status(client.id);
    const where = `client ${client.index} (${client.idText})`;
    if (status?.phase !== InvocationPhase.INVOCATION_PHASE_COMPLETED) {
      violation(`${where}: acknowledged but not completed after recovery`);
      continue;
    }
    const result = status.result?.kind;
    if (result?.$case !== "value") {
      violation(`${where}: completed without an output: ${safeJson(result)}`);
      continue;
    }
    const output = fromUtf8(result.value);
    if (output !== client.received)
      violation(`${where}: stored output ${output}, the client received ${client.received}`);
    const parsed = JSON.parse(output) as AddOutput;
    const seen = ledger.observed.get(client.idText) ?? [];
    if (seen.length !== 1 || seen[0] !== parsed.r)
      violation(`${where}: output carries r=${parsed.r}, the handler saw [${seen.join(", ")}]`);
    trace(`final ${client.index} ${output}`);
  }
}

/**
 * Each Counter's count equals its completed adds, whose outputs carry the counts 1..n; each Tally's
 * count equals the calls it got from completed adds, likewise.
 */
export function checkObjects(
  clients: readonly ClientInvocation[],
  stored: StoredView,
  violation: (message: string) => void,
  trace: (text: string) => void,
): void {
  const counters = new Map<string, number[]>();
  const tallies = new Map<string, number[]>();
  for (const client of clients) {
    const output = JSON.parse(client.received ?? "null") as AddOutput | null;
    if (output === null) continue;
    counters.set(client.counterKey, [...(counters.get(client.counterKey) ?? []), output.count]);
    if (client.argument.tally !== "") {
      const tally = client.argument.tally;
      if (output.tally === null) violation(`client ${client.index}: no tally in its output`);
      else tallies.set(tally, [...(tallies.get(tally) ?? []), output.tally]);
    }
  }
  const check = (service: string, key: string, stateName: string, seen: number[]): void => {
    const object = objectOf({
      service,
      handler: "",
      key,
      serviceType: ServiceType.SERVICE_TYPE_VIRTUAL_OBJECT,
      handlerType: HandlerType.HANDLER_TYPE_EXCLUSIVE,
    });
    const value = stored.state(object, stateName);
    const count = value === undefined ? 0 : (JSON.parse(fromUtf8(value)) as number);
    const expected = seen.length;
    if (count !== expected)
      violation(`${service}/${key}: ${stateName} is ${count} after ${expected} completed calls`);
    const sorted = [...seen].sort((a, b) => a - b);
    if (!sorted.every((value, i) => value === i + 1))
      violation(
        `${service}/${key}: the calls saw counts [${sorted.join(", ")}], not 1..${expected}`,
      );
    trace(`state ${service}/${key} ${stateName}=${count}`);
  };
  for (const [key, seen] of [...counters].sort()) check(COUNTER, key, "count", seen);
  for (const [key, seen] of [...tallies].sort()) check(TALLY, key, "n", seen);
}

/** Where two stores' entries (sorted by key) first differ, if they do. */
export function firstStoreDifference(
  actual: readonly (readonly [string, Uint8Array])[],
  expected: readonly (readonly [string, Uint8Array])[],
): string | undefined {
  for (let i = 0; i < Math.max(actual.length, expected.length); i++) {
    const [keyA, valueA] = actual[i] ?? [];
    const [keyB, valueB] = expected[i] ?? [];
    if (keyA !== keyB)
      return `key ${keyA ?? "(none)"} in the store, ${keyB ?? "(none)"} in the replay`;
    if (toHex(valueA!) !== toHex(valueB!)) return `key ${keyA} holds different values`;
  }
  return undefined;
}

export function safeJson(value: unknown): string {
  try {
    return (
      JSON.stringify(value, (_, v: unknown) => (typeof v === "bigint" ? v.toString() : v)) ?? ""
    );
  } catch {
    return String(value);
  }
}
