// The services under test: ordinary Restate SDK services, nothing Keel-specific.
import * as restate from "@restatedev/restate-sdk";

export const greeter = restate.service({
  name: "Greeter",
  handlers: {
    greet: async (ctx, name) => ctx.run("compose", () => `Hello, ${name}!`),
  },
});

export const cart = restate.object({
  name: "Cart",
  handlers: {
    add: async (ctx, item) => {
      const items = (await ctx.get("items")) ?? [];
      items.push(item);
      ctx.set("items", items);
      return items.length;
    },
  },
});

/** Sends a reminder after a day, unless the order was paid. */
export const payment = restate.workflow({
  name: "PaymentReminder",
  handlers: {
    run: async (ctx, order) => {
      ctx.set("status", "waiting");
      await ctx.sleep({ days: 1 });
      ctx.set("status", "reminded");
      return `reminded ${order}`;
    },
  },
});
