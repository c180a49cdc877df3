/**
 * The partition state machine: applying a record to the partition's tables yields the same
 * store and the same actions on every replica. Invocation lifecycle, journal commands, operator
 * commands (pause, resume, restart, state edits), and the actions a leader carries out.
 */

export type { Action, Outcome } from "./actions.js";
export { isKeyed, objectOf, targetRefOf } from "./lifecycle.js";
export { PartitionStateMachine } from "./state_machine.js";
export { relatedCompletionIds } from "./operator_commands.js";
