/**
 * The components the simulator can run (`npm run sim -- --component <name> --seeds N [--seed S]`).
 * Each entry runs one seed and returns the violations it found (empty = pass). A component registers
 * itself here with one line.
 */

export interface SimRunResult {
  readonly seed: number;
  readonly violations: readonly string[];
  /** A short summary for the log line of the seed. */
  readonly summary: string;
}

export interface SimRunOptions {
  readonly verbose: boolean;
  /**
   * Resolves once every pending microtask has run (the runner's port: `setImmediate` in Node). A
   * component whose code under test is async (Promises) awaits it after every event, so that what an
   * event set off settles before the next event runs, the same way at every replay. Pure code has no
   * other way to let promise reactions run: it has no timers of its own.
   */
  readonly settle: () => Promise<void>;
}

export interface SimComponent {
  readonly description: string;
  run(seed: number, options: SimRunOptions): SimRunResult | Promise<SimRunResult>;
}

export const SIM_COMPONENTS = new Map<string, SimComponent>();
