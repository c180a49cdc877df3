/**
 * A small seeded PRNG (xoshiro128**, seeded by splitmix32). Pure machines and the simulator take one
 * as input; production code seeds it from the OS at the edge.
 */

export interface Prng {
  /** Uniform in [0, 2^32). */
  nextU32(): number;
  /** Uniform in [0, 1). */
  nextFloat(): number;
  /** Uniform integer in [0, bound). */
  nextInt(bound: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  fillBytes(target: Uint8Array): void;
}

function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export function seededPrng(seed: number): Prng {
  const init = splitmix32(seed);
  let a = init();
  let b = init();
  let c = init();
  let d = init();
  const nextU32 = (): number => {
    const result = Math.imul(((Math.imul(b, 5) << 7) | (Math.imul(b, 5) >>> 25)) >>> 0, 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = (d << 11) | (d >>> 21);
    return result;
  };
  return {
    nextU32,
    nextFloat: () => nextU32() / 2 ** 32,
    nextInt: (bound) => Math.floor((nextU32() / 2 ** 32) * bound),
    chance: (p) => nextU32() / 2 ** 32 < p,
    fillBytes: (target) => {
      for (let i = 0; i < target.length; i += 4) {
        const v = nextU32();
        for (let j = 0; j < 4 && i + j < target.length; j++) target[i + j] = (v >>> (8 * j)) & 255;
      }
    },
  };
}
