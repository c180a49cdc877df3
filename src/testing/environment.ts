/**
 * An embedded Keel for users' tests. `RestateTestEnvironment.start({ services })` serves the services
 * with the official SDK on a free loopback port, starts a Keel node in the same process on free
 * ports over a temporary data directory, registers the deployment and waits until every partition
 * is led; `stop()` releases all of it (ports, files, threads, timers). Its shape is that of
 * `@restatedev/restate-sdk-testcontainers`, so moving a test suite over is a change of import.
 *
 * The node's clock is a `TestClock` the test can move forward (`env.clock`); the handlers keep the
 * process's clock, and `HandlerClockTransport` reconciles the times the SDK computes from it.
 *
 * Nothing here may exit or otherwise take over the user's process: a broken invariant in the node
 * closes its edges (calls then fail fast) and is thrown by `stop()`.
 */

import "./polyfill.js";
import {
  createEndpointHandler,
  type EndpointOptions,
  type TypedState,
  type UntypedState,
  type VirtualObjectDefinition,
  type WorkflowDefinition,
} from "@restatedev/restate-sdk";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Http2Server, type Http2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  SERVER_CONFIG_DEFAULTS,
  startNodeServer,
  type RunningNodeServer,
} from "../node/io/index.js";
import { consoleLogger, type LogLevel } from "../platform/io/index.js";
import { describeError, limits } from "../core/index.js";
import { TestClock } from "./clock.js";
import { HandlerClockTransport } from "./handler_clock.js";
import { StateProxy } from "./state.js";
import { EnvironmentClock } from "./timers.js";

export interface TestEnvironmentOptions extends EndpointOptions {
  /**
   * Every attempt runs in request/response mode: the SDK suspends at every await it cannot complete
   * from its journal, so each step replays what came before (finds handlers that are not
   * deterministic). The node's inactivity timeout is 0, as Restate's `alwaysReplay` sets it.
   */
  alwaysReplay?: boolean;
  /**
   * One attempt per invocation: a failure that would be retried kills the invocation instead. Set
   * as the default retry policy of the services served here (a service's or handler's own policy
   * wins, as over Restate's server default).
   */
  disableRetries?: boolean;
  /**
   * `"memory"` (default): the log is written without fsync (the data directory is temporary and
   * removed by `stop()`); `"disk"`: every append is made durable, as in production.
   */
  storage?: "memory" | "disk";
  /** Partitions of the node (default 4; production's default is 24). */
  partitions?: number;
  /** The node's log level on stderr (default `"warn"`). */
  logLevel?: LogLevel;
}

const PARTITIONS_DEFAULT = 4;
const NODE_NAME = "keel-test";
const READY_TIMEOUT_MS = 10_000;

export class RestateTestEnvironment {
  /** The node's clock: move it forward to fire sleeps, delayed calls and retention timers. */
  readonly clock: EnvironmentClock;
  private stopping: Promise<void> | undefined;
  private fatal: unknown;

  private constructor(
    private readonly endpoint: ServicesEndpoint,
    private readonly server: RunningNodeServer,
    private readonly testClock: TestClock,
    private readonly baseDir: string,
  ) {
    this.clock = new EnvironmentClock(testClock, server.node);
  }

  /** Starts an environment serving `options.services`; the first call can be made when it resolves. */
  static async start(options: TestEnvironmentOptions): Promise<RestateTestEnvironment> {
    const clock = new TestClock();
    const endpoint = await ServicesEndpoint.start(endpointOptions(options));
    let baseDir: string | undefined;
    let server: RunningNodeServer | undefined;
    let environment: RestateTestEnvironment | undefined;
    let fatalWhileStarting: unknown;
    try {
      baseDir = await mkdtemp(join(tmpdir(), "keel-testkit-"));
      const logLevel = options.logLevel ?? "warn";
      server = await startNodeServer({
        config: {
          ...SERVER_CONFIG_DEFAULTS,
          baseDir,
          nodeName: NODE_NAME,
          bindAddress: "127.0.0.1",
          ingressPort: 0,
          adminPort: 0,
          nodePort: 0,
          partitions: options.partitions ?? PARTITIONS_DEFAULT,
          logLevel,
          inactivityTimeoutMs:
            options.alwaysReplay === true ? 0 : limits.inactivityTimeoutMsDefault,
          unsafeNoFsync: (options.storage ?? "memory") === "memory",
          // A test's logs stay short: snapshots only when a test asks for one.
          snapshotDestination: `file://${join(baseDir, NODE_NAME, "snapshots")}`,
          snapshotIntervalRecords: 0,
          snapshotsRetained: 1,
          // Nobody scrapes a test's node, and process metrics would watch the user's test process.
          disableMetrics: true,
        },
        clock,
        logger: consoleLogger(logLevel, NODE_NAME),
        wrapTransport: (transport) => new HandlerClockTransport(transport, () => clock.offsetMs),
        onFatal: (error) => {
          if (environment === undefined) fatalWhileStarting ??= error;
          else environment.onFatal(error);
        },
      });
      if (fatalWhileStarting !== undefined) throw asError(fatalWhileStarting);
      environment = new RestateTestEnvironment(endpoint, server, clock, baseDir);
      await environment.whenReady();
      await register(server.adminUrl, endpoint.url);
      return environment;
    } catch (error) {
      await server?.stop().catch(() => undefined);
      await endpoint.close();
      clock.dispose();
      if (baseDir !== undefined) await rm(baseDir, { recursive: true, force: true });
      throw error;
    }
  }

