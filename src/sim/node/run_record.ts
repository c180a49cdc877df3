/**
 * What the node and cluster simulations share to drive and record one run: the loop that runs the
 * scheduler's events and settles the promise reactions each sets off, and the record of the run
 * (its violations, the digest that a replay of the seed must reproduce, the events kept with
 * --verbose, the loggers of the simulated processes).
 */

import { Sha256, toHex, utf8 } from "../../core/index.js";
import type { Logger } from "../../platform/index.js";
import type { SimScheduler } from "../scheduler.js";
import { safeJson } from "./workload.js";

export class RunRecord {
  readonly violations: string[] = [];
  private readonly digest = new Sha256();
  private readonly events: string[] = [];

  constructor(
    private readonly scheduler: SimScheduler,
    private readonly verbose: boolean,
  ) {}

  violation(message: string): void {
    this.violations.push(`t=${this.scheduler.now}ms ${message}`);
    this.trace(`VIOLATION ${message}`);
  }

  /** An event of the run: into the digest, and kept with --verbose. */
  trace(text: string): void {
    const line = `t=${this.scheduler.now} ${text}`;
    this.digest.update(utf8(`${line}\n`));
    if (this.verbose) this.events.push(line);
  }

  /** Kept with --verbose only; not part of the digest. */
  note(text: string): void {
    if (this.verbose) this.events.push(`t=${this.scheduler.now} ${text}`);
  }

  /** Bytes exchanged with the simulated service, into the digest. */
  traffic(mark: Uint8Array, bytes: Uint8Array): void {
    this.digest.update(mark).update(bytes);
  }

  /** The digest, shortened; prints the kept events with --verbose. */
  finish(): string {
    if (this.verbose) for (const line of this.events) console.log(`  | ${line}`);
    return toHex(this.digest.digest()).slice(0, 16);
  }

  /** A simulated process's logger: an error is a violation, info and warn are notes. */
  logger(prefix: string, alive: () => boolean): Logger {
    const log =
      (level: "debug" | "info" | "warn" | "error") =>
      (message: string, fields?: Record<string, unknown>): void => {
        if (!alive()) return;
        const text = `${prefix} ${level}: ${message} ${safeJson(fields)}`;
        if (level === "error") this.violation(text);
        else if (level !== "debug") this.note(text);
      };
    return { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
  }
}

export interface DriverOptions {
  /** The runner's port: resolves once every pending microtask has run (components.ts). */
  readonly settle: () => Promise<void>;
  readonly stepsMax: number;
  /** Runs after every event (checks that hold at every moment). */
  readonly afterStep?: () => void;
  /** Stops driving at the first violation. */
  readonly stopOnViolation?: boolean;
}

export class Driver {
  steps = 0;

  constructor(
    private readonly scheduler: SimScheduler,
    private readonly record: RunRecord,
    private readonly options: DriverOptions,
  ) {}

  /** Runs events, settling promise reactions after each, until `done` or nothing is due by `untilMs`. */
  async until(done: () => boolean, untilMs: number): Promise<boolean> {
    const { settle, stepsMax, afterStep, stopOnViolation } = this.options;
    await settle();
    while (!done()) {
      const next = this.scheduler.peekTime();
      if (next === undefined || next > untilMs) return done();
      if (++this.steps > stepsMax) {
        this.record.violation(`more than ${stepsMax} events: the run does not settle`);
        return false;
      }
      this.scheduler.step();
      await settle();
      afterStep?.();
      if (stopOnViolation === true && this.record.violations.length > 0) return false;
    }
    return true;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.scheduler.schedule(ms, resolve));
  }
}
