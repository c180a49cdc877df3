/**
 * The cluster controller on a node: every admin node runs this driver, and the one that
 * `controllerNode` names acts. It reads the nodes configuration and the partition placement from the
 * metadata store, and writes the placement `desiredPartitionTable` asks for, with a compare-and-swap
 * on the version it read, so two nodes that both believe they control for a moment cannot both win.
 * It acts when the nodes configuration changes and every `PASS_INTERVAL_MS` besides.
 *
 * Part 1 of cluster mode has no failure detection yet: every registered node counts as alive. The
 * first placement waits until as many workers as the replication property's copies have registered
 * (a placement on fewer would make every log and store less durable than asked).
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
import type { PartitionAssignment } from "./placement.js";

/** Where the placement lives: which nodes hold a replica of each partition, and which leads. */
export const PARTITION_PLACEMENT_KEY = "partition_placement";

export interface PartitionPlacement {
  /** One entry per partition. */
  readonly partitions: readonly PartitionAssignment[];
}

const PASS_INTERVAL_MS = 2_000;

export interface ControllerDriverDeps {
  readonly metadata: MetadataStore;
  readonly self: NodeId;
  readonly partitions: number;
  readonly property: ReplicationProperty;
  readonly clock: Clock;
  readonly logger: Logger;
}

export class ControllerDriver {
  private cancelTimer: Cancel | undefined;
  private unsubscribe: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private waitingReported = false;

  constructor(private readonly deps: ControllerDriverDeps) {}

  start(): void {
    this.unsubscribe = this.deps.metadata.subscribe(NODES_CONFIG_KEY, () => this.pass());
    this.pass();
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.cancelTimer?.();
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
    if (controllerNode(nodes, () => "alive") !== self) return;
    const workers = nodes.filter((n) => n.roles.includes("worker"));
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
    const desired = desiredPartitionTable({
      nodes,
      liveness: () => "alive",
      partitions: this.deps.partitions,
      property: this.deps.property,
      current: current?.value.partitions,
    });
    if (desired === undefined) return;
    await putJson<PartitionPlacement>(
      metadata,
      PARTITION_PLACEMENT_KEY,
      { partitions: desired },
      current === undefined ? MUST_NOT_EXIST : matchesVersion(current.version),
    );
    this.deps.logger.info("placed partitions", {
      leaders: desired.map((a) => a.leader ?? 0).join(","),
    });
  }
}
