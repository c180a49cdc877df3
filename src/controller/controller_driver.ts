/**
 * The cluster controller on a node: every admin node runs this driver, and the one that
 * `controllerNode` names acts. It reads the nodes configuration and the partition placement from the
 * metadata store, and writes the placement `desiredPartitionTable` asks for, with a compare-and-swap
 * on the version it read, so two nodes that both believe they control for a moment cannot both win.
 * It acts when the nodes configuration changes, when a node's liveness changes, and every
 * `PASS_INTERVAL_MS` besides; after writing a placement it announces it to every node, so that a
 * partition moved to a follower is led there at once.
 *
 * Liveness comes from heartbeats: every admin node asks every other node for its generation every
 * `HEARTBEAT_INTERVAL_MS`; a node silent for `SUSPECT_AFTER_MS` is suspect (it keeps what it leads: a
 * pause must not move partitions), one silent for `DEAD_AFTER_MS` is dead and loses its leaderships and
 * replicas to live workers. A node registered but not heard yet gets the benefit of the doubt until
 * `DEAD_AFTER_MS` has passed. The first placement waits until as many live workers as the
 * replication property's copies are there (a placement on fewer would make every log and store less
 * durable than asked).
 */

import type { NodeId } from "../core/index.js";
import {
  getJson,
  putJson,
  MUST_NOT_EXIST,
  matchesVersion,
  type MetadataStore,
} from "../metadata/index.js";
import {
  NODES_CONFIG_KEY,
  decodeNodesConfiguration,
  type NodeRecord,
} from "../metadata-server/index.js";
import { copiesOf, type ReplicationProperty } from "../bifrost/index.js";
import type { Cancel, Clock, Logger } from "../platform/index.js";
import { controllerNode, desiredPartitionTable } from "./controller.js";
import { FailureDetector, type Liveness } from "./failure_detector.js";
import type { PartitionAssignment } from "./placement.js";

/** Where the placement lives: which nodes hold a replica of each partition, and which leads. */
export const PARTITION_PLACEMENT_KEY = "partition_placement";

export interface PartitionPlacement {
  /** One entry per partition. */
  readonly partitions: readonly PartitionAssignment[];
}

const PASS_INTERVAL_MS = 2_000;
/**
 * How long after a node is declared dead the controller waits before it balances: the repair gives
 * the lost leaderships to replicas that hold the state, and moving them on to the replicas the
 * repair added waits until those have read their logs.
 */
export const BALANCE_AFTER_LOSS_MS = 10_000;
/** How often each admin node asks every other node whether it is there. */
export const HEARTBEAT_INTERVAL_MS = 200;
/** Silence after which a node is suspect (it keeps its partitions). */
export const SUSPECT_AFTER_MS = 600;
/** Silence after which a node is dead: its partitions move to live followers. */
export const DEAD_AFTER_MS = 1_200;

export interface ControllerDriverDeps {
  readonly metadata: MetadataStore;
  readonly self: NodeId;
  readonly partitions: number;
  readonly property: ReplicationProperty;
  readonly clock: Clock;
  readonly logger: Logger;
  /**
   * Asks a node for its generation; "refused" when nothing listens on its node port (its process is
   * gone), undefined when it does not answer (in time).
   */
  readonly ping: (node: NodeId) => Promise<number | "refused" | undefined>;
  /** Tells every node that a metadata key changed (resolves once they have read it, bounded). */
  readonly announce: (key: string, version: number) => Promise<void>;
}

