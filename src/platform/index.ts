/**
 * How pure drivers reach time, randomness and logging (the Clock, Entropy and Logger
 * ports) and their in-memory twins for tests: a manual clock and a counting entropy source.
 */

export type { Cancel, Clock, Entropy, Logger } from "./ports.js";
export { NO_LOG } from "./ports.js";
export { ManualClock, counterEntropy } from "./memory_ports.js";
