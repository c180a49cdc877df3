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

import { assert, fromUtf8, utf8, type NodeId } from "../core/index.js";
import {
  type RecoveredLoglet,
  type StoreWrite,
  type StoredRecord,
  decodeStoreWrite,
  encodeStoreWrite,
  InMemoryLogStoreIndex,
  type LogletId,
} from "../bifrost/index.js";
import {
  FILE_HEADER_BYTES,
  encodeFrame,
  fileHeader,
  fileHeaderMatches,
  judgeLastFile,
  parseFrames,
} from "../wire/index.js";
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
    { readonly to: NodeId; readonly done: (o: RequestOutcome) => void; readonly cancel: Cancel }
  >();
  private readonly stopHearingResets: (() => void) | undefined;
  /** Request ids already served, per peer incarnation: a request is handled at most once. */
  private readonly served = new Map<string, Set<number>>();

  constructor(
    private readonly network: SimNetwork<SimPacket>,
    private readonly scheduler: SimScheduler,
    readonly self: NodeId,
    private readonly generation: number,
    options: { readonly resetsOnPeerCrash?: boolean } = {},
  ) {
    network.attach(self, (from, packet) => this.deliver(from as NodeId, packet));
    // As a TCP connection is reset when the process at its other end dies: the requests waiting on
    // it fail at once instead of at their timeout.
    if (options.resetsOnPeerCrash === true)
      this.stopHearingResets = network.onDetach((node) => this.resetRequestsTo(node as NodeId));
  }

  kill(): void {
    this.alive = false;
    this.stopHearingResets?.();
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
    // As a connection to a host whose process died is refused at once.
    if (this.stopHearingResets !== undefined && this.network.isDown(to)) {
      this.scheduler.schedule(1, () => {
        if (this.alive)
          done({ ok: false, error: "unreachable", detail: `node ${to} refused the connection` });
      });
      return;
    }
    const id = this.nextId++;
    const cancel = this.scheduler.schedule(timeoutMs, () => {
      if (!this.pending.delete(id) || !this.alive) return;
      done({ ok: false, error: "timeout", detail: `no answer from node ${to} in ${timeoutMs} ms` });
    });
    this.pending.set(id, { to, done, cancel });
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

  private resetRequestsTo(node: NodeId): void {
    for (const [id, waiting] of [...this.pending]) {
      if (waiting.to !== node) continue;
      this.pending.delete(id);
      waiting.cancel();
      this.scheduler.schedule(0, () => {
        if (this.alive)
          waiting.done({
            ok: false,
            error: "unavailable",
            detail: `connection to node ${node} closed`,
          });
      });
    }
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
const SEGMENT_PREFIX = "logstore/";
/** A frame claiming more than this is damage (the simulator's entries are small). */
const SIM_FRAME_BYTES_MAX = 64 * 1024 * 1024;

export interface SimDiskLatency {
  readonly syncMinMs: number;
  readonly syncMaxMs: number;
  readonly readMaxMs: number;
}

const segmentName = (first: number): string =>
  `${SEGMENT_PREFIX}${String(first).padStart(20, "0")}`;

/**
 * A log-server store on a `SimDisk`, in production's format and with production's recovery
 * decisions (src/wire/frames.ts): numbered frames in segment files named by their first frame, a
 * file's header synced before any frame, group commit (one sync for every write issued since the
 * last one), files rolled only when everything is synced. At open, every older file must read whole
 * and the last file's end is judged: a torn tail is cut just before the first write, as production
 * does; damage that is not a torn tail (which a simulated disk cannot produce) is a broken invariant.
 */
export class SimLogStore implements LogServerStore {
  private alive = true;
  private readonly index = new InMemoryLogStoreIndex();
  private segment: string;
  private segmentBytes: number;
  /** The number of the next frame. */
  private next: number;
  private readonly unsynced: ((error: Error | undefined) => void)[] = [];
  private flushArmed = false;
  /** Set at open for a torn tail of the last file: its new content, written before the first frame. */
  private pendingCut: { name: string; content: Uint8Array } | undefined;

  private constructor(
    private readonly disk: SimDisk,
    private readonly scheduler: SimScheduler,
    private readonly latency: SimDiskLatency,
    last: { name: string; size: number; next: number } | undefined,
  ) {
    this.next = last?.next ?? 1;
    if (last === undefined) {
      this.segment = this.roll();
      this.segmentBytes = FILE_HEADER_BYTES;
    } else {
      this.segment = last.name;
      this.segmentBytes = last.size;
    }
  }

  /** Opens the store, replaying what the disk kept. */
  static open(
    disk: SimDisk,
    scheduler: SimScheduler,
    latency: SimDiskLatency,
  ): { store: SimLogStore; recovered: Map<LogletId, RecoveredLoglet> } {
    const names = disk.names().filter((n) => n.startsWith(SEGMENT_PREFIX));
    const writes: StoreWrite[] = [];
    let last: { name: string; size: number; next: number } | undefined;
    let cut: { name: string; content: Uint8Array } | undefined;
    names.forEach((name, i) => {
      const first = Number(name.slice(SEGMENT_PREFIX.length));
      const content = disk.read(name) ?? new Uint8Array(0);
      if (i < names.length - 1) {
        assert(fileHeaderMatches(content, first), `${name}: an older file's header is intact`);
        const { consumed } = parseFrames(
          content.subarray(FILE_HEADER_BYTES),
          first,
          FILE_HEADER_BYTES,
          SIM_FRAME_BYTES_MAX,
          (_number, _position, payload) => writes.push(decodeStoreWrite(payload)),
        );
        assert(
          FILE_HEADER_BYTES + consumed === content.length,
          `${name}: an older file reads whole`,
        );
        return;
      }
      const judged = judgeLastFile(content, first, SIM_FRAME_BYTES_MAX);
      assert(judged.kind !== "damaged", `${name}: damage that is not a torn tail`);
      for (const frame of judged.frames) writes.push(decodeStoreWrite(frame.payload));
      if (judged.kind === "torn") {
        cut = {
          name,
          content: judged.headerDamaged ? fileHeader(first) : content.slice(0, judged.end),
        };
      }
      last = {
        name,
        size: judged.kind === "torn" && judged.headerDamaged ? FILE_HEADER_BYTES : judged.end,
        next: first + judged.frames.length,
      };
    });
    const store = new SimLogStore(disk, scheduler, latency, last);
    store.pendingCut = cut;
    for (const write of writes) store.index.apply(write);
    return { store, recovered: store.index.recovered() };
  }

  kill(): void {
    this.alive = false;
  }

  write(write: StoreWrite, done: (error: Error | undefined) => void): void {
    if (!this.alive) return;
    if (this.pendingCut !== undefined) {
      this.disk.write(this.pendingCut.name, this.pendingCut.content);
      this.disk.sync(this.pendingCut.name);
      this.pendingCut = undefined;
    }
    // Roll only when everything written is synced: then a later file never holds data that an
    // earlier file lost in a crash, and only the last file can end torn.
    if (this.segmentBytes > SEGMENT_BYTES_TARGET && this.unsynced.length === 0) {
      this.segment = this.roll();
      this.segmentBytes = FILE_HEADER_BYTES;
    }
    const frame = encodeFrame(this.next++, encodeStoreWrite(write));
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

  /** Starts a new file at the next frame, its header synced first (as production creates files). */
  private roll(): string {
    const name = segmentName(this.next);
    this.disk.write(name, fileHeader(this.next));
    this.disk.sync(name);
    return name;
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

/** Text helpers for simulated payloads. */
export const simPayload = (text: string): Uint8Array => utf8(text);
export const simText = (payload: Uint8Array): string => fromUtf8(payload);
