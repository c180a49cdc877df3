/**
 * Deployments, services and handlers: manifests from endpoint discovery, registration with
 * revisions, retry policies and retention, the OpenAPI of a service, the admin API's JSON views,
 * and Kafka subscriptions with the clusters they name.
 */

export { parseManifest } from "./manifest.js";
export type { EndpointManifest } from "./manifest.js";
export { serviceOpenApi } from "./openapi.js";
export {
  findDeployment,
  modifyService,
  registerDeployment,
  removeDeployment,
  updateDeployment,
} from "./registration.js";
export type { RegistrationResult, TimeoutDefaults } from "./registration.js";
export { deploymentJson, handlerJson, serviceJson, timestampNanos } from "./render.js";
export {
  EMPTY_SCHEMA,
  PROTOCOL_VERSION_MAX,
  PROTOCOL_VERSION_MIN,
  SCHEMA_KEY,
  SchemaIndex,
  handlerTypeOf,
  targetOf,
  retentionOf,
  retryPolicyOf,
} from "./schema.js";
export type { HandlerSchema, RetryPolicy, Schema, ServiceSchema } from "./schema.js";
export {
  addSubscription,
  consumerOptions,
  isKafkaTopicName,
  removeSubscription,
  subscriptionJson,
  subscriptionOptions,
  subscriptionSink,
  subscriptionSource,
  subscriptionsOf,
} from "./subscriptions.js";
export type { SubscriptionSchema } from "./subscriptions.js";
export {
  addKafkaCluster,
  kafkaClusterNameProblem,
  kafkaClusterSubscriptions,
  listKafkaClusters,
  registeredKafkaClusters,
  removeKafkaCluster,
  replaceKafkaClusterProperties,
  resolveKafkaCluster,
} from "./kafka_clusters.js";
export { hasBrokerProperty, redactKafkaProperties } from "./kafka_options.js";
export type {
  KafkaCluster,
  RegisteredKafkaCluster,
  ResolvedKafkaCluster,
} from "./kafka_clusters.js";
