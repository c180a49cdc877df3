/**
 * `keel/testing`: an embedded Keel for tests of services written with the official Restate SDK,
 * shaped like `@restatedev/restate-sdk-testcontainers` (see docs/testing.md).
 */

import "./polyfill.js";

export { RestateTestEnvironment, type TestEnvironmentOptions } from "./environment.js";
export { RestateTestCluster, type TestClusterOptions } from "./cluster.js";
export { StateProxy } from "./state.js";
export { EnvironmentClock, type TestDuration } from "./timers.js";
export type { LogLevel } from "../platform/io/index.js";
