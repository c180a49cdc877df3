import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { limits } from "../../core/limits.js";
import { ConfigError, loadConfig } from "./config.js";

describe("keel-server configuration", () => {
  it("defaults the invoker's bounds to the limits", () => {
    const { config } = loadConfig([], {});
    assert.equal(config.concurrentInvocationsLimit, limits.invokerConcurrencyMax);
    assert.equal(config.oneWayStartingLimit, limits.invokerBackgroundStartingMax);
  });

  it("reads the queue bound that pauses Kafka subscriptions from a flag, the environment or the file", () => {
    assert.equal(
      loadConfig([], {}).config.kafkaPauseQueuedInvocations,
      limits.kafkaPauseQueuedInvocations,
    );
    assert.equal(
      loadConfig(["--kafka-pause-queued-invocations", "20"], {}).config.kafkaPauseQueuedInvocations,
      20,
    );
    assert.equal(
      loadConfig([], { KEEL_KAFKA_PAUSE_QUEUED_INVOCATIONS: "100000" }).config
        .kafkaPauseQueuedInvocations,
      100_000,
    );
    const dir = mkdtempSync(join(tmpdir(), "keel-config-"));
    try {
      const file = join(dir, "keel.toml");
      writeFileSync(file, "kafka-pause-queued-invocations = 0\n");
      assert.equal(loadConfig(["--config", file], {}).config.kafkaPauseQueuedInvocations, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.throws(
      () => loadConfig(["--kafka-pause-queued-invocations", "many"], {}),
      (error: unknown) =>
        error instanceof ConfigError &&
        /kafka-pause-queued-invocations \(from --kafka-pause-queued-invocations\): expected an integer/.test(
          error.message,
        ),
    );
  });

  it("reads the default inactivity and abort timeouts as durations, 0 included", () => {
    const defaults = loadConfig([], {}).config;
    assert.equal(defaults.inactivityTimeoutMs, limits.inactivityTimeoutMsDefault);
    assert.equal(defaults.abortTimeoutMs, limits.abortTimeoutMsDefault);
    const zero = loadConfig(["--inactivity-timeout", "0s"], { KEEL_ABORT_TIMEOUT: "PT1M" }).config;
    assert.equal(zero.inactivityTimeoutMs, 0);
    assert.equal(zero.abortTimeoutMs, 60_000);
    assert.throws(
      () => loadConfig(["--abort-timeout", "soon"], {}),
      (error: unknown) =>
        error instanceof ConfigError &&
        /abort-timeout \(from --abort-timeout\): expected a duration/.test(error.message),
    );
  });

  it("reads the observability settings: log format, metrics off, tracing endpoint", () => {
    const defaults = loadConfig([], {}).config;
    assert.equal(defaults.logFormat, "text");
    assert.equal(defaults.disableMetrics, false);
    assert.equal(defaults.tracingEndpoint, "");
    const set = loadConfig(["--log-format", "json", "--disable-metrics"], {
      KEEL_TRACING_ENDPOINT: "http://collector:4318",
    }).config;
    assert.equal(set.logFormat, "json");
    assert.equal(set.disableMetrics, true);
    assert.equal(set.tracingEndpoint, "http://collector:4318");
    assert.throws(
      () => loadConfig(["--log-format", "yaml"], {}),
      (error: unknown) =>
        error instanceof ConfigError &&
        /log-format \(from --log-format\): expected text or json, found "yaml"/.test(error.message),
    );
    assert.throws(
      () => loadConfig([], { KEEL_TRACING_ENDPOINT: "collector:4318" }),
      (error: unknown) =>
        error instanceof ConfigError &&
        /tracing-endpoint \(from KEEL_TRACING_ENDPOINT\): expected an http:\/\/ or https:\/\/ URL/.test(
          error.message,
        ),
    );
  });

  it("takes a setting from a flag over the environment over the file", () => {
    const dir = mkdtempSync(join(tmpdir(), "keel-config-"));
    try {
      const file = join(dir, "keel.toml");
      writeFileSync(file, "concurrent-invocations-limit = 300\none-way-starting-limit = 16\n");
      const fromFile = loadConfig(["--config", file], {}).config;
      assert.equal(fromFile.concurrentInvocationsLimit, 300);
      assert.equal(fromFile.oneWayStartingLimit, 16);
      const env = { KEEL_CONCURRENT_INVOCATIONS_LIMIT: "200" };
      assert.equal(loadConfig(["--config", file], env).config.concurrentInvocationsLimit, 200);
      const flagged = loadConfig(
        [
          "--config",
          file,
          "--concurrent-invocations-limit",
          "100",
          "--one-way-starting-limit",
          "8",
        ],
        env,
      ).config;
      assert.equal(flagged.concurrentInvocationsLimit, 100);
      assert.equal(flagged.oneWayStartingLimit, 8);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads Kafka clusters as Restate names them, passing further client options through", () => {
    const dir = mkdtempSync(join(tmpdir(), "keel-config-"));
    try {
      const file = join(dir, "keel.toml");
      writeFileSync(
        file,
        [
          "[[ingress.kafka-clusters]]",
          'name = "my-cluster"',
          'brokers = ["127.0.0.1:9092", "127.0.0.1:9093"]',
          '"api.version.request" = "false"',
          "[[ingress.kafka-clusters]]",
          'name = "other"',
          'brokers = ["kafka:9092"]',
          "",
        ].join("\n"),
      );
      assert.deepEqual(loadConfig(["--config", file], {}).config.kafkaClusters, [
        {
          name: "my-cluster",
          properties: {
            "metadata.broker.list": "127.0.0.1:9092,127.0.0.1:9093",
            "api.version.request": "false",
          },
        },
        { name: "other", properties: { "metadata.broker.list": "kafka:9092" } },
      ]);
      assert.deepEqual(loadConfig([], {}).config.kafkaClusters ?? [], []);
      const refused = (toml: string, message: RegExp): void => {
        writeFileSync(file, toml);
        assert.throws(
          () => loadConfig(["--config", file], {}),
          (error: unknown) => {
            assert.ok(error instanceof ConfigError);
            assert.match(error.message, message);
            return true;
          },
        );
      };
      refused('[[ingress.kafka-clusters]]\nname = "a"\n', /kafka-clusters\[0\]\.brokers/);
      refused(
        '[[ingress.kafka-clusters]]\nname = "a"\nbrokers = ["b:1"]\n"fetch.wait.max.ms" = 5\n',
        /fetch\.wait\.max\.ms: client options are strings/,
      );
      refused("[ingress]\nhttp-port = 1\n", /unknown setting 'ingress\.http-port'/);
      refused(
        '[[ingress.kafka-clusters]]\nname = "a"\nbrokers = ["b:1"]\n[[ingress.kafka-clusters]]\nname = "a"\nbrokers = ["c:1"]\n',
        /named twice/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("names the setting, the source and what is allowed for a bad value", () => {
    assert.throws(
      () => loadConfig(["--one-way-starting-limit", "0"], {}),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message ===
          'one-way-starting-limit (from --one-way-starting-limit): expected an integer from 1 to 65535, found "0"',
    );
    assert.throws(
      () => loadConfig([], { KEEL_CONCURRENT_INVOCATIONS_LIMIT: "many" }),
      /concurrent-invocations-limit \(from KEEL_CONCURRENT_INVOCATIONS_LIMIT\): expected an integer/,
    );
  });

  it("lets the ingress body limit go down but not past the message limit", () => {
    assert.equal(
      loadConfig(["--ingress-body-limit", "1048576"], {}).config.ingressBodyBytesMax,
      1048576,
    );
    assert.throws(
      () => loadConfig(["--ingress-body-limit", String(limits.messageBytesMax + 1)], {}),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message.startsWith(`ingress-body-limit: at most ${limits.messageBytesMax} bytes`),
    );
  });

  it("reads access tokens from a file or the environment, never both, and security files from every source", () => {
    const dir = mkdtempSync(join(tmpdir(), "keel-config-"));
    try {
      const tokenFile = join(dir, "token");
      writeFileSync(tokenFile, "s3cret-token\n");
      const fromFile = loadConfig(["--admin-token-file", tokenFile], {}).config;
      assert.equal(fromFile.adminToken, "s3cret-token");
      assert.equal(fromFile.ingressToken, undefined);
      const fromEnv = loadConfig([], { KEEL_INGRESS_TOKEN: "t0ken" }).config;
      assert.equal(fromEnv.ingressToken, "t0ken");
      assert.equal(fromEnv.adminToken, undefined);
      assert.throws(
        () => loadConfig(["--ingress-token-file", tokenFile], { KEEL_INGRESS_TOKEN: "other" }),
        /ingress-token-file and KEEL_INGRESS_TOKEN are both set/,
      );
      assert.throws(
        () => loadConfig(["--admin-token-file", join(dir, "missing")], {}),
        /admin-token-file: cannot read .*ENOENT/,
      );
      writeFileSync(tokenFile, "two words\n");
      assert.throws(
        () => loadConfig(["--admin-token-file", tokenFile], {}),
        /expected a token of visible ASCII characters without spaces/,
      );
      const toml = join(dir, "keel.toml");
      writeFileSync(toml, 'request-identity-private-key-pem-file = "/keys/identity.pem"\n');
      const fromToml = loadConfig(["--config", toml], {}).config;
      assert.equal(fromToml.requestIdentityPrivateKeyPemFile, "/keys/identity.pem");
      const fromVariable = loadConfig([], {
        KEEL_REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE: "/k.pem",
      }).config;
      assert.equal(fromVariable.requestIdentityPrivateKeyPemFile, "/k.pem");
      assert.throws(
        () => loadConfig(["--tls-cert-file", "/c.pem"], {}),
        /tls-cert-file and tls-key-file go together, found only tls-cert-file/,
      );
      const cluster = ["--metadata-servers", "127.0.0.1:5122"];
      const nodeTls = loadConfig(
        [...cluster, "--node-tls-cert-file", "/n.crt", "--node-tls-key-file", "/n.key"],
        { KEEL_NODE_TLS_CA_FILE: "/ca.crt" },
      ).config;
      assert.deepEqual(
        [nodeTls.nodeTlsCertFile, nodeTls.nodeTlsKeyFile, nodeTls.nodeTlsCaFile],
        ["/n.crt", "/n.key", "/ca.crt"],
      );
      assert.throws(
        () => loadConfig([...cluster, "--node-tls-cert-file", "/n.crt"], {}),
        /node-tls-cert-file, node-tls-key-file and node-tls-ca-file go together/,
      );
      assert.throws(
        () =>
          loadConfig(
            [
              "--node-tls-cert-file",
              "/n.crt",
              "--node-tls-key-file",
              "/k",
              "--node-tls-ca-file",
              "/c",
            ],
            {},
          ),
        /TLS on the node port is for cluster mode/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
