/**
 * The simulated network between a node's invoker and the simulated service (behind the
 * EndpointTransport port, src/invoker/endpoint.ts). One stream per attempt, as one HTTP/2 stream:
 * bytes flow in order both ways, each delivery after a seeded delay; the SDK's chunks may arrive split
 * at any byte. The network may cut a stream (both sides learn: the node through `onError`, the SDK
 * through a reset). A crashed node's transport is killed: its streams never call it back again, and
 * the service learns of each one's end after the bytes already on their way.
 */

import type { Prng } from "../../core/index.js";
import type {
  EndpointRequest,
  EndpointStream,
  EndpointStreamHandlers,
  EndpointTransport,
} from "../../invoker/index.js";
import type { SimScheduler } from "../scheduler.js";
import type { SdkStream, SimSdk } from "./sdk.js";

export interface StreamFaults {
  readonly delayMinMs: number;
  readonly delayMaxMs: number;
  /** The chance that the network cuts a stream some time in its first `cutWithinMs`. */
  readonly cutChance: number;
  readonly cutWithinMs: number;
  /** The chance that a chunk from the SDK arrives in two pieces. */
  readonly splitChance: number;
}

export interface StreamCounters {
  opened: number;
  cut: number;
}

/** What the transports of every incarnation share: the service, the network and its faults. */
export interface StreamNetwork {
  readonly sdk: SimSdk;
  readonly scheduler: SimScheduler;
  readonly prng: Prng;
  readonly faults: StreamFaults;
  /** False in the calm phase: no new cuts. */
  cutsEnabled(): boolean;
  readonly counters: StreamCounters;
  /** Every chunk as it is delivered (the run's digest covers the traffic). */
  delivered(towardNode: boolean, bytes: Uint8Array): void;
}

type Pipe = (deliver: () => void) => void;

/** One incarnation's endpoint transport. */
export class SimEndpointTransport implements EndpointTransport {
  private alive = true;
  private readonly streams = new Set<SimStream>();

  constructor(private readonly network: StreamNetwork) {}

  open(request: EndpointRequest, handlers: EndpointStreamHandlers): EndpointStream {
    const network = this.network;
    const stream = new SimStream(this, network, request, handlers, () =>
      this.streams.delete(stream),
    );
    if (!this.alive) {
      stream.processDied();
      return stream;
    }
    this.streams.add(stream);
    network.counters.opened++;
    if (network.cutsEnabled() && network.prng.chance(network.faults.cutChance)) {
      network.scheduler.schedule(network.prng.nextInt(network.faults.cutWithinMs + 1), () => {
        if (network.cutsEnabled() && stream.cut()) network.counters.cut++;
      });
    }
    return stream;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** The node's process died: its streams go silent toward it and end toward the service. */
  crash(): void {
    this.alive = false;
    for (const stream of [...this.streams]) stream.processDied();
    this.streams.clear();
  }

  get isAlive(): boolean {
    return this.alive;
  }

  /** Runs each delivery after a network delay, after everything sent earlier through the pipe. */
  pipe(): Pipe {
    const { scheduler, prng, faults } = this.network;
    let lastAt = 0;
    return (deliver) => {
      const now = scheduler.now;
      const delay = faults.delayMinMs + prng.nextInt(faults.delayMaxMs - faults.delayMinMs + 1);
      const at = Math.max(lastAt, now + delay);
      lastAt = at;
      scheduler.schedule(at - now, deliver);
    };
  }

  /** Where a chunk from the SDK splits in two, if it does. */
  splitOf(length: number): number | undefined {
    const { prng, faults } = this.network;
    if (length < 2 || !prng.chance(faults.splitChance)) return undefined;
    return 1 + prng.nextInt(length - 1);
  }
}

class SimStream implements EndpointStream {
  /** The node still hears from this stream. */
  private towardNode = true;
  /** The service still hears from this stream. */
  private towardService = true;
  private service: SdkStream | undefined;
  private readonly toService: Pipe;
  private readonly toNode: Pipe;

  constructor(
    private readonly transport: SimEndpointTransport,
    private readonly network: StreamNetwork,
    request: EndpointRequest,
    private readonly handlers: EndpointStreamHandlers,
    private readonly forget: () => void,
  ) {
    this.toService = transport.pipe();
    this.toNode = transport.pipe();
    // The request reaches the service after a network delay, like everything after it.
    this.toService(() => {
      if (!this.towardService) return;
      this.service = network.sdk.open(request, {
        head: (status, headers) =>
          this.deliverToNode(() => this.handlers.onResponse(status, headers)),
        data: (bytes) => this.sendToNode(bytes),
        end: () =>
          this.deliverToNode(() => {
            this.closeTowardNode();
            this.handlers.onEnd();
          }),
      });
    });
  }

  write(bytes: Uint8Array): void {
    if (!this.towardNode) return;
    const copy = bytes.slice();
    this.toService(() => {
      if (!this.towardService || this.service === undefined) return;
      this.network.delivered(false, copy);
      this.service.receive(copy);
    });
  }

  end(): void {
    if (!this.towardNode) return;
    this.toService(() => {
      if (this.towardService) this.service?.endOfInput();
    });
  }

  abort(): void {
    this.closeTowardNode();
    this.resetServiceSide();
  }

  /** The network cut the stream: both sides learn at once. False when it was over already. */
  cut(): boolean {
    if (!this.towardNode && !this.towardService) return false;
    const nodeHears = this.towardNode && this.transport.isAlive;
    this.closeTowardNode();
    this.towardService = false;
    this.service?.reset();
    if (nodeHears) this.handlers.onError(new Error("the stream was reset by the network"));
    return true;
  }

  processDied(): void {
    this.towardNode = false;
    this.resetServiceSide();
  }

  /** The service hears of the stream's end after what was already sent to it. */
  private resetServiceSide(): void {
    this.toService(() => {
      if (!this.towardService) return;
      this.towardService = false;
      this.service?.reset();
    });
  }

  private closeTowardNode(): void {
    this.towardNode = false;
    this.forget();
  }

  private sendToNode(bytes: Uint8Array): void {
    const split = this.transport.splitOf(bytes.length);
    if (split === undefined) {
      this.deliverToNode(() => this.handlers.onData(bytes), bytes);
      return;
    }
    const head = bytes.subarray(0, split);
    const tail = bytes.subarray(split);
    this.deliverToNode(() => this.handlers.onData(head), head);
    this.deliverToNode(() => this.handlers.onData(tail), tail);
  }

  private deliverToNode(deliver: () => void, bytes?: Uint8Array): void {
    this.toNode(() => {
      if (!this.towardNode || !this.transport.isAlive) return;
      if (bytes !== undefined) this.network.delivered(true, bytes);
      deliver();
    });
  }
}
