/** librdkafka client options as Keel handles them for Kafka clusters and subscriptions. */

/** Client options that reach a broker: librdkafka needs one of them. */
export function hasBrokerProperty(properties: Readonly<Record<string, string>>): boolean {
  return (
    properties["bootstrap.servers"] !== undefined ||
    properties["metadata.broker.list"] !== undefined
  );
}

/**
 * Properties shown as `***` by the admin API (credentials, keys and paths that reveal them), as
 * Restate redacts them.
 */
export function isSensitiveKafkaProperty(key: string): boolean {
  const lower = key.toLowerCase();
  return [
    "password",
    "secret",
    "passphrase",
    "sasl.username",
    "sasl.jaas.config",
    "sasl.oauthbearer.config",
    "token.endpoint.url",
    "ssl.key.location",
    "ssl.key.pem",
    "keystore.location",
    "truststore.location",
    "sasl.oauthbearer.assertion.private.key",
  ].some((part) => lower.includes(part));
}

export function redactKafkaProperties(
  properties: Readonly<Record<string, string>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(properties))
    out[key] = isSensitiveKafkaProperty(key) ? "***" : value;
  return out;
}
