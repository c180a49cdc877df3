/**
 * Nodeset selection: which log servers may hold the records of a new segment.
 *
 * Rules:
 * - Size: at least 2·copies − 1 (so that an f-majority, n − r + 1, is no larger than a write
 *   quorum and one fewer than r failures leaves both seal and writes possible), at least copies + 1,
 *   at least the target, at most what exists.
 * - Balance: picks rotate over the failure domains of the widest scope the property constrains, so
 *   that losing one domain costs as few members as possible.
 * - Avoidance: nodes that failed recently (`avoid`) are taken only when the others do not suffice.
 * - Validity: the result must be able to host a write quorum, otherwise selection fails (a segment
 *   whose nodeset cannot satisfy its property would accept no append).
 */

import { type NodeId, type Prng } from "../../core/index.js";
import {
  copiesOf,
  domainOf,
  formatReplication,
  isWriteQuorum,
  shuffled,
  type ReplicationProperty,
  type Scope,
  type Topology,
} from "./replication.js";

export interface NodesetRequest {
  /** Log servers that can take new writes. */
  readonly candidates: readonly NodeId[];
  readonly property: ReplicationProperty;
  readonly topology: Topology;
  /** Desired size; 0 means "the minimum the property needs". */
  readonly targetSize: number;
  /** Recently failing nodes: used only if the others are not enough. */
  readonly avoid?: ReadonlySet<NodeId>;
}

export type NodesetResult =
  | { readonly ok: true; readonly nodeset: readonly NodeId[] }
  | { readonly ok: false; readonly reason: string };

export function nodesetSizeFor(property: ReplicationProperty, targetSize: number): number {
  const copies = copiesOf(property);
  return Math.max(targetSize, 2 * copies - 1, copies + 1);
}

function balanceScope(property: ReplicationProperty): Scope {
  if (property.region !== undefined) return "region";
  if (property.zone !== undefined) return "zone";
  return "node";
}

/** Takes `count` nodes from `pool`, one domain at a time in rotation. */
function pickBalanced(
  pool: readonly NodeId[],
  count: number,
  scope: Scope,
  topology: Topology,
  prng: Prng,
): NodeId[] {
  const byDomain = new Map<string, NodeId[]>();
  for (const node of shuffled(pool, prng)) {
    const domain = domainOf(node, scope, topology);
    const list = byDomain.get(domain) ?? [];
    list.push(node);
    byDomain.set(domain, list);
  }
  const queues = shuffled([...byDomain.keys()].sort(), prng).map((d) => byDomain.get(d)!);
  const out: NodeId[] = [];
  while (out.length < count && queues.some((q) => q.length > 0)) {
    for (const queue of queues) {
      const node = queue.shift();
      if (node !== undefined && out.length < count) out.push(node);
    }
  }
  return out;
}

export function selectNodeset(request: NodesetRequest, prng: Prng): NodesetResult {
  const { candidates, property, topology } = request;
  const unique = [...new Set(candidates)];
  const size = Math.min(nodesetSizeFor(property, request.targetSize), unique.length);
  const avoid = request.avoid ?? new Set<NodeId>();
  const scope = balanceScope(property);
  const preferred = unique.filter((n) => !avoid.has(n));
  const chosen = pickBalanced(preferred, size, scope, topology, prng);
  if (chosen.length < size) {
    const fallback = unique.filter((n) => avoid.has(n));
    chosen.push(...pickBalanced(fallback, size - chosen.length, scope, topology, prng));
  }
  if (!isWriteQuorum(chosen, property, topology)) {
    // Balancing may have picked well but the avoided nodes may be needed for enough domains.
    if (isWriteQuorum(unique, property, topology) && avoid.size > 0) {
      return selectNodeset({ ...request, avoid: new Set() }, prng);
    }
    return {
      ok: false,
      reason: `no nodeset of ${unique.length} candidate log servers satisfies ${formatReplication(property)}`,
    };
  }
  return { ok: true, nodeset: chosen.sort((a, b) => a - b) };
}
