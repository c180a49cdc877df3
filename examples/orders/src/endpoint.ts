/**
 * One region's service endpoint: the order services over HTTP/2 on loopback.
 *   node endpoint.js --port P --inventory http://127.0.0.1:I
 */
import "../../../src/testing/polyfill.js";
import { createServer } from "node:http2";
import { parseArgs } from "node:util";
import * as restate from "@restatedev/restate-sdk";
import { orderServices } from "./services.js";

const { values } = parseArgs({
  options: { port: { type: "string", default: "0" }, inventory: { type: "string" } },
});
if (values.inventory === undefined) throw new Error("--inventory URL is required");
const endpoint = orderServices(values.inventory).reduce(
  (e, service) => e.bind(service),
  restate.endpoint(),
);
const server = createServer(endpoint.http2Handler());
server.listen(Number(values.port), "127.0.0.1", () => {
  const address = server.address();
  if (address !== null && typeof address === "object")
    console.log(`endpoint listening on ${address.port}`);
});
