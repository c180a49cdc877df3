/**
 * The admin API (port 9070): deployments, services, invocations, state, subscriptions, SQL,
 * health and status, with Restate's paths, versions and error bodies.
 */

export { AdminApi } from "./admin_http.js";
