/** Registers the whole-node simulation as `--component node`. */

import { SIM_COMPONENTS } from "../components.js";
import { runNodeSimulation } from "./simulation.js";

SIM_COMPONENTS.set("node", {
  description:
    "a whole node (ingress operations, log, partition processors, invoker, a simulated SDK) under crashes, restarts and cut streams",
  run: (seed, options) =>
    runNodeSimulation(seed, { verbose: options.verbose, settle: options.settle }),
});
