/**
 * SQL on DuckDB, in a child process with bounds on time, rows and bytes, and the JSON and Arrow
 * answers.
 */

export * from "./engine.js";
export * from "./render.js";
