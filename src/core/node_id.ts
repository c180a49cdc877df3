/**
 * Node identities. A `NodeId` names a node of the cluster for its whole life; a
 * `GenerationalNodeId` names one incarnation of it: the generation grows at every restart, so a
 * restarted node is a different peer (it holds none of the in-memory state of the old one). See
 * docs/GLOSSARY.md ("generation").
 *
 * Text form: `N<id>:<generation>`, as Restate prints it.
 */

import type { Brand } from "./brand.js";

export type NodeId = Brand<number, "NodeId">;

export const NodeId = (n: number): NodeId => {
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff) {
    throw new RangeError(`a node id is a u32, found ${n}`);
  }
  return n as NodeId;
};

export interface GenerationalNodeId {
  readonly node: NodeId;
  readonly generation: number;
}

export function generationalNodeId(node: number, generation: number): GenerationalNodeId {
  if (!Number.isSafeInteger(generation) || generation < 0 || generation > 0xffffffff) {
    throw new RangeError(`a generation is a u32, found ${generation}`);
  }
  return { node: NodeId(node), generation };
}

export function sameIncarnation(a: GenerationalNodeId, b: GenerationalNodeId): boolean {
  return a.node === b.node && a.generation === b.generation;
}

export function formatGenerationalNodeId(id: GenerationalNodeId): string {
  return `N${id.node}:${id.generation}`;
}

/** Parses `N<id>:<generation>`; undefined when the text has another shape. */
export function parseGenerationalNodeId(text: string): GenerationalNodeId | undefined {
  const match = /^N(\d{1,10}):(\d{1,10})$/.exec(text);
  if (match === null) return undefined;
  const node = Number(match[1]);
  const generation = Number(match[2]);
  if (node > 0xffffffff || generation > 0xffffffff) return undefined;
  return generationalNodeId(node, generation);
}
