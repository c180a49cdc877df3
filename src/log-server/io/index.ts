/**
 * The log server's store on segment files, rebuilt at start from every frame.
 */

export { FileLogServerStore } from "./file_log_store.js";
