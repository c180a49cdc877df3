/**
 * Effects shared by the client-side machines of the replicated loglet (sequencer, tail coordinator,
 * reader, broadcasts). A machine asks for a request to be sent with a token of its own; the driver
 * sends it over the node transport and hands the outcome back with the same token. Matching a
 * response to its request is the transport's job, so messages need no request ids of their own.
 */

import type { NodeId } from "../../core/index.js";
import type { LogServerNotice, LogletMessage } from "./messages.js";

export interface RequestEffect<Q extends LogletMessage = LogletMessage> {
  readonly kind: "request";
  readonly to: NodeId;
  readonly token: number;
  readonly request: Q;
  readonly timeoutTicks: number;
}

export interface NoticeEffect {
  readonly kind: "notice";
  readonly to: NodeId;
  readonly notice: LogServerNotice;
}

/** What came back for a request: the decoded response, or why none did. */
export type Outcome =
  | { readonly ok: true; readonly response: LogletMessage }
  | { readonly ok: false; readonly error: "timeout" | "unavailable" | "malformed" };

/** Narrows an outcome to the expected response kind; anything else counts as malformed. */
export function expectResponse<K extends LogletMessage["kind"]>(
  outcome: Outcome,
  kind: K,
): Extract<LogletMessage, { kind: K }> | undefined {
  if (!outcome.ok || outcome.response.kind !== kind) return undefined;
  return outcome.response as Extract<LogletMessage, { kind: K }>;
}
