/**
 * Test support (not used in production): a handful of Raft members wired together in memory, with a
 * hand-driven network, for scenario tests that read like the protocol's story. Storage is perfect
 * and instantaneous unless a member crashes between persisting and sending; messages move only when
 * a test delivers them, so every interleaving a test wants can be written down.
 */

import { assert, defined, fromUtf8, utf8, seededPrng } from "../../core/index.js";
import { bootstrapState } from "./bootstrap.js";
import { DEFAULT_RAFT_LIMITS, type RaftLimits, type TestOnlyFaults } from "./config.js";
import { Raft, type RaftRecovered, type Ready } from "./raft.js";
import {
  EMPTY_HARD_STATE,
  EMPTY_SNAPSHOT,
  MemberId,
  type Entry,
  type LogIndex,
  type RaftMessage,
  type Role,
} from "./types.js";

interface TestMember {
  raft: Raft;
  durable: {
    hardState: RaftRecovered["hardState"];
    snapshot: RaftRecovered["snapshot"];
    entries: Entry[];
  };
  /** What the state machine applied: command texts in order, reset by a snapshot restore. */
  applied: string[];
  up: boolean;
}

export interface TestClusterOptions {
  readonly seed?: number;
  readonly limits?: Partial<RaftLimits>;
  readonly faults?: TestOnlyFaults;
  /** Members that exist but are not in the initial membership (they join later). */
  readonly spares?: readonly number[];
}

export class RaftTestCluster {
  readonly members = new Map<MemberId, TestMember>();
  /** Messages sent and not yet delivered, in sending order. */
  network: RaftMessage[] = [];
  private readonly cut = new Set<string>();
  private readonly limits: RaftLimits;
  private seed: number;

  constructor(
    voters: readonly number[],
    private readonly options: TestClusterOptions = {},
  ) {
    this.limits = { ...DEFAULT_RAFT_LIMITS, ...options.limits };
    this.seed = options.seed ?? 1;
    const addresses: Record<number, string> = {};
    for (const id of voters) addresses[id] = `n${id}`;
    const initial = bootstrapState(
      { voters: voters.map(MemberId), learners: [], addresses },
      utf8(""),
    );
    for (const id of voters) this.addMember(MemberId(id), initial);
    for (const id of options.spares ?? []) {
      this.addMember(MemberId(id), {
        hardState: EMPTY_HARD_STATE,
        snapshot: EMPTY_SNAPSHOT,
        entries: [],
      });
    }
  }

  raft(id: number): Raft {
    return defined(this.members.get(MemberId(id)), `member ${id}`).raft;
  }

  role(id: number): Role {
    return this.raft(id).status().role;
  }

  applied(id: number): string[] {
    return defined(this.members.get(MemberId(id)), `member ${id}`).applied;
  }

  /** The leader with the highest term among the members that are up, if any. */
  leader(): number | undefined {
    let best: { id: number; term: number } | undefined;
    for (const [id, member] of this.members) {
      const status = member.raft.status();
      if (!member.up || status.role !== "leader") continue;
      if (best === undefined || status.term > best.term) best = { id, term: status.term };
    }
    return best?.id;
  }

  tick(id: number, times = 1): void {
    for (let k = 0; k < times; k++) this.raft(id).tick();
  }

  /** Ticks every member that is up, `times` times, stabilizing after each round. */
  tickAll(times = 1): void {
    for (let k = 0; k < times; k++) {
      for (const [id, member] of this.members) if (member.up) this.tick(id);
      this.stabilize();
    }
  }

  propose(id: number, text: string): ReturnType<Raft["propose"]> {
    return this.raft(id).propose(utf8(text));
  }