  /** The ingress, e.g. for `clients.connect({ url: env.baseUrl() })`. */
  baseUrl(): string {
    return this.server.ingressUrl;
  }

  adminAPIBaseUrl(): string {
    return this.server.adminUrl;
  }

  /** Reads and writes the state of a virtual object's or workflow's key. */
  stateOf<TState extends TypedState = UntypedState>(
    service: VirtualObjectDefinition<string, unknown> | WorkflowDefinition<string, unknown>,
    key: string,
  ): StateProxy<TState> {
    return new StateProxy(this.server.adminUrl, service.name, key);
  }

  /**
   * Stops the node and the services' endpoint, removes the data directory and cancels the clock's
   * timers. Rejects with the node's fatal error if it had one (after cleaning up all the same).
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.server.stop();
      await this.endpoint.close();
      this.testClock.dispose();
      await rm(this.baseDir, { recursive: true, force: true });
    })();
    return this.stopping.then(() => {
      if (this.fatal !== undefined) throw asError(this.fatal);
    });
  }

  private onFatal(error: unknown): void {
    if (this.fatal !== undefined) return;
    this.fatal = error;
    this.server.logger.error("fatal error in the test node; it stops serving", {
      error: describeError(error),
    });
    void this.server.stop().catch(() => undefined);
  }

  private async whenReady(): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!this.server.node.isReady) {
      if (Date.now() > deadline)
        throw new Error(`the test node did not lead its partitions within ${READY_TIMEOUT_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

function asError(fatal: unknown): Error {
  return fatal instanceof Error
    ? fatal
    : new Error(`the test node failed: ${describeError(fatal)}`);
}

/** The SDK options of the endpoint, with the kit's own settings applied. */
export function endpointOptions(options: TestEnvironmentOptions): EndpointOptions {
  const { services, identityKeys, defaultServiceOptions, logger, journalValueCodecProvider } =
    options;
  const defaults =
    options.disableRetries === true
      ? {
          ...defaultServiceOptions,
          retryPolicy: { maxAttempts: 1, onMaxAttempts: "kill" as const },
        }
      : defaultServiceOptions;
  return {
    services,
    ...(identityKeys === undefined ? {} : { identityKeys }),
    ...(defaults === undefined ? {} : { defaultServiceOptions: defaults }),
    ...(logger === undefined ? {} : { logger }),
    ...(journalValueCodecProvider === undefined ? {} : { journalValueCodecProvider }),
  };
}

export async function register(adminUrl: string, endpointUrl: string): Promise<void> {
  const res = await fetch(`${adminUrl}/deployments`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ uri: endpointUrl }),
  });
  if (!res.ok)
    throw new Error(`registering the services at ${endpointUrl} failed: ${await res.text()}`);
}

/** The services served with the SDK over HTTP/2 on a free loopback port. */
export class ServicesEndpoint {
  private readonly sessions = new Set<Http2Session>();

  private constructor(
    private readonly server: Http2Server,
    readonly url: string,
  ) {
    server.on("session", (session) => {
      this.sessions.add(session);
      session.once("close", () => this.sessions.delete(session));
    });
  }

  static async start(options: EndpointOptions): Promise<ServicesEndpoint> {
    const server = createServer(createEndpointHandler(options));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    return new ServicesEndpoint(server, `http://127.0.0.1:${port}`);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const session of this.sessions) session.destroy();
    });
  }
}
