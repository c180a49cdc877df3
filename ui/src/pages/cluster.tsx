import { useRef } from "preact/hooks";
import { nodeStatus, type NodeStatus } from "../api.js";
import { Badge, Empty, ErrorBox, Section, Sparkline, show, useLoad } from "../components.js";

/** `keel status` reads the same route; every two seconds is live enough and cheap for the node. */
const POLL_MS = 2000;
const HISTORY = 30;

interface Sample {
  at: number;
  applied: Map<number, number>;
  /** The most a replica of each partition is behind the one furthest ahead (records). */
  lag: Map<number, number>;
  /** The leader's recent time for an append to become durable, per partition (ms). */
  latency: Map<number, number>;
}

/** Records applied per second for each partition, from the highest applied LSN of two polls. */
function throughput(history: Sample[]): Map<number, number[]> {
  const rates = new Map<number, number[]>();
  for (let i = 1; i < history.length; i++) {
    const before = history[i - 1]!;
    const after = history[i]!;
    const seconds = (after.at - before.at) / 1000;
    if (seconds <= 0) continue;
    for (const [partition, lsn] of after.applied) {
      const previous = before.applied.get(partition);
      if (previous === undefined) continue;
      const list = rates.get(partition) ?? [];
      list.push(Math.max(0, (lsn - previous) / seconds));
      rates.set(partition, list);
    }
  }
  return rates;
}

function lagOf(status: NodeStatus): Map<number, number> {
  const lag = new Map<number, number>();
  for (const p of status.cluster?.partitions ?? []) {
    const applied = p.replicas.flatMap((r) => (r.applied_lsn === null ? [] : [r.applied_lsn]));
    if (applied.length > 0) lag.set(p.id, Math.max(...applied) - Math.min(...applied));
  }
  return lag;
}

function latencyOf(status: NodeStatus): Map<number, number> {
  const latency = new Map<number, number>();
  const partitions =
    status.cluster?.partitions.map((p) => ({
      id: p.id,
      ms: p.replicas.find((r) => r.append_latency_ms !== null)?.append_latency_ms ?? null,
    })) ?? status.partitions.map((p) => ({ id: p.id, ms: p.append_latency_ms }));
  for (const { id, ms } of partitions) if (ms !== null) latency.set(id, ms);
  return latency;
}

function appliedOf(status: NodeStatus): Map<number, number> {
  const applied = new Map<number, number>();
  if (status.cluster !== undefined) {
    for (const p of status.cluster.partitions)
      applied.set(p.id, Math.max(0, ...p.replicas.map((r) => r.applied_lsn ?? 0)));
  } else {
    for (const p of status.partitions) applied.set(p.id, p.applied_lsn);
  }
  return applied;
}

