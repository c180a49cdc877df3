/**
 * The HTTP ingress's request targets, read as Restate reads them, and its errors. The server is
 * in io/.
 */

export {
  INGRESS_HEAD_BYTES_MAX,
  INGRESS_TARGET_BYTES_MAX,
  decodeKeySegment,
  parseIngressTarget,
  queryParam,
} from "./paths.js";
export type { IngressTarget } from "./paths.js";
export {
  IngressError,
  badRestatePath,
  badServicePath,
  failureBody,
  mediaType,
  methodNotAllowed,
  serviceNotFound,
} from "./errors.js";
