/**
 * The handlers' clock and the node's, reconciled. The SDK computes the absolute times of a sleep's
 * wake-up (`SleepCommand.wake_up_time`) and of a delayed send (`OneWayCallCommand.invoke_time`) from
 * its own clock, `Date.now()` in the test process, while the node's clock (`TestClock`) may have been
 * moved ahead of it by the test. Between them sits this transport: it adds the clock's offset at the
 * moment a command arrives to those two fields, so that a `ctx.sleep("1 day")` issued after the
 * clock was moved still waits one day of the node's time (without it, every sleep shorter than the
 * moves so far would be due at once). Everything else passes through unchanged, byte for byte.
 *
 * The rewritten commands are what the node journals. On replay the SDK compares a journaled sleep by
 * its name and a send by its target and payload, never by these times (they change on every replay).
 */

import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { limits } from "../core/index.js";
import { FrameDecoder, encodeFrame, MessageType } from "../service-protocol/index.js";
import type {
  EndpointRequest,
  EndpointStream,
  EndpointStreamHandlers,
  EndpointTransport,
} from "../invoker/index.js";

/** Field numbers of the absolute times the SDK sets (service protocol v5/v6). */
const SLEEP_WAKE_UP_TIME_FIELD = 1;
const ONE_WAY_CALL_INVOKE_TIME_FIELD = 4;

export class HandlerClockTransport implements EndpointTransport {
  constructor(
    private readonly inner: EndpointTransport,
    /** How far the node's clock is ahead of the handlers' now, in milliseconds. */
    private readonly offsetMs: () => number,
  ) {}

  open(request: EndpointRequest, handlers: EndpointStreamHandlers): EndpointStream {
    const frames = new FrameDecoder(limits.protocolMessageBytesMax);
    let undecodable = false;
    return this.inner.open(request, {
      onResponse: (status, headers) => handlers.onResponse(status, headers),
      onData: (chunk) => {
        // Bytes the framing cannot follow (a declared length past the limit) go on untouched,
        // from the last whole frame on: the invoker reports them as it would without this transport.
        if (undecodable) return handlers.onData(chunk);
        let out: Uint8Array[];
        try {
          out = frames.push(chunk).map((f) => encodeFrame(f.type, this.shift(f), f.flags));
        } catch {
          undecodable = true;
          return handlers.onData(frames.takeBuffered());
        }
        for (const frame of out) handlers.onData(frame);
      },
      onEnd: () => {
        const rest = frames.bufferedBytes;
        if (rest > 0 && !undecodable) {
          // A truncated last frame: hand over its bytes so the invoker sees what the SDK sent.
          handlers.onData(frames.takeBuffered());
        }
        handlers.onEnd();
      },
      onError: (error) => handlers.onError(error),
    });
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private shift(frame: { type: number; payload: Uint8Array }): Uint8Array {
    const offset = this.offsetMs();
    if (offset === 0) return frame.payload;
    if (frame.type === MessageType.SleepCommand)
      return shiftTimeField(frame.payload, SLEEP_WAKE_UP_TIME_FIELD, offset);
    if (frame.type === MessageType.OneWayCallCommand)
      return shiftTimeField(frame.payload, ONE_WAY_CALL_INVOKE_TIME_FIELD, offset);
    return frame.payload;
  }
}

/**
 * The message with `offsetMs` added to a non-zero varint field (0 means "not set": a send without
 * delay); every other field is copied as it was.
 */
export function shiftTimeField(payload: Uint8Array, field: number, offsetMs: number): Uint8Array {
  const reader = new BinaryReader(payload);
  const writer = new BinaryWriter();
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const [number, wireType] = reader.tag();
    if (number === field && wireType === WireType.Varint) {
      const value = Number(reader.uint64());
      writer.tag(field, WireType.Varint).uint64(value === 0 ? 0 : value + Math.round(offsetMs));
      continue;
    }
    reader.skip(wireType, number);
    writer.raw(payload.subarray(start, reader.pos));
  }
  return writer.finish();
}
