/**
 * The order services, written with the official Restate SDK:
 * - `Order`, a virtual object per order: create, add an item (earmarked in the inventory), close
 *   (books every item through the `Booking` workflow), cancel (releases the earmarks of an open
 *   order, or reverses an executed one through the `Reversal` workflow), and shared handlers for its
 *   status, booked and pending items;
 * - `Booking`, a SAGA: books every item and, when one booking fails, reverses the bookings it made and
 *   releases the remaining earmarks (all or nothing);
 * - `Reversal`: reverses every booking of an executed order.
 * Every call to the inventory runs inside `ctx.run`, so it happens once per journaled step; the
 * inventory is idempotent by reservation id for the retries of a step that never reached the journal.
 */
import * as restate from "@restatedev/restate-sdk";

export type OrderStatus = "open" | "executed" | "failed" | "canceled" | "reversed";
export const FINAL_STATUSES: readonly OrderStatus[] = [
  "executed",
  "failed",
  "canceled",
  "reversed",
];

export interface Item {
  readonly itemId: string;
  readonly sku: string;
  readonly qty: number;
  readonly reservation: string;
}

export interface OrderView {
  /** "unknown" when no order of that id was created. */
  readonly status: OrderStatus | "unknown";
  readonly items: readonly Item[];
}

interface BookingRequest {
  readonly order: string;
  readonly items: readonly Item[];
}

interface BookingResult {
  readonly outcome: "executed" | "failed" | "reversed";
  readonly reason?: string;
}

export function inventoryClient(baseUrl: string) {
  return async (operation: string, order: string, item: Item): Promise<string> => {
    const response = await fetch(
      `${baseUrl}/reservations/${encodeURIComponent(item.reservation)}/${operation}`,
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ order, item: item.itemId, sku: item.sku }),
        signal: AbortSignal.timeout(5_000),
      },
    );
    const answer = (await response.json()) as { state?: string; message?: string };
    // A refusal is the inventory's answer, kept in the journal; anything else is retried.
    if (response.status === 409)
      throw new restate.TerminalError(`${operation}: ${answer.message ?? "refused"}`, {
        errorCode: 409,
      });
    if (!response.ok) throw new Error(`${operation}: inventory answered ${response.status}`);
    return answer.state ?? "unknown";
  };
}

export function orderServices(inventoryUrl: string) {
  const inventory = inventoryClient(inventoryUrl);

  const booking = restate.workflow({
    name: "Booking",
    handlers: {
      run: async (
        ctx: restate.WorkflowContext,
        request: BookingRequest,
      ): Promise<BookingResult> => {
        const booked: Item[] = [];
        for (const [index, item] of request.items.entries()) {
          try {
            await ctx.run(`book ${item.itemId}`, () => inventory("book", request.order, item));
            booked.push(item);
          } catch (error) {
            if (!(error instanceof restate.TerminalError)) throw error;
            // All or nothing: undo what was booked, give back what was only earmarked.
            for (const done of booked.reverse())
              await ctx.run(`reverse ${done.itemId}`, () =>
                inventory("reverse", request.order, done),
              );
            for (const left of request.items.slice(index))
              await ctx.run(`release ${left.itemId}`, () =>
                inventory("release", request.order, left),
              );
            return { outcome: "failed", reason: error.message };
          }
        }
        return { outcome: "executed" };
      },
    },
  });

  const reversal = restate.workflow({
    name: "Reversal",
    handlers: {
      run: async (
        ctx: restate.WorkflowContext,
        request: BookingRequest,
      ): Promise<BookingResult> => {
        for (const item of request.items)
          await ctx.run(`reverse ${item.itemId}`, () => inventory("reverse", request.order, item));
        return { outcome: "reversed" };
      },
    },
  });

  const conflict = (message: string) => new restate.TerminalError(message, { errorCode: 409 });

  const order = restate.object({
    name: "Order",
    handlers: {
      create: async (ctx: restate.ObjectContext): Promise<OrderView> => {
        if ((await ctx.get<OrderStatus>("status")) !== null)
          throw conflict(`order ${ctx.key} exists`);
        ctx.set<OrderStatus>("status", "open");
        ctx.set<Item[]>("items", []);
        return { status: "open", items: [] };
      },
      addItem: async (
        ctx: restate.ObjectContext,
        request: { itemId: string; sku: string; qty: number },
      ): Promise<OrderView> => {
        const status = await ctx.get<OrderStatus>("status");
        if (status !== "open") throw conflict(`order ${ctx.key} is ${status ?? "unknown"}`);
        const items = (await ctx.get<Item[]>("items")) ?? [];
        const item: Item = { ...request, reservation: ctx.rand.uuidv4() };
        await ctx.run("earmark", () => inventory("earmark", ctx.key, item));
        items.push(item);
        ctx.set("items", items);
        return { status, items };
      },
      close: async (ctx: restate.ObjectContext): Promise<OrderView> => {
        const status = await ctx.get<OrderStatus>("status");
        if (status !== "open") throw conflict(`order ${ctx.key} is ${status ?? "unknown"}`);
        const items = (await ctx.get<Item[]>("items")) ?? [];
        const result = await ctx.workflowClient(booking, ctx.key).run({ order: ctx.key, items });
        ctx.set<OrderStatus>("status", result.outcome === "executed" ? "executed" : "failed");
        return { status: result.outcome === "executed" ? "executed" : "failed", items };
      },
      cancel: async (ctx: restate.ObjectContext): Promise<OrderView> => {
        const status = await ctx.get<OrderStatus>("status");
        if (status === null)
          throw new restate.TerminalError(`no order ${ctx.key}`, { errorCode: 404 });
        const items = (await ctx.get<Item[]>("items")) ?? [];
        if (status === "open") {
          for (const item of items)
            await ctx.run(`release ${item.itemId}`, () => inventory("release", ctx.key, item));
          ctx.set<OrderStatus>("status", "canceled");
          return { status: "canceled", items };
        }
        if (status === "executed") {
          await ctx.workflowClient(reversal, ctx.key).run({ order: ctx.key, items });
          ctx.set<OrderStatus>("status", "reversed");
          return { status: "reversed", items };
        }
        return { status, items };
      },
      status: restate.handlers.object.shared(
        async (ctx: restate.ObjectSharedContext): Promise<OrderView> => ({
          status: (await ctx.get<OrderStatus>("status")) ?? "unknown",
          items: (await ctx.get<Item[]>("items")) ?? [],
        }),
      ),
      bookedItems: restate.handlers.object.shared(async (ctx: restate.ObjectSharedContext) =>
        (await ctx.get<OrderStatus>("status")) === "executed"
          ? ((await ctx.get<Item[]>("items")) ?? [])
          : [],
      ),
      pendingItems: restate.handlers.object.shared(async (ctx: restate.ObjectSharedContext) =>
        (await ctx.get<OrderStatus>("status")) === "open"
          ? ((await ctx.get<Item[]>("items")) ?? [])
          : [],
      ),
    },
  });

  return [order, booking, reversal];
}
