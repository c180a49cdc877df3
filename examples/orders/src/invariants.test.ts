import assert from "node:assert/strict";
import { test } from "node:test";
import { checkInvariants, type OrderRecord } from "./invariants.js";
import type { Reservation } from "./ledger.js";
import type { Item, OrderView } from "./services.js";

const item = (order: string, n: number): Item => ({
  itemId: `${order}-i${n}`,
  sku: "seat",
  qty: 1,
  reservation: `${order}-r${n}`,
});
const reservation = (
  order: string,
  n: number,
  state: Reservation["state"],
  applied: Reservation["applied"] = { earmark: 1, book: 1 },
): Reservation => ({
  id: `${order}-r${n}`,
  order,
  item: `${order}-i${n}`,
  sku: "seat",
  state,
  applied,
  duplicates: 0,
});

function executedOrder(id: string): {
  record: OrderRecord;
  view: OrderView;
  ledger: Reservation[];
} {
  const items = [item(id, 1), item(id, 2)];
  const view: OrderView = { status: "executed", items };
  return {
    record: {
      id,
      scenario: "close",
      requests: [
        { operation: "create", httpStatus: 200 },
        { operation: "addItem", itemId: items[0]!.itemId, httpStatus: 200 },
        { operation: "addItem", itemId: items[1]!.itemId, httpStatus: 200 },
        { operation: "close", httpStatus: 200, view },
      ],
    },
    view,
    ledger: [reservation(id, 1, "booked"), reservation(id, 2, "booked")],
  };
}

const broken = (results: ReturnType<typeof checkInvariants>) =>
  results.filter((r) => !r.held).map((r) => r.name);

test("a consistent run holds every invariant", () => {
  const { record, view, ledger } = executedOrder("o1");
  assert.deepEqual(broken(checkInvariants([record], new Map([["o1", view]]), ledger, [])), []);
});

test("each kind of damage breaks its invariant", () => {
  const { record, view, ledger } = executedOrder("o1");
  const finals = (v: OrderView) => new Map([["o1", v]]);
  // an order still open
  assert.deepEqual(
    broken(checkInvariants([record], finals({ ...view, status: "open" }), ledger, [])),
    ["every order settled in one final state", "no acknowledged request lost"],
  );
  // an executed order whose item was released
  assert.deepEqual(
    broken(
      checkInvariants([record], finals(view), [ledger[0]!, reservation("o1", 2, "released")], []),
    ),
    ["every order's final state agrees with the ledger"],
  );
  // a second reservation for one item (a handler that ran twice with a different random id)
  assert.deepEqual(
    broken(
      checkInvariants(
        [record],
        finals(view),
        [...ledger, { ...reservation("o1", 2, "released"), id: "o1-r9" }],
        [],
      ),
    ),
    [
      "no reservation booked twice, no item with two reservations",
      "no earmark or booking outside an order's items",
    ],
  );
  // an item added twice
  assert.deepEqual(
    broken(
      checkInvariants(
        [record],
        finals({ ...view, items: [...view.items, view.items[0]!] }),
        ledger,
        [],
      ),
    ),
    ["no item added twice"],
  );
  // an acknowledged item lost
  assert.deepEqual(
    broken(checkInvariants([record], finals({ ...view, items: [view.items[0]!] }), ledger, [])),
    ["no acknowledged request lost", "no earmark or booking outside an order's items"],
  );
  // an inventory that refused a transition
  assert.deepEqual(broken(checkInvariants([record], finals(view), ledger, ["release of booked"])), [
    "the inventory refused no transition",
  ]);
});
