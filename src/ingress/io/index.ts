/**
 * The HTTP ingress (port 8080): Restate's URL shapes, headers, status codes and error bodies
 * for calls, sends, attach and output, awakeables and health.
 */

export { HttpIngress } from "./ingress_http.js";
