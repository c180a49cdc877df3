/**
 * The simulator's twins of the runtime ports (src/platform/ports.ts): a clock, a node transport and a
 * log-server store, all driven by the seeded `SimScheduler`, so a whole cluster runs in one process
 * and a seed replays exactly.
 *
 * Each twin belongs to one node incarnation. `kill()` silences it for good (a crash): its timers never
 * fire, nothing is delivered to it, its pending requests never complete, its unsynced writes are lost
 * when the node's `SimDisk` crashes. A restarted node gets fresh twins.
 *
 * The transport delivers each request at most once (as one TCP connection would; the network may
 * still duplicate one-way messages and responses) and reorders freely.
 */

import { assert, fromUtf8, utf8, murmur3x86_128, type NodeId } from "../core/index.js";
import {
  type RecoveredLoglet,
  type StoreWrite,
  type StoredRecord,
  decodeStoreWrite,
  encodeStoreWrite,
  InMemoryLogStoreIndex,
  type LogletId,
} from "../bifrost/index.js";
import { ByteReader, ByteWriter } from "../wire/index.js";
import type { Cancel, Clock } from "../platform/index.js";
import type { LogServerStore } from "../log-server/index.js";
import type { NodeTransport, RequestOutcome, ServiceHandler } from "../net/index.js";
import type { SimDisk } from "./disk.js";
import type { SimNetwork } from "./network.js";
import type { SimScheduler } from "./scheduler.js";

export interface SimPacket {
  readonly kind: "message" | "request" | "response";
  /** The sender's incarnation: a restarted node numbers its requests from 1 again. */
  readonly generation: number;
  /**
   * On a response, the incarnation that sent the request: a restarted node must not take the answer
   * to its previous incarnation's request for one of its own (a real connection dies with a process).
   */
  readonly requestGeneration: number;
  readonly service: number;
  readonly id: number;
  readonly payload: Uint8Array;
}

export class SimClock implements Clock {
  private alive = true;

  /**
   * `epochMs` is the wall-clock time at virtual time 0: a node stamps records with `nowMs()` and
   * treats 0 as "no time", so a whole node runs on a clock that starts at a plausible date.
   */
  constructor(
    private readonly scheduler: SimScheduler,
    private readonly epochMs = 0,
  ) {}

  nowMs(): number {
    return this.epochMs + this.scheduler.now;
  }

  /**
   * Timers fire on whole milliseconds, as a process's do: its clock reads whole milliseconds, and a
   * fractional delay (retry jitter) must not make `nowMs()` fractional.
   */
  setTimer(delayMs: number, run: () => void): Cancel {
    return this.scheduler.schedule(Math.max(1, Math.ceil(delayMs)), () => {
      if (this.alive) run();
    });
  }

  defer(run: () => void): void {
    this.scheduler.schedule(0, () => {
      if (this.alive) run();
    });
  }

  deferAfterIo(run: () => void): void {
    this.defer(run);
  }

  kill(): void {
    this.alive = false;
  }
}

export class SimTransport implements NodeTransport {
  private alive = true;
  private nextId = 1;
  private readonly handlers = new Map<number, ServiceHandler>();
  private readonly pending = new Map<
    number,
    { readonly done: (o: RequestOutcome) => void; readonly cancel: Cancel }
  >();
  /** Request ids already served, per peer incarnation: a request is handled at most once. */
  private readonly served = new Map<string, Set<number>>();

  constructor(
    private readonly network: SimNetwork<SimPacket>,
    private readonly scheduler: SimScheduler,
    readonly self: NodeId,
    private readonly generation: number,
  ) {
    network.attach(self, (from, packet) => this.deliver(from as NodeId, packet));
  }

  kill(): void {
    this.alive = false;
    this.network.detach(this.self);
    for (const { cancel } of this.pending.values()) cancel();
    this.pending.clear();
  }

