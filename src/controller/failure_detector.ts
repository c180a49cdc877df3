/**
 * Failure detection from what a node hears of its peers: any message from a peer counts as a
 * heartbeat of the incarnation (generation) that sent it. Pure: time comes in with every call.
 *
 * States: `alive` → (`suspectAfterMs` of silence) `suspect` → (`deadAfterMs` of silence) `dead`; a
 * heartbeat brings a suspect or dead node back to `alive`. A heartbeat from an older generation than
 * the newest heard is ignored (a zombie incarnation must not keep its node alive); one from a newer
 * generation means the node restarted: it is alive, and `tick` reports the restart so that the
 * controller can treat the old incarnation as gone (its in-memory state, leaderships included, is).
 *
 * Suspicion is what the controller waits on before acting: a suspect keeps its leaderships (a pause
 * of a second must not move every partition), a dead node loses them.
 */

import { assert, type NodeId } from "../core/index.js";

export type Liveness = "alive" | "suspect" | "dead";

const SEVERITY: Record<Liveness, number> = { alive: 0, suspect: 1, dead: 2 };

export interface FailureDetectorSettings {
  readonly suspectAfterMs: number;
  readonly deadAfterMs: number;
}

export interface LivenessChange {
  readonly node: NodeId;
  readonly generation: number;
  readonly from: Liveness | "restarted";
  readonly to: Liveness;
}

interface Peer {
  generation: number;
  lastHeardMs: number;
  state: Liveness;
  restarted: boolean;
}

export class FailureDetector {
  private readonly peers = new Map<NodeId, Peer>();
  private readonly pending: LivenessChange[] = [];

  constructor(private readonly settings: FailureDetectorSettings) {
    assert(
      settings.suspectAfterMs > 0 && settings.deadAfterMs > settings.suspectAfterMs,
      "a node is suspected before it is declared dead",
    );
  }

  /** A message from `node`'s incarnation `generation` arrived at `nowMs`. */
  heard(node: NodeId, generation: number, nowMs: number): void {
    const peer = this.peers.get(node);
    if (peer === undefined) {
      this.peers.set(node, { generation, lastHeardMs: nowMs, state: "alive", restarted: false });
      this.pending.push({ node, generation, from: "dead", to: "alive" });
      return;
    }
    if (generation < peer.generation) return; // a zombie of an older incarnation
    if (generation > peer.generation) {
      peer.generation = generation;
      peer.restarted = true;
    }
    peer.lastHeardMs = Math.max(peer.lastHeardMs, nowMs);
    if (peer.state !== "alive" || peer.restarted) {
      this.pending.push({
        node,
        generation,
        from: peer.restarted ? "restarted" : peer.state,
        to: "alive",
      });
      peer.state = "alive";
      peer.restarted = false;
    }
  }

  /**
   * Nothing listens where `node` listened (its connection was refused): its process is gone, so it
   * is dead now rather than after `deadAfterMs` of silence. Only a heartbeat brings it back.
   */
  refused(node: NodeId): void {
    const peer = this.peers.get(node);
    if (peer === undefined || peer.state === "dead") return;
    this.pending.push({ node, generation: peer.generation, from: peer.state, to: "dead" });
    peer.state = "dead";
  }

  /** Advances time: returns every change since the last call, in the order they happened. */
  tick(nowMs: number): LivenessChange[] {
    for (const [node, peer] of this.peers) {
      const silentMs = nowMs - peer.lastHeardMs;
      const state: Liveness =
        silentMs >= this.settings.deadAfterMs
          ? "dead"
          : silentMs >= this.settings.suspectAfterMs
            ? "suspect"
            : "alive";
      // Silence only makes a peer worse off: a heartbeat, never time, brings it back.
      if (SEVERITY[state] > SEVERITY[peer.state]) {
        this.pending.push({ node, generation: peer.generation, from: peer.state, to: state });
        peer.state = state;
      }
    }
    return this.pending.splice(0);
  }

  state(node: NodeId): Liveness {
    return this.peers.get(node)?.state ?? "dead";
  }

  /** Nodes not declared dead (alive or suspect), lowest id first. */
  notDead(): NodeId[] {
    return [...this.peers]
      .filter(([, peer]) => peer.state !== "dead")
      .map(([node]) => node)
      .sort((a, b) => a - b);
  }
}
