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

export interface SimComponent {
  readonly description: string;
  run(seed: number, options: { verbose: boolean }): SimRunResult;
}

export const SIM_COMPONENTS = new Map<string, SimComponent>();
