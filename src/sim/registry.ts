/**
 * Imports every simulated component so that it registers itself in SIM_COMPONENTS. One import per
 * component.
 */
import "./loglet_sim.js";
import "./metadata/component.js";
import "./node/component.js";
import "./cluster/component.js";
