/**
 * Replication properties and the two quorums of the replicated loglet.
 *
 * A replication property says how many copies of a record must exist and across how many failure
 * domains: `{node: 2}` (two nodes), `{zone: 2}` (two zones, hence two nodes), `{zone: 2, node: 3}`.
 * Scopes nest `region ⊃ zone ⊃ node`; a node's location is `region[.zone]` (`us-east.a`). The number
 * of copies is the largest count, and counts never decrease towards smaller scopes.
 *
 * - A **write quorum** is a set of nodes that spans at least `count(s)` distinct domains at every scope
 *   s of the property. A record is committed once a write quorum stores it.
 * - An **f-majority** of a nodeset is a set that intersects every write quorum that can be drawn from
 *   the nodeset: its complement cannot host a write quorum. With n nodes and `{node: r}` that is
 *   n − r + 1 nodes. A seal that reached an f-majority leaves no write quorum that could still accept
 *   an old store.
 *
 * The f-majority test here is exact for one scope and conservative for several (it may wait for more
 * answers than strictly needed, never fewer): it asks whether the complement fails the count at some
 * single scope.
 */

import { assert, type NodeId, type Prng } from "../../core/index.js";

export type Scope = "region" | "zone" | "node";
/** Widest first: the order in which spreads and nodesets are balanced. */
export const SCOPES: readonly Scope[] = ["region", "zone", "node"];

export interface ReplicationProperty {
  readonly region?: number;
  readonly zone?: number;
  /** Always set after `parseReplication`: the number of copies. */
  readonly node: number;
}

export interface NodeLocation {
  readonly region: string;
  readonly zone: string;
}

/** Where each node is; nodes without an entry are in the unnamed region and zone. */
export type Topology = ReadonlyMap<NodeId, NodeLocation>;

const NO_LOCATION: NodeLocation = { region: "", zone: "" };

/** Parses `us-east.a` / `us-east` / `` into a location. */
export function parseLocation(text: string): NodeLocation {
  const dot = text.indexOf(".");
  if (dot < 0) return { region: text, zone: "" };
  return { region: text.slice(0, dot), zone: text.slice(dot + 1) };
}

/** Accepts `2`, `{node: 2}`, `{zone: 2}`, `{region: 2, zone: 2, node: 3}`; fills in the node count. */
export function parseReplication(value: unknown): ReplicationProperty {
  if (typeof value === "number") return parseReplication({ node: value });
  if (typeof value !== "object" || value === null) {
    throw new TypeError(`a replication property is a number or an object, found ${String(value)}`);
  }
  const raw = value as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!SCOPES.includes(key as Scope)) {
      throw new TypeError(`unknown replication scope '${key}', expected region, zone or node`);
    }
  }
  const count = (scope: Scope): number | undefined => {
    const v = raw[scope];
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1 || v > 128) {
      throw new TypeError(
        `replication count for '${scope}' must be 1..128, found ${JSON.stringify(v)}`,
      );
    }
    return v;
  };
  const region = count("region");
  const zone = count("zone");
  const node = Math.max(count("node") ?? 0, zone ?? 0, region ?? 0);
  if (node === 0) throw new TypeError("a replication property needs at least one count");
  if (region !== undefined && zone !== undefined && zone < region) {
    throw new TypeError(`zone count ${zone} is below region count ${region}`);
  }
  return {
    ...(region === undefined ? {} : { region }),
    ...(zone === undefined ? {} : { zone }),
    node,
  };
}

export function formatReplication(property: ReplicationProperty): string {
  const parts: string[] = [];
  for (const scope of SCOPES) {
    const c = property[scope];
    if (c !== undefined) parts.push(`${scope}: ${c}`);
  }
  return `{${parts.join(", ")}}`;
}

/** The JSON form kept in loglet params: only the counts that were given or implied. */
export function replicationToJson(property: ReplicationProperty): Record<string, number> {
  const out: Record<string, number> = {};
  for (const scope of SCOPES) {
    const c = property[scope];
    if (c !== undefined) out[scope] = c;
  }
  return out;
}

export function copiesOf(property: ReplicationProperty): number {
  return property.node;
}

/** The scopes the property constrains, widest first, with their counts. */
function constraints(property: ReplicationProperty): { scope: Scope; count: number }[] {
  const out: { scope: Scope; count: number }[] = [];
  for (const scope of SCOPES) {
    const count = property[scope];
    if (count !== undefined) out.push({ scope, count });
  }
  return out;
}

/** The failure domain of a node at a scope, as a comparable string. */
export function domainOf(node: NodeId, scope: Scope, topology: Topology): string {
  const location = topology.get(node) ?? NO_LOCATION;
  switch (scope) {
    case "node":
      return `n${node}`;
    case "zone":
      return `${location.region}.${location.zone}`;
    case "region":
      return location.region;
  }
}

function distinctDomains(nodes: Iterable<NodeId>, scope: Scope, topology: Topology): number {
  const seen = new Set<string>();
  for (const node of nodes) seen.add(domainOf(node, scope, topology));
  return seen.size;
}

export function isWriteQuorum(
  nodes: Iterable<NodeId>,
  property: ReplicationProperty,
  topology: Topology,
): boolean {
  const list = [...nodes];
  for (const { scope, count } of constraints(property)) {
    if (distinctDomains(list, scope, topology) < count) return false;
  }
  return true;
}

/** True when `responded` (a subset of `nodeset`) intersects every write quorum of the nodeset. */
export function isFMajority(
  responded: ReadonlySet<NodeId>,
  nodeset: readonly NodeId[],
  property: ReplicationProperty,
  topology: Topology,
): boolean {
  const rest = nodeset.filter((n) => !responded.has(n));
  for (const { scope, count } of constraints(property)) {
    if (distinctDomains(rest, scope, topology) < count) return true;
  }
  return false;
}

/** Fisher-Yates with the given PRNG: the same seed gives the same order. */
export function shuffled<T>(items: readonly T[], prng: Prng): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = prng.nextInt(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * Picks a spread (the copyset of one batch): the nodes of `include` (which already store the batch)
 * plus nodes of the nodeset, not in `exclude`, until the set is a write quorum. Picks that add a new
 * domain at the widest unmet scope come first, so the spread is as small as the property allows.
 * Returns undefined when no write quorum can be formed without the excluded nodes.
 */
export function selectSpread(
  nodeset: readonly NodeId[],
  property: ReplicationProperty,
  topology: Topology,
  prng: Prng,
  options: { readonly include?: readonly NodeId[]; readonly exclude?: ReadonlySet<NodeId> } = {},
): NodeId[] | undefined {
  const chosen: NodeId[] = [...(options.include ?? [])];
  const taken = new Set(chosen);
  const candidates = shuffled(
    nodeset.filter((n) => !taken.has(n) && !(options.exclude?.has(n) ?? false)),
    prng,
  );
  for (const { scope, count } of constraints(property)) {
    const domains = new Set(chosen.map((n) => domainOf(n, scope, topology)));
    for (const candidate of candidates) {
      if (domains.size >= count) break;
      if (taken.has(candidate)) continue;
      const domain = domainOf(candidate, scope, topology);
      if (domains.has(domain)) continue;
      domains.add(domain);
      chosen.push(candidate);
      taken.add(candidate);
    }
    if (domains.size < count) return undefined;
  }
  assert(isWriteQuorum(chosen, property, topology), "a selected spread is a write quorum");
  return chosen;
}
