/**
 * The deterministic simulator: a seeded scheduler, network and disk, twins of the ports, the
 * loglet and metadata clusters under faults, and the checkers (no acknowledged record lost, Raft
 * safety, linearizability).
 */

// Registers every simulation component (loglet, metadata, node) in SIM_COMPONENTS.
import "./registry.js";

export { SIM_COMPONENTS } from "./components.js";
