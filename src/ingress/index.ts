/**
 * The HTTP ingress's request targets, read as Restate reads them, and its errors. The server is
 * in io/.
 */

export {
  INGRESS_HEAD_BYTES_MAX,
  INGRESS_TARGET_BYTES_MAX,
  IngressError,
  decodeKeySegment,
  parseIngressTarget,
  queryParam,
} from "./paths.js";
export type { IngressTarget } from "./paths.js";