  /** Cuts `id` off from everyone, both ways. */
  isolate(id: number): void {
    for (const other of this.members.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}>${other}`);
      this.cut.add(`${other}>${id}`);
    }
  }

  heal(): void {
    this.cut.clear();
  }

  /** The member stops: what it did not persist is lost, as are messages addressed to it. */
  crash(id: number): void {
    const member = defined(this.members.get(MemberId(id)), `member ${id}`);
    member.up = false;
    this.network = this.network.filter((m) => m.to !== id);
  }

  restart(id: number): void {
    const member = defined(this.members.get(MemberId(id)), `member ${id}`);
    this.seed++;
    member.raft = new Raft(
      {
        id: MemberId(id),
        limits: this.limits,
        ...(this.options.faults ? { testOnlyFaults: this.options.faults } : {}),
      },
      { ...member.durable, entries: [...member.durable.entries] },
      seededPrng(this.seed),
    );
    member.applied = [];
    member.up = true;
  }

  /** Processes one ready of `id`: persist, send, apply, advance. Returns false when none was due. */
  processReady(id: number): boolean {
    const member = defined(this.members.get(MemberId(id)), `member ${id}`);
    if (!member.up || !member.raft.hasReady()) return false;
    const ready = member.raft.ready();
    this.network.push(...ready.messagesNow);
    this.persist(member, ready);
    this.network.push(...ready.messagesAfterPersist);
    if (ready.snapshot?.restore === true)
      member.applied = [`<snapshot ${ready.snapshot.snapshot.index}>`];
    for (const entry of ready.committedEntries) {
      if (entry.kind === "command") member.applied.push(fromUtf8(entry.data));
    }
    member.raft.advance(ready);
    return true;
  }

  /** Delivers the messages in flight that match `filter` (all by default); returns how many. */
  deliver(filter: (m: RaftMessage) => boolean = () => true): number {
    const now = this.network.filter(filter);
    this.network = this.network.filter((m) => !filter(m));
    let delivered = 0;
    for (const message of now) {
      const target = this.members.get(message.to);
      if (target === undefined || !target.up || this.cut.has(`${message.from}>${message.to}`))
        continue;
      target.raft.step(message);
      delivered++;
    }
    return delivered;
  }

  /** Drops the messages in flight that match `filter`. */
  drop(filter: (m: RaftMessage) => boolean): void {
    this.network = this.network.filter((m) => !filter(m));
  }

  /** Processes readies and delivers messages until nothing moves. */
  stabilize(roundsMax = 1000): void {
    for (let round = 0; round < roundsMax; round++) {
      let moved = false;
      for (const id of this.members.keys()) while (this.processReady(id)) moved = true;
      if (this.deliver() > 0) moved = true;
      if (this.network.length > 0) moved = true;
      if (!moved) return;
    }
    assert(false, `the cluster did not stabilize within ${roundsMax} rounds`);
  }

  /**
   * Makes `id` campaign at once, ignoring leases, as a leadership transfer does: the test's way to
   * say "this member's election timer fires first".
   */
  forceCampaign(id: number): void {
    const raft = this.raft(id);
    const someoneElse = [...this.members.keys()].find((other) => other !== id);
    raft.step({
      kind: "timeoutNow",
      from: defined(someoneElse, "another member"),
      to: MemberId(id),
      term: raft.status().term,
    });
  }

  /** Ticks everyone until a leader exists (or gives up). */
  electLeader(ticksMax = 200): number {
    for (let k = 0; k < ticksMax; k++) {
      const leader = this.leader();
      if (leader !== undefined) return leader;
      this.tickAll();
    }
    assert(false, `no leader after ${ticksMax} ticks`);
  }

  commitOf(id: number): LogIndex {
    return this.raft(id).status().commit;
  }

  private addMember(id: MemberId, recovered: RaftRecovered): void {
    this.seed++;
    this.members.set(id, {
      raft: new Raft(
        {
          id,
          limits: this.limits,
          ...(this.options.faults ? { testOnlyFaults: this.options.faults } : {}),
        },
        recovered,
        seededPrng(this.seed),
      ),
      durable: {
        hardState: recovered.hardState,
        snapshot: recovered.snapshot,
        entries: [...recovered.entries],
      },
      applied: [],
      up: true,
    });
  }

  private persist(member: TestMember, ready: Ready): void {
    const durable = member.durable;
    if (ready.snapshot !== undefined) {
      const snapshot = ready.snapshot.snapshot;
      durable.snapshot = snapshot;
      durable.entries = ready.snapshot.restore
        ? []
        : durable.entries.filter((e) => e.index > snapshot.index);
    }
    const first = ready.entries[0];
    if (first !== undefined) {
      durable.entries = durable.entries.filter((e) => e.index < first.index).concat(ready.entries);
    }
    if (ready.hardState !== undefined) durable.hardState = ready.hardState;
  }
}
