/**
 * The demo's invariants, checked at the end of a run from three sources that do not trust each other:
 * what the clients were told (acknowledged answers), what the order objects say (their final state)
 * and what the inventory's ledger recorded.
 */
import type { Reservation } from "./ledger.js";
import { FINAL_STATUSES, type OrderView } from "./services.js";

/** What a client was told about one request: an answer (2xx or 409), or none (it gave up). */
export interface Acknowledgement {
  readonly operation: "create" | "addItem" | "close" | "cancel";
  readonly itemId?: string;
  readonly httpStatus: number | undefined;
  readonly view?: OrderView;
}

export interface OrderRecord {
  readonly id: string;
  readonly scenario: string;
  readonly requests: Acknowledgement[];
}

export interface InvariantResult {
  readonly name: string;
  readonly held: boolean;
  readonly checked: number;
  readonly broken: number;
  /** Up to a few examples of where it broke. */
  readonly violations: string[];
}

const MAX_EXAMPLES = 10;

class Check {
  private readonly violations: string[] = [];
  private checked = 0;
  private broken = 0;
  constructor(readonly name: string) {}
  expect(condition: boolean, violation: () => string): void {
    this.checked++;
    if (condition) return;
    this.broken++;
    if (this.violations.length < MAX_EXAMPLES) this.violations.push(violation());
  }
  result(): InvariantResult {
    const { name, checked, broken, violations } = this;
    return { name, held: broken === 0, checked, broken, violations };
  }
}

const ok = (request: Acknowledgement): boolean =>
  request.httpStatus !== undefined && request.httpStatus >= 200 && request.httpStatus < 300;

export function checkInvariants(
  orders: readonly OrderRecord[],
  finals: ReadonlyMap<string, OrderView>,
  reservations: readonly Reservation[],
  anomalies: readonly string[],
): InvariantResult[] {
  const settled = new Check("every order settled in one final state");
  const ledgerAgrees = new Check("every order's final state agrees with the ledger");
  const bookedOnce = new Check("no reservation booked twice, no item with two reservations");
  const addedOnce = new Check("no item added twice");
  const nothingLost = new Check("no acknowledged request lost");
  const noOrphans = new Check("no earmark or booking outside an order's items");
  const inventoryClean = new Check("the inventory refused no transition");

  const byItem = new Map<string, Reservation[]>();
  for (const reservation of reservations) {
    const key = `${reservation.order}/${reservation.item}`;
    byItem.set(key, [...(byItem.get(key) ?? []), reservation]);
  }
  const reservationById = new Map(reservations.map((r) => [r.id, r]));
  const itemsInOrders = new Set<string>();

  for (const order of orders) {
    const final = finals.get(order.id);
    const created = order.requests.find((r) => r.operation === "create");
    if (created === undefined || created.httpStatus === undefined) continue; // never known to exist
    settled.expect(
      final !== undefined && (FINAL_STATUSES as readonly string[]).includes(final.status),
      () => `order ${order.id} (${order.scenario}) ended ${final?.status ?? "unanswered"}`,
    );
    if (final === undefined) continue;

    const itemIds = final.items.map((item) => item.itemId);
    addedOnce.expect(
      new Set(itemIds).size === itemIds.length,
      () => `order ${order.id} holds items ${itemIds.join(",")}`,
    );
    for (const item of final.items) itemsInOrders.add(item.reservation);

    // Acknowledged answers against the final state.
    nothingLost.expect(
      !ok(created) || final.status !== "unknown",
      () => `order ${order.id}: created, now unknown`,
    );
    for (const request of order.requests) {
      if (request.operation === "addItem" && request.httpStatus !== undefined) {
        const present = itemIds.includes(request.itemId!);
        nothingLost.expect(
          ok(request) ? present : !present,
          () =>
            `order ${order.id}: item ${request.itemId} answered ${request.httpStatus}, ${present ? "present" : "absent"}`,
        );
      }
      if (request.operation === "close" && ok(request)) {
        const told = request.view!.status;
        const allowed = told === "executed" ? ["executed", "reversed"] : [told];
        nothingLost.expect(
          allowed.includes(final.status),
          () => `order ${order.id}: close answered ${told}, now ${final.status}`,
        );
      }
      if (request.operation === "cancel" && ok(request))
        nothingLost.expect(
          request.view!.status === final.status,
          () => `order ${order.id}: cancel answered ${request.view!.status}, now ${final.status}`,
        );
    }
    const sent = new Set(
      order.requests.filter((r) => r.operation === "addItem").map((r) => r.itemId),
    );
    for (const id of itemIds)
      nothingLost.expect(sent.has(id), () => `order ${order.id}: item ${id} never sent`);

    // The order's items against the ledger.
    const expected: Record<string, readonly string[]> = {
      executed: ["booked"],
      failed: ["released", "reversed"],
      canceled: ["released"],
      reversed: ["reversed"],
    };
    for (const item of final.items) {
      const reservation = reservationById.get(item.reservation);
      const allowed = expected[final.status];
      if (allowed === undefined) continue;
      ledgerAgrees.expect(
        reservation !== undefined && allowed.includes(reservation.state),
        () =>
          `order ${order.id} ${final.status}: item ${item.itemId} is ${reservation?.state ?? "not in the ledger"}`,
      );
    }
  }

  for (const [item, forItem] of byItem) {
    bookedOnce.expect(
      forItem.length === 1,
      () => `item ${item} has ${forItem.length} reservations`,
    );
    for (const reservation of forItem)
      bookedOnce.expect(
        (reservation.applied.book ?? 0) <= 1,
        () => `reservation ${reservation.id} booked ${reservation.applied.book} times`,
      );
  }
  for (const reservation of reservations)
    noOrphans.expect(
      reservation.state === "rejected" || itemsInOrders.has(reservation.id),
      () =>
        `reservation ${reservation.id} (${reservation.order}/${reservation.item}) is ${reservation.state} outside any order`,
    );
  inventoryClean.expect(
    anomalies.length === 0,
    () => `${anomalies.length} refused: ${anomalies.slice(0, MAX_EXAMPLES).join("; ")}`,
  );

  return [settled, ledgerAgrees, bookedOnce, addedOnce, nothingLost, noOrphans, inventoryClean].map(
    (c) => c.result(),
  );
}