  serve(service: number, handler: ServiceHandler): void {
    assert(!this.handlers.has(service), `service ${service} is served once`);
    this.handlers.set(service, handler);
  }

  send(to: NodeId, service: number, payload: Uint8Array): void {
    if (!this.alive) return;
    const generation = this.generation;
    this.network.send(this.self, to, {
      kind: "message",
      generation,
      requestGeneration: 0,
      service,
      id: 0,
      payload,
    });
  }

  request(
    to: NodeId,
    service: number,
    payload: Uint8Array,
    timeoutMs: number,
    done: (outcome: RequestOutcome) => void,
  ): void {
    if (!this.alive) return;
    const id = this.nextId++;
    const cancel = this.scheduler.schedule(timeoutMs, () => {
      if (!this.pending.delete(id) || !this.alive) return;
      done({ ok: false, error: "timeout", detail: `no answer from node ${to} in ${timeoutMs} ms` });
    });
    this.pending.set(id, { done, cancel });
    const generation = this.generation;
    this.network.send(this.self, to, {
      kind: "request",
      generation,
      requestGeneration: 0,
      service,
      id,
      payload,
    });
  }

  private deliver(from: NodeId, packet: SimPacket): void {
    if (!this.alive) return;
    switch (packet.kind) {
      case "message":
        this.handlers.get(packet.service)?.onMessage(from, packet.payload);
        return;
      case "request": {
        const peer = `${from}:${packet.generation}`;
        const seen = this.served.get(peer) ?? new Set<number>();
        this.served.set(peer, seen);
        if (seen.has(packet.id)) return;
        seen.add(packet.id);
        let answered = false;
        this.handlers.get(packet.service)?.onRequest(from, packet.payload, (payload) => {
          if (answered || !this.alive) return;
          answered = true;
          this.network.send(this.self, from, {
            kind: "response",
            generation: this.generation,
            requestGeneration: packet.generation,
            service: packet.service,
            id: packet.id,
            payload,
          });
        });
        return;
      }
      case "response": {
        if (packet.requestGeneration !== this.generation) return;
        const waiting = this.pending.get(packet.id);
        if (waiting === undefined) return;
        this.pending.delete(packet.id);
        waiting.cancel();
        waiting.done({ ok: true, payload: packet.payload });
        return;
      }
    }
  }
}

const SEGMENT_BYTES_TARGET = 16 * 1024;
const FRAME_HEADER_BYTES = 8;
const SEGMENT_PREFIX = "logstore/";

export interface SimDiskLatency {
  readonly syncMinMs: number;
  readonly syncMaxMs: number;
  readonly readMaxMs: number;
}

/**
 * A log-server store on a `SimDisk`: entries framed as `u32 length | u32 checksum | entry` in
 * rolled segment files, group-committed (one sync for every write issued since the last one).
 * Recovery replays the files in order and cuts the log at the first torn or corrupt frame.
 */
export class SimLogStore implements LogServerStore {
  private alive = true;
  private readonly index = new InMemoryLogStoreIndex();
  private segment: string;
  private segmentBytes = 0;
  private segmentCount: number;
  private readonly unsynced: ((error: Error | undefined) => void)[] = [];
  private flushArmed = false;

  private constructor(
    private readonly disk: SimDisk,
    private readonly scheduler: SimScheduler,
    private readonly latency: SimDiskLatency,
    segmentCount: number,
  ) {
    this.segmentCount = segmentCount;
    this.segment = this.roll();
  }

