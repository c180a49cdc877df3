/**
 * Ports of the platform: how pure drivers reach time, randomness and logging. Production implements
 * them in `io/system.ts`; the simulator (src/sim) and the in-memory test harness deterministically.
 * Each subsystem's own ports live with it: the node transport in src/net/transport.ts, the
 * log-server store in src/log-server/store.ts, the partition store in src/partition-store/store.ts,
 * the service endpoints in src/invoker/endpoint.ts.
 *
 * Contracts:
 * - `Clock.nowMs` is wall-clock milliseconds since the Unix epoch (record timestamps and durable
 *   timers need it); drivers also use it for durations. `Clock.setTimer` runs the callback once, later
 *   (never synchronously), unless cancelled through the returned function. `Clock.defer` runs it once
 *   the current synchronous work is done (a microtask in a process, the next event at the same virtual
 *   time in the simulator): work issued together is handled together.
 */

export type Cancel = () => void;

export interface Clock {
  nowMs(): number;
  setTimer(delayMs: number, run: () => void): Cancel;
  defer(run: () => void): void;
  /**
   * Runs `run` once the I/O callbacks already due have run (Node's check phase): for work nobody
   * waits for, so that it does not hold up the acknowledgements and writes of the same turn.
   */
  deferAfterIo(run: () => void): void;
}

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /**
   * The logger of one part of the node (`invoker`, `partition`, ...), whose level an operator may
   * set apart from the rest; a logger without parts (a test's, the simulator's) omits it.
   */
  forModule?(module: string): Logger;
}

/** Random bytes for new ids and seeds (crypto at the edge, a seeded PRNG in simulation). */
export interface Entropy {
  fill(target: Uint8Array): void;
}

export const NO_LOG: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
