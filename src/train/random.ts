/**
 * A seeded pseudo-random generator whose every draw is the same in Node and in any browser:
 * xoshiro128** on 32-bit integer arithmetic (Math.imul), uniforms built from 53 random bits, and
 * normals by Marsaglia's polar method with a logarithm computed here from +, *, / and sqrt only
 * (IEEE-754 rounds those exactly the same everywhere, while Math.log may differ in the last bit
 * between JavaScript engines). The state is four 32-bit words, saved with a training run so that
 * a resumed run draws what an uninterrupted one would.
 */

export type RngState = [number, number, number, number];

export class Rng {
  private s: Uint32Array;
  /** The second normal of the last polar pair, returned by the next normal() call. */
  private spare: number | null = null;

  constructor(seed: number | RngState) {
    this.s = new Uint32Array(4);
    if (typeof seed === 'number') {
      // splitmix32 spreads the seed over the four words (never all zero).
      let x = seed >>> 0;
      for (let i = 0; i < 4; i++) {
        x = (x + 0x9e3779b9) >>> 0;
        let z = x;
        z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
        this.s[i] = (z ^ (z >>> 16)) >>> 0;
      }
    } else {
      this.s.set(seed);
    }
    if (!(this.s[0] | this.s[1] | this.s[2] | this.s[3])) this.s[0] = 1;
  }

  /** The generator's state (with no pending spare normal, see normal()). */
  get state(): RngState {
    return [this.s[0], this.s[1], this.s[2], this.s[3]];
  }

  /** The next 32 random bits, as an unsigned integer. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1), 53 bits. */
  uniform(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal (Marsaglia's polar method: pairs, the second kept for the next call). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    for (;;) {
      const u = 2 * this.uniform() - 1;
      const v = 2 * this.uniform() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) {
        const f = Math.sqrt((-2 * log(s)) / s);
        this.spare = v * f;
        return u * f;
      }
    }
  }

  /** Fisher-Yates shuffle of 0..n-1. */
  permutation(n: number): number[] {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.below(i + 1);
      [p[i], p[j]] = [p[j], p[i]];
    }
    return p;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

const LN2 = 0.6931471805599453;

/**
 * ln(x) for x in (0, 1]: x = m * 2^e with m in [sqrt(1/2), sqrt(2)), then
 * ln(m) = 2 atanh(r) = 2 (r + r^3/3 + r^5/5 + ...), r = (m - 1) / (m + 1), |r| < 0.172: 12 terms
 * reach double precision. Only exactly rounded operations, so every engine gets the same bits.
 */
export function log(x: number): number {
  if (!(x > 0)) throw new Error(`log of ${x}`);
  let e = 0;
  let m = x;
  while (m < Math.SQRT1_2) { m *= 2; e--; }
  while (m >= Math.SQRT2) { m /= 2; e++; }
  const r = (m - 1) / (m + 1);
  const r2 = r * r;
  let term = r;
  let sum = 0;
  for (let k = 1; k <= 25; k += 2) {
    sum += term / k;
    term *= r2;
  }
  return 2 * sum + e * LN2;
}
