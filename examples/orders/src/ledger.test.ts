import assert from "node:assert/strict";
import { test } from "node:test";
import { Ledger, inShare } from "./ledger.js";

const everythingInStock = { outOfStock: () => false, bookingFails: () => false };

test("an earmark, a booking and a reversal each apply once; repeats are counted, not applied", () => {
  const ledger = new Ledger(everythingInStock);
  assert.equal(ledger.apply("earmark", "r1", "o1", "i1", "seat").state, "earmarked");
  assert.equal(ledger.apply("earmark", "r1", "o1", "i1", "seat").state, "earmarked");
  assert.equal(ledger.apply("book", "r1", "o1", "i1", "seat").state, "booked");
  assert.equal(ledger.apply("book", "r1", "o1", "i1", "seat").state, "booked");
  assert.equal(ledger.apply("reverse", "r1", "o1", "i1", "seat").state, "reversed");
  const reservation = ledger.reservations.get("r1")!;
  assert.deepEqual(reservation.applied, { earmark: 1, book: 1, reverse: 1 });
  assert.equal(reservation.duplicates, 2);
  assert.deepEqual(ledger.anomalies, []);
});

test("refusals by policy answer 409 and stay refusals when asked again", () => {
  const ledger = new Ledger({
    outOfStock: (id) => id === "gone",
    bookingFails: (id) => id === "late",
  });
  assert.equal(ledger.apply("earmark", "gone", "o1", "i1", "seat").status, 409);
  assert.equal(ledger.apply("earmark", "gone", "o1", "i1", "seat").status, 409);
  ledger.apply("earmark", "late", "o1", "i2", "seat");
  assert.equal(ledger.apply("book", "late", "o1", "i2", "seat").state, "book-failed");
  assert.equal(ledger.apply("book", "late", "o1", "i2", "seat").status, 409);
  assert.equal(ledger.apply("release", "late", "o1", "i2", "seat").state, "released");
  assert.deepEqual(ledger.anomalies, []);
});

test("transitions out of order are refused and recorded as anomalies", () => {
  const ledger = new Ledger(everythingInStock);
  assert.equal(ledger.apply("book", "r1", "o1", "i1", "seat").status, 409);
  ledger.apply("earmark", "r1", "o1", "i1", "seat");
  ledger.apply("book", "r1", "o1", "i1", "seat");
  assert.equal(ledger.apply("release", "r1", "o1", "i1", "seat").status, 409);
  assert.equal(ledger.apply("earmark", "r1", "o2", "i1", "seat").status, 409);
  assert.equal(ledger.anomalies.length, 3);
});

test("a share is stable per id and close to its size", () => {
  const ids = Array.from({ length: 10_000 }, (_, i) => `id-${i}`);
  const chosen = ids.filter((id) => inShare(id, "stock", 0.1)).length;
  assert.ok(chosen > 800 && chosen < 1200, `${chosen} of 10000`);
  assert.equal(inShare("id-7", "stock", 0.1), inShare("id-7", "stock", 0.1));
});
