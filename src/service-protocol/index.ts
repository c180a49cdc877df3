/**
 * Restate's service protocol on the wire: message type ids and the framing of messages on an
 * invocation stream (versions 5 and 6).
 */

export { FRAME_HEADER_BYTES, FrameDecoder, FrameTooLarge, encodeFrame } from "./framing.js";
export type { Frame } from "./framing.js";
export {
  MessageType,
  entryShortName,
  isCommand,
  isCustomEntry,
  isNotification,
  journalEntryTypeName,
} from "./message_types.js";