  /** Opens the store, replaying what the disk kept. */
  static open(
    disk: SimDisk,
    scheduler: SimScheduler,
    latency: SimDiskLatency,
  ): { store: SimLogStore; recovered: Map<LogletId, RecoveredLoglet> } {
    const names = disk.names().filter((n) => n.startsWith(SEGMENT_PREFIX));
    const writes: StoreWrite[] = [];
    let torn = false;
    for (const name of names) {
      if (torn) {
        disk.remove(name); // nothing after a torn frame counts
        continue;
      }
      const content = disk.read(name) ?? new Uint8Array(0);
      const { entries, validBytes } = parseFrames(content);
      writes.push(...entries);
      if (validBytes < content.length) {
        // A torn tail: cut it so that new frames follow valid ones.
        disk.write(name, content.slice(0, validBytes));
        disk.sync(name);
        torn = true;
      }
    }
    const kept = disk.names().filter((n) => n.startsWith(SEGMENT_PREFIX)).length;
    const store = new SimLogStore(disk, scheduler, latency, kept);
    for (const write of writes) store.index.apply(write);
    return { store, recovered: store.index.recovered() };
  }

  kill(): void {
    this.alive = false;
  }

  write(write: StoreWrite, done: (error: Error | undefined) => void): void {
    if (!this.alive) return;
    const entry = encodeStoreWrite(write);
    const frame = new Uint8Array(FRAME_HEADER_BYTES + entry.length);
    const header = new ByteWriter().u32(entry.length).u32(checksum(entry)).finish();
    frame.set(header, 0);
    frame.set(entry, FRAME_HEADER_BYTES);
    // Roll only when everything written is synced: then a later file never holds data that an
    // earlier file lost in a crash, and recovery's "stop at the first bad frame" keeps a prefix.
    if (this.segmentBytes > SEGMENT_BYTES_TARGET && this.unsynced.length === 0) {
      this.segment = this.roll();
    }
    this.disk.append(this.segment, frame);
    this.segmentBytes += frame.length;
    this.index.apply(write);
    this.unsynced.push(done);
    this.armFlush();
  }

  read(
    logletId: LogletId,
    from: number,
    toExclusive: number,
    recordsMax: number,
    bytesMax: number,
    done: (result: readonly StoredRecord[] | Error) => void,
  ): void {
    const records = this.index.records(logletId, from, toExclusive, recordsMax, bytesMax);
    const delay = this.scheduler.prng.nextInt(this.latency.readMaxMs + 1);
    this.scheduler.schedule(delay, () => {
      if (this.alive) done(records);
    });
  }

  private roll(): string {
    this.segmentCount++;
    this.segmentBytes = 0;
    return `${SEGMENT_PREFIX}${String(this.segmentCount).padStart(8, "0")}`;
  }

  private armFlush(): void {
    if (this.flushArmed) return;
    this.flushArmed = true;
    const { syncMinMs, syncMaxMs } = this.latency;
    const delay = syncMinMs + this.scheduler.prng.nextInt(syncMaxMs - syncMinMs + 1);
    this.scheduler.schedule(delay, () => {
      this.flushArmed = false;
      if (!this.alive) return;
      for (const name of this.disk.names()) {
        if (name.startsWith(SEGMENT_PREFIX)) this.disk.sync(name);
      }
      for (const done of this.unsynced.splice(0)) done(undefined);
    });
  }
}

function checksum(bytes: Uint8Array): number {
  return murmur3x86_128(bytes)[0] >>> 0;
}

function parseFrames(content: Uint8Array): { entries: StoreWrite[]; validBytes: number } {
  const entries: StoreWrite[] = [];
  let at = 0;
  while (content.length - at >= FRAME_HEADER_BYTES) {
    const header = new ByteReader(content.subarray(at, at + FRAME_HEADER_BYTES));
    const length = header.u32();
    const sum = header.u32();
    if (content.length - at - FRAME_HEADER_BYTES < length) break;
    const entry = content.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length);
    if (checksum(entry) !== sum) break;
    entries.push(decodeStoreWrite(entry));
    at += FRAME_HEADER_BYTES + length;
  }
  return { entries, validBytes: at };
}

/** Text helpers for simulated payloads. */
export const simPayload = (text: string): Uint8Array => utf8(text);
export const simText = (payload: Uint8Array): string => fromUtf8(payload);