export class ControllerDriver {
  private cancelTimer: Cancel | undefined;
  private unsubscribe: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private waitingReported = false;
  private minorityReported = false;
  private readonly detector = new FailureDetector({
    suspectAfterMs: SUSPECT_AFTER_MS,
    deadAfterMs: DEAD_AFTER_MS,
  });
  /** The nodes of the last nodes configuration read, with their generations. */
  private nodes: readonly NodeRecord[] = [];
  private cancelHeartbeat: Cancel | undefined;
  /** When this controller last declared a node dead (for BALANCE_AFTER_LOSS_MS). */
  private lastLossMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly deps: ControllerDriverDeps) {}

  start(): void {
    this.unsubscribe = this.deps.metadata.subscribe(NODES_CONFIG_KEY, () => this.pass());
    this.pass();
    this.heartbeat();
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.cancelTimer?.();
    this.cancelHeartbeat?.();
  }

  /** This node's view of a node: itself is alive; others as their heartbeats say. */
  private liveness(node: NodeId): Liveness {
    return node === this.deps.self ? "alive" : this.detector.state(node);
  }

  /** Asks every other node, then acts when anyone's liveness changed. */
  private heartbeat(): void {
    if (this.stopped) return;
    const { clock, self } = this.deps;
    for (const node of this.nodes) {
      const id = node.plainId as NodeId;
      if (id === self) continue;
      void this.deps.ping(id).then((answer) => {
        if (this.stopped || answer === undefined) return;
        if (answer === "refused") {
          this.detector.refused(id);
          // Act at once: waiting for the next heartbeat would leave its partitions unled longer.
          this.reviewLiveness();
        } else this.detector.heard(id, answer, clock.nowMs());
      });
    }
    this.reviewLiveness();
    this.cancelHeartbeat = clock.setTimer(HEARTBEAT_INTERVAL_MS, () => this.heartbeat());
  }

  /** Logs every liveness change since the last review, and acts on those that move partitions. */
  private reviewLiveness(): void {
    const changes = this.detector.tick(this.deps.clock.nowMs());
    for (const change of changes)
      if (change.to === "dead" || change.from === "dead" || change.from === "restarted")
        this.deps.logger.info("node liveness changed", {
          node: `N${change.node}:${change.generation}`,
          from: change.from,
          to: change.to,
        });
    if (changes.some((c) => c.to === "dead")) this.lastLossMs = this.deps.clock.nowMs();
    if (changes.some((c) => c.to === "dead" || c.from === "dead" || c.from === "restarted"))
      this.pass();
  }

  /**
   * Nodes of a new nodes configuration start alive (heard now), the rest keep their state. This
   * node is not among them: it never pings itself, and would time itself out.
   */
  private learnNodes(nodes: readonly NodeRecord[]): void {
    const known = new Set(this.nodes.map((n) => `${n.plainId}:${n.generation}`));
    for (const node of nodes)
      if (node.plainId !== this.deps.self && !known.has(`${node.plainId}:${node.generation}`))
        this.detector.heard(node.plainId as NodeId, node.generation, this.deps.clock.nowMs());
    this.nodes = nodes;
  }

  /** Runs a pass now, or right after the one running (passes never overlap). */
  private pass(): void {
    if (this.stopped) return;
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    this.cancelTimer?.();
    this.running = this.act()
      .catch((error: unknown) =>
        this.deps.logger.warn("the cluster controller could not act; trying again", {
          error: error instanceof Error ? error.message : String(error),
        }),
      )
      .finally(() => {
        this.running = undefined;
        if (this.stopped) return;
        if (this.again) {
          this.again = false;
          this.pass();
          return;
        }
        this.cancelTimer = this.deps.clock.setTimer(PASS_INTERVAL_MS, () => this.pass());
      });
  }

  private async act(): Promise<void> {
    const { metadata, self } = this.deps;
    const stored = await metadata.get(NODES_CONFIG_KEY);
    if (stored === undefined) return;
    const nodes: readonly NodeRecord[] = decodeNodesConfiguration(stored.value).nodes;
    this.learnNodes(nodes);
    const liveness = (node: NodeId): Liveness => this.liveness(node);
    if (controllerNode(nodes, liveness) !== self) return;
    const workers = nodes.filter(
      (n) => n.roles.includes("worker") && liveness(n.plainId as NodeId) !== "dead",
    );
    const current = await getJson<PartitionPlacement>(metadata, PARTITION_PLACEMENT_KEY);
    if (current === undefined && workers.length < copiesOf(this.deps.property)) {
      if (!this.waitingReported)
        this.deps.logger.info("waiting for worker nodes before placing partitions", {
          workers: workers.length,
          needed: copiesOf(this.deps.property),
        });
      this.waitingReported = true;
      return;
    }
    // A controller cut off from most of the cluster sees the others dead: it must not move their
    // partitions (least of all right after it is reconnected, before their heartbeats answer).
    const notDead = nodes.filter((n) => liveness(n.plainId as NodeId) !== "dead").length;
    if (current !== undefined && notDead * 2 <= nodes.length) {
      if (!this.minorityReported)
        this.deps.logger.warn("the cluster controller sees a minority of nodes alive; it waits", {
          alive: notDead,
          nodes: nodes.length,
        });
      this.minorityReported = true;
      return;
    }
    this.minorityReported = false;
    const desired = desiredPartitionTable({
      nodes,
      liveness,
      partitions: this.deps.partitions,
      property: this.deps.property,
      current: current?.value.partitions,
      balance: this.deps.clock.nowMs() - this.lastLossMs >= BALANCE_AFTER_LOSS_MS,
    });
    if (desired === undefined) return;
    const version = await putJson<PartitionPlacement>(
      metadata,
      PARTITION_PLACEMENT_KEY,
      { partitions: desired },
      current === undefined ? MUST_NOT_EXIST : matchesVersion(current.version),
    );
    this.deps.logger.info("placed partitions", {
      leaders: desired.map((a) => a.leader ?? 0).join(","),
    });
    await this.deps.announce(PARTITION_PLACEMENT_KEY, version);
  }
}
