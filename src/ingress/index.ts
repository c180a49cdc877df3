/**
 * The HTTP ingress's request targets, read as Restate reads them, and its errors. The server is
 * in io/.
 */

export { decodeKeySegment, parseIngressTarget, queryParam } from "./paths.js";
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
