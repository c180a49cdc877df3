import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KeelNode } from "../../node/node.js";
import { NO_LOG } from "../../platform/ports.js";
import { AdminApi } from "./admin_http.js";
import { ADMIN_OPERATIONS } from "../openapi.js";

describe("admin API OpenAPI document", () => {
  it("lists exactly the routes the router serves", () => {
    const api = new AdminApi({} as KeelNode, NO_LOG, { ingressUrl: "http://127.0.0.1:8080/" });
    const normalize = (route: string): string => route.replace(/\{[a-z_]+\}/g, "{}");
    const served = api.describeRoutes().map(normalize).sort();
    const documented = ADMIN_OPERATIONS.map((op) =>
      normalize(`${op.method.toUpperCase()} ${op.path}`),
    ).sort();
    assert.deepEqual(documented, served);
  });
});
