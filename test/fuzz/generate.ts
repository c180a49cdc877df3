/**
 * Seeded input generators for the fuzz tests: a tiny hand-written toolkit over the project's PRNG
 * (no fuzzing library). Everything a generator returns follows from the seed, so a failing seed
 * replays exactly.
 */

import { seededPrng, type Prng } from "../../src/core/prng.js";

export class Gen {
  constructor(readonly prng: Prng) {}

  int(bound: number): number {
    return this.prng.nextInt(bound);
  }

  chance(p: number): boolean {
    return this.prng.chance(p);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.prng.nextInt(items.length)]!;
  }

  /** Picks a generator by weight and runs it. */
  weighted<T>(choices: readonly [number, () => T][]): T {
    const total = choices.reduce((n, [w]) => n + w, 0);
    let at = this.prng.nextInt(total);
    for (const [weight, make] of choices) {
      if (at < weight) return make();
      at -= weight;
    }
    return choices[choices.length - 1]![1]();
  }

  bytes(maxLength: number): Uint8Array {
    const out = new Uint8Array(this.prng.nextInt(maxLength + 1));
    this.prng.fillBytes(out);
    return out;
  }

  /** Printable ASCII, sometimes with control or non-ASCII characters. */
  text(maxLength: number): string {
    const length = this.prng.nextInt(maxLength + 1);
    let out = "";
    for (let i = 0; i < length; i++) {
      out += this.weighted<string>([
        [20, () => String.fromCharCode(0x20 + this.int(0x5f))],
        [1, () => String.fromCharCode(this.int(0x20))],
        [1, () => this.pick(["é", "ü", "λ", "中", "😀", "\u00ff", "\u007f", "\ufffd"])],
      ]);
    }
    return out;
  }

  /** A protobuf varint of `value` (below 2^64), or, rarely, an over-long one (11 bytes). */
  varint(value: bigint): Uint8Array {
    const out: number[] = [];
    let v = value;
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) byte |= 0x80;
      out.push(byte);
    } while (v > 0n);
    if (this.chance(0.02))
      return Uint8Array.from([
        ...out.slice(0, -1).map((b) => b | 0x80),
        ...Array(11).fill(0x80),
        1,
      ]);
    return Uint8Array.from(out);
  }

  /** Integers that break code: zero, small, boundaries of 31/32/53/63/64 bits. */
  interestingInteger(): bigint {
    return this.pick([
      0n,
      1n,
      2n,
      17n,
      BigInt(this.int(1000)),
      2n ** 31n - 1n,
      2n ** 31n,
      2n ** 32n - 1n,
      2n ** 32n,
      2n ** 53n - 1n,
      2n ** 53n + 1n,
      2n ** 63n,
      2n ** 64n - 1n,
      BigInt(Date.UTC(2030, 0, 1)),
    ]);
  }

  /**
   * Random protobuf wire data: fields with numbers the service protocol uses (and others), every wire
   * type including invalid ones, nested messages, and occasionally a cut in the middle.
   */
  protobuf(depth = 0): Uint8Array {
    const parts: Uint8Array[] = [];
    const fields = this.int(6);
    for (let i = 0; i < fields; i++) {
      const field = BigInt(
        this.weighted<number>([
          [8, () => 1 + this.int(6)],
          [4, () => 10 + this.int(6)],
          [1, () => 1 + this.int(2 ** 20)],
        ]),
      );
      const wireType = this.weighted<number>([
        [5, () => 0],
        [6, () => 2],
        [1, () => 1],
        [1, () => 5],
        [1, () => this.pick([3, 4, 6, 7])],
      ]);
      parts.push(this.varint((field << 3n) | BigInt(wireType)));
      switch (wireType) {
        case 0:
          parts.push(this.varint(this.interestingInteger()));
          break;
        case 1:
          parts.push(this.bytes(8).slice(0, 8));
          break;
        case 5:
          parts.push(this.bytes(4).slice(0, 4));
          break;
        case 2: {
          const content = this.weighted<Uint8Array>([
            [3, () => new TextEncoder().encode(this.text(24))],
            [2, () => this.bytes(32)],
            [depth < 3 ? 3 : 0, () => this.protobuf(depth + 1)],
          ]);
          const declared = this.chance(0.05)
            ? BigInt(content.length + 1 + this.int(1000))
            : BigInt(content.length);
          parts.push(this.varint(declared), content);
          break;
        }
        default:
          break;
      }
    }
    const whole = concat(parts);
    return this.chance(0.05) ? whole.subarray(0, this.int(whole.length + 1)) : whole;
  }

  /** Flips, cuts, inserts or duplicates bytes. */
  mutate(input: Uint8Array): Uint8Array {
    const bytes = Uint8Array.from(input);
    return this.weighted<Uint8Array>([
      [
        3,
        () => {
          if (bytes.length > 0) bytes[this.int(bytes.length)]! ^= 1 << this.int(8);
          return bytes;
        },
      ],
      [3, () => bytes.subarray(0, this.int(bytes.length + 1))],
      [
        1,
        () => {
          const at = this.int(bytes.length + 1);
          return concat([bytes.subarray(0, at), this.bytes(8), bytes.subarray(at)]);
        },
      ],
      [1, () => concat([bytes, bytes])],
    ]);
  }

  /** Splits bytes into one to eight chunks at random points (chunk boundaries are arbitrary). */
  chunks(input: Uint8Array): Uint8Array[] {
    const cuts = new Set<number>();
    const count = this.int(8);
    for (let i = 0; i < count && input.length > 1; i++) cuts.add(1 + this.int(input.length - 1));
    const sorted = [...cuts].sort((a, b) => a - b);
    const out: Uint8Array[] = [];
    let from = 0;
    for (const cut of [...sorted, input.length]) {
      out.push(input.subarray(from, cut));
      from = cut;
    }
    return out.filter((c) => c.length > 0);
  }
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * The seeds a fuzz test runs: with `KEEL_FUZZ_SEED`, that one alone; otherwise the regression seeds,
 * then seeds drawn from a printed master seed (`KEEL_FUZZ_MASTER_SEED` replays the sequence) until
 * `KEEL_FUZZ_SECONDS` (default `defaultSeconds`) are spent.
 */
export function fuzzSeeds(
  name: string,
  regressionSeeds: readonly number[],
  defaultSeconds: number,
): { next: () => number | undefined; budgetMs: number; masterSeed: number } {
  const only = process.env["KEEL_FUZZ_SEED"];
  const budgetMs = Number(process.env["KEEL_FUZZ_SECONDS"] ?? String(defaultSeconds)) * 1000;
  const masterSeed = Number(
    process.env["KEEL_FUZZ_MASTER_SEED"] ?? String(Math.floor(Math.random() * 2 ** 31)),
  );
  console.log(
    only !== undefined
      ? `${name}: replaying seed ${only}`
      : `${name}: master seed ${masterSeed} (replay the run with KEEL_FUZZ_MASTER_SEED=${masterSeed})`,
  );
  const queue = only !== undefined ? [Number(only)] : [...regressionSeeds];
  const master = seededPrng(masterSeed);
  const deadline = Date.now() + budgetMs;
  return {
    budgetMs,
    masterSeed,
    next: () => {
      if (queue.length > 0) return queue.shift();
      if (only !== undefined || Date.now() > deadline) return undefined;
      return master.nextU32() >>> 1;
    },
  };
}
