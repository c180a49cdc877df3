/**
 * The demo's clients. Each one runs orders end to end: create, add one to four items, then close, or
 * cancel, or close and cancel at the same moment through two regions, or close and later cancel.
 * Every mutating request carries an idempotency key and goes to a region's ingress picked at random;
 * a request that fails (no answer, 5xx, a time-out) is retried with the same key through another
 * region until it is answered or its deadline passes.
 */
import type { Acknowledgement, OrderRecord } from "./invariants.js";
import type { OrderView } from "./services.js";

export interface Region {
  readonly name: string;
  readonly ingress: string;
}

/** What the clients saw, for the progress line and the report. */
export class Traffic {
  readonly answeredAt: number[] = [];
  readonly answersByRegion = new Map<string, number>();
  readonly failuresByRegion = new Map<string, number>();
  /** Each answered request: when it was first sent and how long its answer took, retries included. */
  readonly requests: { readonly sentAt: number; readonly seconds: number }[] = [];
  retries = 0;
  gaveUp = 0;
  readonly statuses = new Map<string, string>();
  readonly orders: OrderRecord[] = [];

  answered(region: string, at: number): void {
    this.answeredAt.push(at);
    this.answersByRegion.set(region, (this.answersByRegion.get(region) ?? 0) + 1);
  }
  failed(region: string): void {
    this.failuresByRegion.set(region, (this.failuresByRegion.get(region) ?? 0) + 1);
  }
}

export interface ClientOptions {
  readonly regions: readonly Region[];
  readonly traffic: Traffic;
  /** Clients start no new order after this time (ms since the epoch). */
  readonly until: number;
  /** How long one request is retried before the client gives up on it. */
  readonly requestDeadlineMs: number;
  readonly requestTimeoutMs: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const pick = <T>(values: readonly T[]): T => values[Math.floor(Math.random() * values.length)]!;
const SKUS = [
  "seat-12A",
  "seat-14C",
  "room-301",
  "room-415",
  "car-compact",
  "car-suv",
  "tour-harbor",
  "tour-museum",
];

/** An answer the handler gave: a result, or its refusal (409, as the services throw it). */
const isAnswer = (status: number): boolean => (status >= 200 && status < 300) || status === 409;

export async function request(
  options: ClientOptions,
  path: string,
  idempotencyKey: string,
  body: unknown,
  firstRegion?: Region,
): Promise<{ status: number | undefined; view?: OrderView }> {
  const { traffic, regions } = options;
  const sentAt = Date.now();
  const deadline = sentAt + options.requestDeadlineMs;
  let region = firstRegion ?? pick(regions);
  for (;;) {
    try {
      const response = await fetch(`${region.ingress}/${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": idempotencyKey },
        body: JSON.stringify(body ?? null),
        signal: AbortSignal.timeout(options.requestTimeoutMs),
      });
      const text = await response.text();
      if (isAnswer(response.status)) {
        traffic.answered(region.name, Date.now());
        traffic.requests.push({ sentAt, seconds: (Date.now() - sentAt) / 1000 });
        return response.ok
          ? { status: response.status, view: JSON.parse(text) as OrderView }
          : { status: response.status };
      }
      traffic.failed(region.name);
    } catch {
      traffic.failed(region.name);
    }
    if (Date.now() > deadline) {
      traffic.gaveUp++;
      return { status: undefined };
    }
    traffic.retries++;
    const others = regions.filter((r) => r !== region);
    region = others.length > 0 ? pick(others) : region;
    await sleep(50 + Math.random() * 150);
  }
}

async function runOrder(options: ClientOptions, id: string): Promise<void> {
  const { traffic } = options;
  const roll = Math.random();
  const scenario =
    roll < 0.65
      ? "close"
      : roll < 0.75
        ? "cancel"
        : roll < 0.875
          ? "close and cancel at once"
          : "close, then cancel";
  const record: OrderRecord = { id, scenario, requests: [] };
  traffic.orders.push(record);
  const call = async (
    operation: Acknowledgement["operation"],
    key: string,
    body?: unknown,
    region?: Region,
    itemId?: string,
  ): Promise<Acknowledgement> => {
    const answer = await request(
      options,
      `Order/${encodeURIComponent(id)}/${operation}`,
      key,
      body,
      region,
    );
    const ack: Acknowledgement = {
      operation,
      httpStatus: answer.status,
      ...(itemId === undefined ? {} : { itemId }),
      ...(answer.view === undefined ? {} : { view: answer.view }),
    };
    record.requests.push(ack);
    if (answer.view !== undefined) traffic.statuses.set(id, answer.view.status);
    return ack;
  };

  const created = await call("create", `${id}:create`);
  if (created.httpStatus === undefined) return;
  traffic.statuses.set(id, "open");
  const items = 1 + Math.floor(Math.random() * 4);
  for (let i = 1; i <= items; i++) {
    const itemId = `${id}-i${i}`;
    await call(
      "addItem",
      itemId,
      { itemId, sku: pick(SKUS), qty: 1 + Math.floor(Math.random() * 3) },
      undefined,
      itemId,
    );
  }
  switch (scenario) {
    case "close":
      await call("close", `${id}:close`);
      break;
    case "cancel":
      await call("cancel", `${id}:cancel`);
      break;
    case "close and cancel at once": {
      const first = pick(options.regions);
      const second = pick(options.regions.filter((r) => r !== first));
      await Promise.all([
        call("close", `${id}:close`, undefined, first),
        call("cancel", `${id}:cancel`, undefined, second),
      ]);
      break;
    }
    default: {
      const closed = await call("close", `${id}:close`);
      if (closed.view?.status === "executed") await call("cancel", `${id}:cancel`);
    }
  }
}

/** One client: orders one after another until `until`; resolves when its last order is done. */
export async function runClient(options: ClientOptions, name: string): Promise<void> {
  let n = 0;
  while (Date.now() < options.until) {
    n++;
    await runOrder(options, `${name}-${n}-${Math.random().toString(36).slice(2, 8)}`);
  }
}