export function ClusterPage() {
  const history = useRef<Sample[]>([]);
  const status = useLoad(
    async () => {
      const value = await nodeStatus();
      history.current = [
        ...history.current,
        {
          at: performance.now(),
          applied: appliedOf(value),
          lag: lagOf(value),
          latency: latencyOf(value),
        },
      ].slice(-HISTORY);
      return value;
    },
    [],
    POLL_MS,
  );
  const node = status.data;
  const rates = throughput(history.current);
  const rate = (partition: number) => {
    const values = rates.get(partition) ?? [];
    return (
      <span class="rate">
        <Sparkline values={values} label={`partition ${partition} records applied per second`} />{" "}
        {values.length === 0 ? "…" : `${values[values.length - 1]!.toFixed(1)}/s`}
      </span>
    );
  };
  const lagChart = (partition: number) => {
    const values = history.current.flatMap((s) => {
      const lag = s.lag.get(partition);
      return lag === undefined ? [] : [lag];
    });
    return (
      <span class="rate">
        <Sparkline values={values} label={`partition ${partition} replication lag in records`} />{" "}
        {values.length === 0 ? "…" : `${values[values.length - 1]}`}
      </span>
    );
  };
  const latencyChart = (partition: number) => {
    const values = history.current.flatMap((s) => {
      const ms = s.latency.get(partition);
      return ms === undefined ? [] : [ms];
    });
    return (
      <span class="rate">
        <Sparkline values={values} label={`partition ${partition} append latency in ms`} />{" "}
        {values.length === 0 ? "…" : `${values[values.length - 1]!.toFixed(1)} ms`}
      </span>
    );
  };
  const cluster = node?.cluster;
  /** Partitions and logs name nodes by plain id (N2); the nodes table by name and generation. */
  const nameOf = (plainId: string) =>
    cluster?.nodes.find((n) => n.node_id.split(":")[0] === plainId)?.name ?? "";
  return (
    <>
      <h1 tabIndex={-1}>Cluster</h1>
      <p class="muted">
        Updated every {POLL_MS / 1000} s from <code>GET /keel/status</code> (what{" "}
        <code>keel status</code> shows) of node {node?.node ?? "…"}. Throughput is derived from
        applied LSNs between polls, replica lag from the replicas' applied LSNs, latency is the
        leader's recent time for an append to the partition's log to become durable.
      </p>
      <ErrorBox error={status.error} />
      {node === undefined ? null : cluster === undefined ? (
        <>
          <Empty>
            A single node: no cluster membership, replicas or metadata members. Its partitions:
          </Empty>
          <Section title="Partitions">
            <table aria-label="Partitions">
              <thead>
                <tr>
                  <th>Partition</th>
                  <th>Role</th>
                  <th>Epoch</th>
                  <th>Applied LSN</th>
                  <th>Log tail</th>
                  <th>Trim point</th>
                  <th>Snapshot LSN</th>
                  <th>Segments</th>
                  <th>Throughput</th>
                  <th>Append latency</th>
                </tr>
              </thead>
              <tbody>
                {node.partitions.map((p) => (
                  <tr key={p.id}>
                    <td>{p.id}</td>
                    <td>{p.role}</td>
                    <td>{p.epoch}</td>
                    <td>{p.applied_lsn}</td>
                    <td>{show(p.log_tail)}</td>
                    <td>{show(p.trim_point)}</td>
                    <td>{show(p.snapshot_lsn)}</td>
                    <td>{p.segments}</td>
                    <td>{rate(p.id)}</td>
                    <td>{latencyChart(p.id)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Section>
        </>
      ) : (
        <>
          <Section title="Nodes">
            <table aria-label="Nodes">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Node id (generation)</th>
                  <th>Address</th>
                  <th>Location</th>
                  <th>Roles</th>
                  <th>Alive</th>
                </tr>
              </thead>
              <tbody>
                {cluster.nodes.map((n) => (
                  <tr key={n.name} data-node={n.name}>
                    <td>{n.name}</td>
                    <td class="mono">{n.node_id}</td>
                    <td class="mono">{n.address}</td>
                    <td>{n.location === "" ? "—" : n.location}</td>
                    <td>{n.roles.join(", ")}</td>
                    <td>
                      <Badge value={n.alive ? "alive" : "dead"} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Section>
          <Section title="Partitions">
            <table aria-label="Partitions">
              <thead>
                <tr>
                  <th>Partition</th>
                  <th>Leader</th>
                  <th>Replicas (role, epoch, applied LSN, lag)</th>
                  <th>Throughput (records/s)</th>
                  <th>Replica lag (records)</th>
                  <th>Append latency (ms)</th>
                </tr>
              </thead>
              <tbody>
                {cluster.partitions.map((p) => {
                  const top = Math.max(0, ...p.replicas.map((r) => r.applied_lsn ?? 0));
                  return (
                    <tr key={p.id} data-partition={p.id}>
                      <td>{p.id}</td>
                      <td>
                        {p.leader === null ? (
                          <Badge value="no-leader" />
                        ) : (
                          <>
                            <span class="leader">{p.leader}</span>{" "}
                            <span class="muted">{nameOf(p.leader)}</span>
                          </>
                        )}
                      </td>
                      <td>
                        <ul class="replicas">
                          {p.replicas.map((r) => (
                            <li key={r.node}>
                              <strong>{r.node}</strong> <span class="muted">{nameOf(r.node)}</span>{" "}
                              {r.role ?? "unreachable"}
                              {r.epoch === null ? "" : `, epoch ${r.epoch}`}
                              {r.applied_lsn === null ? "" : `, applied ${r.applied_lsn}`}
                              {r.applied_lsn === null ? "" : `, lag ${top - r.applied_lsn}`}
                            </li>
                          ))}
                        </ul>
                      </td>
                      <td>{rate(p.id)}</td>
                      <td>{lagChart(p.id)}</td>
                      <td>{latencyChart(p.id)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </Section>
          <Section title="Logs">
            {cluster.logs.length === 0 ? (
              <Empty>No log chains.</Empty>
            ) : (
              <table aria-label="Logs">
                <thead>
                  <tr>
                    <th>Log</th>
                    <th>Segments (base LSN, provider, sequencer, nodeset, sealed)</th>
                    <th>Trim point</th>
                    <th>Snapshot LSN</th>
                  </tr>
                </thead>
                <tbody>
                  {cluster.logs.map((log) => {
                    const here = node.partitions.find((p) => p.id === log.log_id);
                    const replica = cluster.partitions
                      .find((p) => p.id === log.log_id)
                      ?.replicas.find((r) => r.trim_point !== null);
                    return (
                      <tr key={log.log_id}>
                        <td>{log.log_id}</td>
                        <td>
                          <ol class="segments">
                            {log.segments.map((s) => (
                              <li key={s.index} class={s.sealed ? "sealed" : "open"}>
                                #{s.index} from {s.base_lsn}, {s.provider}
                                {s.sequencer === null ? "" : `, sequencer ${s.sequencer}`}
                                {s.nodeset === null
                                  ? ""
                                  : `, nodeset [${s.nodeset.join(", ")}]`}{" "}
                                <Badge value={s.sealed ? "sealed" : "open"} />
                              </li>
                            ))}
                          </ol>
                        </td>
                        <td>{show(here?.trim_point ?? replica?.trim_point ?? null)}</td>
                        <td>{show(here?.snapshot_lsn ?? null)}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            )}
          </Section>
          <Section title="Metadata members">
            {cluster.metadata_members.length === 0 ? (
              <Empty>No metadata members reported.</Empty>
            ) : (
              <table aria-label="Metadata members">
                <thead>
                  <tr>
                    <th>Node</th>
                    <th>Address</th>
                    <th>Role</th>
                    <th>Term</th>
                    <th>Leader</th>
                    <th>Commit / applied</th>
                    <th>Voters</th>
                    <th>Problem</th>
                  </tr>
                </thead>
                <tbody>
                  {cluster.metadata_members.map((m) => (
                    <tr key={m.node}>
                      <td>{m.node}</td>
                      <td class="mono">{m.address}</td>
                      <td>{m.role}</td>
                      <td>{m.term}</td>
                      <td>{m.leader ?? "—"}</td>
                      <td>
                        {m.commit_index} / {m.applied_index}
                      </td>
                      <td>{m.voters?.join(", ") ?? ""}</td>
                      <td class={m.problem === null ? "" : "bad"}>{m.problem ?? ""}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </Section>
        </>
      )}
    </>
  );
}
