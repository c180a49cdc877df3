/**
 * What the node's thread and the endpoint worker thread tell each other (see
 * worker_endpoint_transport.ts). Both sides send arrays: everything one side has for the other in
 * one event-loop turn goes as one message, so a busy turn costs one structured clone, not dozens.
 */

import type { EndpointRequest } from "../index.js";

export type ToWorker =
  | { readonly kind: "open"; readonly stream: number; readonly request: EndpointRequest }
  /** Request bytes, in order (several parts when large buffers move instead of being joined). */
  | { readonly kind: "write"; readonly stream: number; readonly parts: readonly Uint8Array[] }
  | { readonly kind: "end"; readonly stream: number }
  | { readonly kind: "abort"; readonly stream: number }
  | { readonly kind: "close" };

export interface WorkerErrorDescription {
  readonly message: string;
  readonly code?: string;
}

export type FromWorker =
  | {
      readonly kind: "response";
      readonly stream: number;
      readonly status: number;
      readonly headers: Record<string, string | string[] | undefined>;
    }
  | { readonly kind: "data"; readonly stream: number; readonly bytes: Uint8Array }
  | { readonly kind: "end"; readonly stream: number }
  | { readonly kind: "error"; readonly stream: number; readonly error: WorkerErrorDescription }
  | { readonly kind: "closed" };
