/**
 * The HTTP ingress's request targets, read as Restate reads them, and its errors; Kafka records as
 * invocations. The HTTP server and the Kafka consumers are
 * in io/.
 */

export { decodeKeySegment, parseIngressTarget, queryParam } from "./paths.js";
export type { IngressTarget } from "./paths.js";
export {
  IngressError,
  badRestatePath,
  badServicePath,
  failureBody,
  mediaType,
  methodNotAllowed,
  serviceNotFound,
} from "./errors.js";
export { kafkaProducer, recordInvocation } from "./kafka_records.js";
export type { KafkaRecord, RecordInvocation } from "./kafka_records.js";
