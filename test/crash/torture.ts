/**
 * Crash torture: a real keel-server and SDK endpoint under a concurrent mixed load (ledger appends on
 * many keys, cross-partition call chains, delayed sends, sleeps followed by one-way calls, idempotent
 * calls, workflows waiting on promises), while the server is killed with SIGKILL at random moments and
 * restarted on the same data. A checker then proves:
 * - every acknowledged effect is present exactly once, every unacknowledged one at most once
 *   (each ledger append carries a unique token, so duplicates are visible);
 * - every workflow and timer completes;
 * - every idempotent call returns its original result.
 * Everything random comes from the printed seed.
 */

import { seededPrng, type Prng } from "../../src/core/prng.js";
import {
  call,
  eventually,
  postJson,
  register,
  startKeel,
  startServices,
  type KeelServer,
} from "../e2e/harness.js";

export interface TortureOptions {
  readonly seed: number;
  readonly kills: number;
  readonly concurrency: number;
  /** Milliseconds between the server becoming ready and the next kill, drawn uniformly. */
  readonly killDelayMs: readonly [number, number];
  readonly log: (line: string) => void;
}

export interface TortureReport {
  readonly seed: number;
  readonly kills: number;
  readonly operations: number;
  readonly acknowledged: number;
  readonly unknown: number;
  readonly violations: string[];
}

type Outcome = "ack" | "unknown" | "refused";

/** A request's fate: answered (ack), never sent (connection refused), or unknown (lost in a crash). */
async function classify(
  request: () => Promise<{ status: number }>,
  okStatus: number,
): Promise<Outcome> {
  try {
    const res = await request();
    if (res.status === okStatus) return "ack";
    return res.status >= 500 ? "unknown" : "refused";
  } catch (error) {
    const code = (error as { cause?: { code?: string } }).cause?.code;
    return code === "ECONNREFUSED" ? "refused" : "unknown";
  }
}

interface TokenRecord {
  key: string;
  outcome: Outcome;
}

