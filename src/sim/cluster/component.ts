/** Registers the whole-cluster simulation as `--component cluster`. */

import { SIM_COMPONENTS } from "../components.js";
import { runClusterSimulation } from "./simulation.js";

SIM_COMPONENTS.set("cluster", {
  description:
    "3-5 nodes (metadata Raft, replicated loglets, controller, partition processors, invoker, a simulated SDK) under crashes, restarts, network cuts, lost, delayed and duplicated messages",
  run: (seed, options) =>
    runClusterSimulation(seed, { verbose: options.verbose, settle: options.settle }),
});
