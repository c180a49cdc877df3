/** Registers the metadata-store simulation as `--component metadata`. */

import { SIM_COMPONENTS } from "../components.js";
import { runMetadataSimulation } from "./simulation.js";

SIM_COMPONENTS.set("metadata", {
  description:
    "replicated metadata store: Raft group + CAS clients under crashes, partitions, membership changes",
  run: (seed, options) => runMetadataSimulation(seed, { verbose: options.verbose }),
});
