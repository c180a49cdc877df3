/**
 * The HTTP ingress (port 8080): Restate's URL shapes, headers, status codes and error bodies
 * for calls, sends, attach and output, awakeables and health; the Kafka ingress (subscriptions).
 */

export { HttpIngress } from "./ingress_http.js";
export { KafkaIngress } from "./kafka_ingress.js";
export type { SubscriptionLag, SubscriptionStatus } from "./kafka_ingress.js";
