/**
 * The answer of `GET /keel/status`, in the admin API's snake case: what the admin API sends and what
 * `keel status` and the web UI read. Types only, so the browser's bundle can share them.
 */

export interface PartitionStatusJson {
  id: number;
  role: string;
  leader: string | null;
  epoch: number;
  applied_lsn: number;
  /** null: the log's servers did not answer in time. */
  log_tail: number | null;
  trim_point: number | null;
  segments: number;
  timers: number;
  /** The leader's recent time for an append to become durable (ms); null on a follower. */
  append_latency_ms: number | null;
  snapshot_lsn: number | null;
  snapshot_created_at_ms: number | null;
}

export interface ClusterStatusJson {
  nodes: {
    name: string;
    node_id: string;
    address: string;
    location: string;
    roles: readonly string[];
    alive: boolean;
  }[];
  partitions: {
    id: number;
    leader: string | null;
    replicas: {
      node: string;
      role: string | null;
      epoch: number | null;
      applied_lsn: number | null;
      log_tail: number | null;
      trim_point: number | null;
      append_latency_ms: number | null;
    }[];
  }[];
  logs: {
    log_id: number;
    segments: {
      index: number;
      base_lsn: number;
      provider: string;
      sealed: boolean;
      sequencer: string | null;
      nodeset: readonly string[] | null;
      replication: string | null;
    }[];
  }[];
  metadata_members: {
    node: string;
    address: string;
    role: string;
    term: number;
    leader: string | null;
    commit_index: number;
    applied_index: number;
    voters: string[] | null;
    learners: string[] | null;
    problem: string | null;
  }[];
}

/** A Kafka subscription consumed on the node, with its lag per topic partition. */
export interface SubscriptionStatusJson {
  id: string;
  state: string;
  problem: string | null;
  records: number;
  /** Records behind the high watermarks, over its partitions. */
  lag: number;
  partitions: {
    topic: string;
    partition: number;
    next_offset: number | null;
    high_watermark: number;
    lag: number;
  }[];
}

export interface NodeStatusJson {
  keel_version: string;
  restate_compatible_version: string;
  node: string;
  node_id: string | null;
  cluster_name: string;
  ready: boolean;
  schema_version: number;
  running_attempts: number;
  storage_problem: string | null;
  snapshot_destination: string | null;
  snapshot_problem: string | null;
  partitions: PartitionStatusJson[];
  /** The Kafka subscriptions this node consumes. */
  subscriptions: SubscriptionStatusJson[];
  cluster?: ClusterStatusJson;
}
