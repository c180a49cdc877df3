/**
 * The simulated services and what they let the checkers see.
 *
 * - `Counter/add` (virtual object, exclusive): reads its count (eagerly from Start's state map, or
 *   lazily when the seed turns lazy state on), runs a `ctx.run` whose
 *   closure draws a fresh random value R from the service's own randomness (not the SDK's
 *   deterministic one: a second execution draws a different value) and records the execution as an
 *   external side effect; then the handler tells the ledger it saw R, may fail its attempt with a
 *   retryable error (the next attempt replays the run's result), optionally sleeps (a durable
 *   timer) and calls `Tally/record` on another object (the shuffle between partitions, a call result),
 *   sets count + 1 and outputs R with the new count.
 * - `Tally/record` (virtual object, exclusive): counts the calls it got and outputs the new count.
 *
 * The ledger is the world outside the node: it outlives crashes and sees what handlers saw. A handler
 * may see its run's result many times (one per attempt that replays past it) but must always see the
 * same one: Keel sends the completion of a run only once its record is durable.
 */

import { fromUtf8, utf8, type Prng } from "../../core/index.js";
import type { HandlerSchema, RetryPolicy, Schema, ServiceSchema } from "../../schema/index.js";
import { RetryableError, type SdkHandler } from "./sdk.js";

export const COUNTER = "Counter";
export const TALLY = "Tally";
export const DEPLOYMENT_ID = "dp_1simulated0000000000000";
const DAY_MS = 86_400_000;

/** The argument of `Counter/add`. */
export interface AddArgument {
  readonly sleepMs: number;
  /** The key of the Tally object to call, or "" for none. */
  readonly tally: string;
}

/** The output of `Counter/add`. */
export interface AddOutput {
  readonly r: string;
  readonly count: number;
  readonly tally: number | null;
}

export class Ledger {
  /** Per invocation, the distinct run results its handler saw after the run completed. */
  readonly observed = new Map<string, string[]>();
  /** Per invocation, how often the run's closure executed (at least once, maybe more). */
  readonly executions = new Map<string, number>();

  constructor(private readonly violation: (message: string) => void) {}

  executed(invocationId: string): void {
    this.executions.set(invocationId, (this.executions.get(invocationId) ?? 0) + 1);
  }

  saw(invocationId: string, r: string): void {
    const seen = this.observed.get(invocationId);
    if (seen === undefined) {
      this.observed.set(invocationId, [r]);
      return;
    }
    if (seen.includes(r)) return;
    seen.push(r);
    this.violation(
      `${invocationId} saw two results of one ctx.run: ${seen.join(" then ")} (a run result reached the handler before it was durable)`,
    );
  }
}

export interface ServiceWorld {
  readonly prng: Prng;
  readonly ledger: Ledger;
  /** Resolves after `ms` of virtual time (a closure that takes time to run). */
  readonly delay: (ms: number) => Promise<void>;
  readonly runDurationMaxMs: number;
  /** The chance that an attempt fails (a retryable error) right after its run completed. */
  readonly failureChance: number;
}

const json = (value: unknown): Uint8Array => utf8(JSON.stringify(value));
const parse = <T>(bytes: Uint8Array): T => JSON.parse(fromUtf8(bytes)) as T;
const count = (bytes: Uint8Array | undefined): number =>
  bytes === undefined ? 0 : parse<number>(bytes);

export function simulatedHandlers(world: ServiceWorld): Map<string, SdkHandler> {
  const add: SdkHandler = async (ctx, input) => {
    const argument = parse<AddArgument>(input);
    const before = count(await ctx.get("count"));
    const drawn = await ctx.run("draw", async () => {
      await world.delay(world.prng.nextInt(world.runDurationMaxMs + 1));
      world.ledger.executed(ctx.invocationId);
      return json(world.prng.nextU32().toString(36));
    });
    const r = parse<string>(drawn);
    world.ledger.saw(ctx.invocationId, r);
    // A transient failure after the run: the next attempt replays the run's durable result.
    if (world.prng.chance(world.failureChance))
      throw new RetryableError(`transient failure of ${ctx.invocationId}`);
    if (argument.sleepMs > 0) await ctx.sleep(argument.sleepMs);
    let tally: number | null = null;
    if (argument.tally !== "")
      tally = parse<number>(await ctx.call(TALLY, "record", argument.tally, json(r)));
    ctx.set("count", json(before + 1));
    const output: AddOutput = { r, count: before + 1, tally };
    return json(output);
  };
  const record: SdkHandler = async (ctx) => {
    const n = count(await ctx.get("n")) + 1;
    ctx.set("n", json(n));
    return json(n);
  };
  return new Map([
    [`${COUNTER}/add`, add],
    [`${TALLY}/record`, record],
  ]);
}

export interface SchemaShape {
  readonly protocolVersionMax: 5 | 6;
  readonly requestResponse: boolean;
  readonly lazyState: boolean;
  readonly inactivityTimeoutMs: number;
  readonly abortTimeoutMs: number;
  readonly retryPolicy: RetryPolicy;
}

/** The schema registration would produce for the simulated deployment. */
export function simulatedSchema(shape: SchemaShape, createdAtMs: number): Schema {
  const handler = (name: string): HandlerSchema => ({
    name,
    ty: "Exclusive",
    public: true,
    input: { contentType: "application/json" },
    output: { contentType: "application/json" },
  });
  const service = (name: string, handlerName: string): ServiceSchema => ({
    name,
    ty: "VirtualObject",
    handlers: [handler(handlerName)],
    deploymentId: DEPLOYMENT_ID,
    revision: 1,
    public: true,
    idempotencyRetentionMs: DAY_MS,
    journalRetentionMs: DAY_MS,
    inactivityTimeoutMs: shape.inactivityTimeoutMs,
    abortTimeoutMs: shape.abortTimeoutMs,
    enableLazyState: shape.lazyState,
    retryPolicy: shape.retryPolicy,
  });
  return {
    deployments: [
      {
        id: DEPLOYMENT_ID,
        uri: "http://service.sim/",
        protocolType: shape.requestResponse ? "RequestResponse" : "BidiStream",
        useHttp11: false,
        additionalHeaders: {},
        metadata: {},
        createdAtMs,
        minProtocolVersion: 5,
        maxProtocolVersion: shape.protocolVersionMax,
        services: [
          { name: COUNTER, revision: 1 },
          { name: TALLY, revision: 1 },
        ],
      },
    ],
    services: [service(COUNTER, "add"), service(TALLY, "record")],
  };
}
