/**
 * Binary encodings shared by Keel's own protocols and formats: a bounds-checked byte reader and
 * writer (node messages, log-store entries, Raft messages) and the helper that encodes generated
 * protobuf messages (durable records, the service protocol).
 */

export { ByteReader, ByteWriter, DecodeError } from "./binary.js";
export { encodeMessage } from "./proto_encode.js";
export {
  FILE_HEADER_BYTES,
  FRAME_HEADER_BYTES,
  encodeFrame,
  fileHeader,
  fileHeaderMatches,
  findIntactFrame,
  frameHeader,
  judgeLastFile,
  parseFrames,
} from "./frames.js";
export type { LastFileJudgement, RecoveredFrame } from "./frames.js";