export async function runTorture(options: TortureOptions): Promise<TortureReport> {
  const prng: Prng = seededPrng(options.seed);
  const { log } = options;
  const keel = await startKeel();
  const services = await startServices();
  const registered = await register(keel.admin, services.url);
  if (registered.status !== 201)
    throw new Error(`registration failed: ${JSON.stringify(registered.body)}`);
  const url = (path: string): string => `${keel.ingress}${path}`;

  const tokens = new Map<string, TokenRecord>();
  const stamps = new Map<string, { result: string | undefined; outcome: Outcome }>();
  const workflows = new Map<string, { submitted: Outcome; secret: string }>();
  let operations = 0;
  let seq = 0;
  const ledgerKeys = Array.from({ length: 24 }, (_, i) => `L${options.seed % 1000}-${i}`);
  const pickKey = (): string => ledgerKeys[prng.nextInt(ledgerKeys.length)]!;
  const newToken = (): string => `t${options.seed}-${++seq}`;
  let stopping = false;

  const operation = async (): Promise<void> => {
    operations++;
    const kind = prng.nextInt(6);
    switch (kind) {
      case 0: {
        const key = pickKey();
        const token = newToken();
        tokens.set(token, { key, outcome: "unknown" });
        tokens.get(token)!.outcome = await classify(
          () => postJson(url(`/Ledger/${key}/append`), token),
          200,
        );
        return;
      }
      case 1: {
        const entries = [pickKey(), pickKey(), pickKey()].map((key) => ({
          key,
          token: newToken(),
        }));
        for (const e of entries) tokens.set(e.token, { key: e.key, outcome: "unknown" });
        const outcome = await classify(() => postJson(url("/LedgerOps/appendAll"), entries), 200);
        for (const e of entries) tokens.get(e.token)!.outcome = outcome;
        return;
      }
      case 2: {
        const key = pickKey();
        const token = newToken();
        tokens.set(token, { key, outcome: "unknown" });
        const delay = 200 + prng.nextInt(1500);
        tokens.get(token)!.outcome = await classify(
          () => postJson(url(`/Ledger/${key}/append/send?delay=${delay}ms`), token),
          202,
        );
        return;
      }
      case 3: {
        const key = pickKey();
        const token = newToken();
        tokens.set(token, { key, outcome: "unknown" });
        const ms = 100 + prng.nextInt(1500);
        tokens.get(token)!.outcome = await classify(
          () => postJson(url("/LedgerOps/napThenAppend/send"), { key, token, ms }),
          202,
        );
        return;
      }
      case 4: {
        const idem = `s${options.seed}-${++seq}`;
        const entry: { result: string | undefined; outcome: Outcome } = {
          result: undefined,
          outcome: "unknown",
        };
        stamps.set(idem, entry);
        entry.outcome = await classify(async () => {
          const res = await postJson(url("/Stamp/once"), idem, { "idempotency-key": idem });
          if (res.status === 200) entry.result = res.json<string>();
          return res;
        }, 200);
        return;
      }
      default: {
        const id = `w${options.seed}-${++seq}`;
        const secret = `secret-${id}`;
        workflows.set(id, { submitted: "unknown", secret });
        workflows.get(id)!.submitted = await classify(
          () => postJson(url(`/Signup/${id}/run/send`), `${id}@x`),
          202,
        );
        // Resolve the promise later, maybe across a crash.
        await new Promise((r) => setTimeout(r, prng.nextInt(800)));
        await classify(() => postJson(url(`/Signup/${id}/click`), secret), 200);
        return;
      }
    }
  };

  const worker = async (): Promise<void> => {
    while (!stopping) {
      await operation();
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const workers = Array.from({ length: options.concurrency }, () => worker());

  let kills = 0;
  try {
    for (; kills < options.kills; kills++) {
      const [lo, hi] = options.killDelayMs;
      await new Promise((r) => setTimeout(r, lo + prng.nextInt(hi - lo)));
      await keel.kill9();
      log(`kill ${kills + 1}/${options.kills} after ${operations} operations`);
      await keel.restart();
    }
  } finally {
    stopping = true;
    await Promise.all(workers);
  }
  log(`load stopped after ${operations} operations; checking`);
  const violations = await check(keel, tokens, stamps, workflows, ledgerKeys);
  await services.stop();
  await keel.stop();
  if (violations.length === 0) keel.cleanup();
  else log(`data kept for inspection in ${keel.baseDir}`);
  let acknowledged = 0;
  let unknown = 0;
  for (const t of tokens.values()) {
    if (t.outcome === "ack") acknowledged++;
    if (t.outcome === "unknown") unknown++;
  }
  return { seed: options.seed, kills, operations, acknowledged, unknown, violations };
}

async function check(
  keel: KeelServer,
  tokens: Map<string, TokenRecord>,
  stamps: Map<string, { result: string | undefined; outcome: Outcome }>,
  workflows: Map<string, { submitted: Outcome; secret: string }>,
  ledgerKeys: string[],
): Promise<string[]> {
  const violations: string[] = [];
  const url = (path: string): string => `${keel.ingress}${path}`;

  // Workflows: each submitted one completes once its promise is resolved (resolve again if needed).
  for (const [id, wf] of workflows) {
    if (wf.submitted === "refused") continue;
    const output = await call(url(`/restate/workflow/Signup/${id}/output`));
    if (output.status === 404 && wf.submitted === "unknown") continue;
    if (output.status === 404) {
      violations.push(`workflow ${id} was acknowledged but is unknown`);
      continue;
    }
    if (output.status === 470) await postJson(url(`/Signup/${id}/click`), wf.secret);
    const attached = await call(url(`/restate/workflow/Signup/${id}/attach`));
    if (attached.status !== 200 || attached.json() !== `signed up ${id}@x with ${wf.secret}`) {
      violations.push(`workflow ${id}: ${attached.status} ${attached.text}`);
    }
  }

  // Ledgers: wait until every acknowledged token (including timers and delayed sends) is applied.
  const counts = new Map<string, number>();
  const readAll = async (): Promise<void> => {
    counts.clear();
    for (const key of ledgerKeys) {
      const res = await postJson(url(`/Ledger/${key}/tokens`), null);
      for (const token of res.json<string[]>()) counts.set(token, (counts.get(token) ?? 0) + 1);
    }
  };
  await eventually(
    async () => {
      await readAll();
      for (const [token, t] of tokens)
        if (t.outcome === "ack" && (counts.get(token) ?? 0) === 0) return undefined;
      return true;
    },
    "every acknowledged token applied",
    90_000,
  ).catch(() => undefined);
  await readAll();
  for (const [token, t] of tokens) {
    const n = counts.get(token) ?? 0;
    if (t.outcome === "ack" && n !== 1)
      violations.push(`acknowledged token ${token} on ${t.key} applied ${n} times`);
    if (t.outcome !== "ack" && n > 1)
      violations.push(`unacknowledged token ${token} on ${t.key} applied ${n} times`);
    if (t.outcome === "refused" && n !== 0)
      violations.push(`refused token ${token} applied ${n} times`);
  }
  for (const token of counts.keys())
    if (!tokens.has(token)) violations.push(`unknown token ${token} in a ledger`);

  // Idempotent calls: a repeat returns the original result.
  for (const [idem, s] of stamps) {
    if (s.outcome === "refused") continue;
    const again = await postJson(url("/Stamp/once"), idem, { "idempotency-key": idem });
    if (again.status !== 200) {
      violations.push(`idempotent call ${idem}: repeat answered ${again.status} ${again.text}`);
      continue;
    }
    if (s.outcome === "ack" && again.json() !== s.result) {
      violations.push(`idempotent call ${idem}: first ${s.result ?? "?"}, repeat ${again.text}`);
    }
  }
  return violations;
}
