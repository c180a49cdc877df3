/**
 * The inventory API: a small HTTP service outside Keel that the order services call inside `ctx.run`.
 * It keeps the ledger in memory (it stands for a third party's system and is never killed), refuses a
 * configurable share of earmarks and bookings, and fails a share of all requests with 503 before doing
 * anything, so the services' retries are exercised.
 *
 *   node inventory.js --port P [--out-of-stock 0.05] [--booking-failures 0.05] [--unavailable 0.02]
 */
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { Ledger, inShare, type Operation } from "./ledger.js";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    "out-of-stock": { type: "string", default: "0.05" },
    "booking-failures": { type: "string", default: "0.05" },
    unavailable: { type: "string", default: "0.02" },
  },
});
const outOfStock = Number(values["out-of-stock"]);
const bookingFailures = Number(values["booking-failures"]);
const unavailable = Number(values.unavailable);

const ledger = new Ledger({
  outOfStock: (id) => inShare(id, "stock", outOfStock),
  bookingFails: (id) => inShare(id, "booking", bookingFailures),
});
const OPERATIONS = new Set<Operation>(["earmark", "book", "release", "reverse"]);
let requests = 0;
let unavailableAnswers = 0;

const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", () => {
    const reply = (status: number, body: unknown): void => {
      response.writeHead(status, { "content-type": "application/json" });
      response.end(JSON.stringify(body));
    };
    const url = new URL(request.url ?? "/", "http://inventory");
    if (request.method === "GET" && url.pathname === "/ledger") {
      reply(200, {
        reservations: [...ledger.reservations.values()],
        anomalies: ledger.anomalies,
        requests,
        unavailableAnswers,
      });
      return;
    }
    const match = /^\/reservations\/([^/]+)\/([a-z]+)$/.exec(url.pathname);
    if (request.method !== "POST" || match === null || !OPERATIONS.has(match[2] as Operation)) {
      reply(404, { code: "not_found", message: `no route ${request.method} ${url.pathname}` });
      return;
    }
    requests++;
    if (Math.random() < unavailable) {
      unavailableAnswers++;
      reply(503, { code: "unavailable", message: "the inventory is busy, try again" });
      return;
    }
    let body: { order?: unknown; item?: unknown; sku?: unknown };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as typeof body;
    } catch {
      reply(400, { code: "bad_request", message: "expected a JSON body" });
      return;
    }
    if (
      typeof body.order !== "string" ||
      typeof body.item !== "string" ||
      typeof body.sku !== "string"
    ) {
      reply(400, { code: "bad_request", message: "expected order, item and sku strings" });
      return;
    }
    const answer = ledger.apply(
      match[2] as Operation,
      decodeURIComponent(match[1]!),
      body.order,
      body.item,
      body.sku,
    );
    reply(answer.status, answer);
  });
});
server.listen(Number(values.port), "127.0.0.1", () => {
  const address = server.address();
  if (address !== null && typeof address === "object")
    console.log(`inventory listening on ${address.port}`);
});
