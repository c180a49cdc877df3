/**
 * The inventory's ledger: one reservation per order item, moved through earmarked → booked →
 * reversed or earmarked → released. Every operation is idempotent by reservation id: a repeated
 * request answers as the first did and is counted as a duplicate, so the demo can tell retries that
 * reached the inventory from effects applied twice (which the ledger makes impossible by itself; a
 * second reservation for one item is what a broken engine would leave, and `invariants.ts` looks
 * for it).
 */

export type ReservationState =
  "earmarked" | "rejected" | "booked" | "book-failed" | "released" | "reversed";
export type Operation = "earmark" | "book" | "release" | "reverse";

export interface Reservation {
  readonly id: string;
  readonly order: string;
  readonly item: string;
  readonly sku: string;
  state: ReservationState;
  /** Requests that changed the state, by operation (at most one each). */
  readonly applied: Partial<Record<Operation, number>>;
  /** Requests that repeated an operation already applied. */
  duplicates: number;
}

export interface LedgerAnswer {
  readonly ok: boolean;
  /** 200 when the operation holds (applied now or before), 409 when the inventory refuses it. */
  readonly status: 200 | 409;
  readonly state: ReservationState | "unknown";
  readonly message?: string;
}

export interface LedgerPolicy {
  /** Whether this reservation's items are out of stock (its earmark is refused). */
  readonly outOfStock: (reservation: string) => boolean;
  /** Whether booking this reservation fails (capacity gone between earmark and booking). */
  readonly bookingFails: (reservation: string) => boolean;
}

/** The transitions each operation makes, and the states in which it is a repeat. */
const TRANSITIONS: Record<
  Operation,
  { from: readonly ReservationState[]; repeats: readonly ReservationState[] }
> = {
  earmark: {
    from: [],
    repeats: ["earmarked", "rejected", "booked", "book-failed", "released", "reversed"],
  },
  book: { from: ["earmarked"], repeats: ["booked", "book-failed", "reversed"] },
  release: { from: ["earmarked", "book-failed"], repeats: ["released"] },
  reverse: { from: ["booked"], repeats: ["reversed"] },
};

export class Ledger {
  readonly reservations = new Map<string, Reservation>();
  /** Requests the ledger refused because the reservation was in the wrong state. */
  readonly anomalies: string[] = [];

  constructor(private readonly policy: LedgerPolicy) {}

  apply(operation: Operation, id: string, order: string, item: string, sku: string): LedgerAnswer {
    const existing = this.reservations.get(id);
    if (existing === undefined) {
      if (operation !== "earmark")
        return this.refuse(`${operation} of unknown reservation ${id}`, "unknown");
      const state: ReservationState = this.policy.outOfStock(id) ? "rejected" : "earmarked";
      this.reservations.set(id, {
        id,
        order,
        item,
        sku,
        state,
        applied: { earmark: 1 },
        duplicates: 0,
      });
      return answer(state);
    }
    if (existing.order !== order || existing.item !== item)
      return this.refuse(
        `reservation ${id} belongs to ${existing.order}/${existing.item}, not ${order}/${item}`,
        existing.state,
      );
    const rule = TRANSITIONS[operation];
    if (rule.repeats.includes(existing.state) && (existing.applied[operation] ?? 0) > 0) {
      existing.duplicates++;
      return answer(existing.state);
    }
    if (!rule.from.includes(existing.state))
      return this.refuse(
        `${operation} of reservation ${id} in state ${existing.state}`,
        existing.state,
      );
    existing.state = nextState(operation, existing.id, this.policy);
    existing.applied[operation] = (existing.applied[operation] ?? 0) + 1;
    return answer(existing.state);
  }

  private refuse(message: string, state: ReservationState | "unknown"): LedgerAnswer {
    this.anomalies.push(message);
    return { ok: false, status: 409, state, message };
  }
}

function nextState(operation: Operation, id: string, policy: LedgerPolicy): ReservationState {
  switch (operation) {
    case "earmark":
      return "earmarked";
    case "book":
      return policy.bookingFails(id) ? "book-failed" : "booked";
    case "release":
      return "released";
    case "reverse":
      return "reversed";
  }
}

/** Refusals by policy (out of stock, booking failed) are business answers: 409 but not anomalies. */
function answer(state: ReservationState): LedgerAnswer {
  if (state === "rejected") return { ok: false, status: 409, state, message: "out of stock" };
  if (state === "book-failed") return { ok: false, status: 409, state, message: "booking failed" };
  return { ok: true, status: 200, state };
}

/** A stable share of ids: the same id always gets the same answer, whichever request asks. */
export function inShare(id: string, salt: string, share: number): boolean {
  let hash = 2166136261;
  for (const char of `${salt}:${id}`) {
    hash ^= char.charCodeAt(0);
    hash = Math.imul(hash, 16777619);
  }
  return (hash >>> 0) / 2 ** 32 < share;
}
