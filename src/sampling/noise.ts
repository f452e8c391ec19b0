import { InvalidArgumentError } from '../errors.js';

/**
 * Seeded Gaussian noise: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as
 * 1, 2, 3", SC 2011; the Random123 constants) followed by Box–Muller, computed in float64 and
 * rounded to float32. The same seed gives the same latent in Node and in every browser; it is not
 * PyTorch's stream, so cases that need a given noise supply it.
 *
 * Layout: for image `b` of a batch, element `i` of its `[C, H, W]` noise is output `i mod 4` of
 * the Philox block with key (seed, 0) and counter (floor(i/4), b, 0, 0). Outputs (x0, x1) and
 * (x2, x3) each give two normals: u1 = (x_even + 1)·2⁻³², in (0, 1]; u2 = x_odd·2⁻³²;
 * r = sqrt(−2·ln u1); z = r·cos(2π·u2), r·sin(2π·u2). Image b's noise does not depend on the
 * batch size, so image 0 of a batch equals a single image with the same seed.
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
const TWO_POW_32 = 4294967296;

/** High and low 32 bits of the 64-bit product of two u32. */
function mulHiLo(a: number, b: number, out: Uint32Array, at: number): void {
  const aHi = a >>> 16;
  const aLo = a & 0xffff;
  const bHi = b >>> 16;
  const bLo = b & 0xffff;
  // Exact in float64: every partial product is < 2^32 and the sums stay < 2^53.
  const mid = aHi * bLo + aLo * bHi + Math.floor((aLo * bLo) / 65536);
  out[at] = (aHi * bHi + Math.floor(mid / 65536)) >>> 0;
  out[at + 1] = Math.imul(a, b) >>> 0;
}

/** Philox4x32 with 10 rounds: `counter` (4 × u32) and `key` (2 × u32) → 4 × u32 in `out`. */
export function philox4x32(counter: ArrayLike<number>, key: ArrayLike<number>, out = new Uint32Array(4)): Uint32Array {
  let c0 = (counter[0] ?? 0) >>> 0;
  let c1 = (counter[1] ?? 0) >>> 0;
  let c2 = (counter[2] ?? 0) >>> 0;
  let c3 = (counter[3] ?? 0) >>> 0;
  let k0 = (key[0] ?? 0) >>> 0;
  let k1 = (key[1] ?? 0) >>> 0;
  const p = new Uint32Array(4);
  for (let round = 0; round < 10; round++) {
    mulHiLo(M0, c0, p, 0);
    mulHiLo(M1, c2, p, 2);
    const n0 = ((p[2] as number) ^ c1 ^ k0) >>> 0;
    const n1 = p[3] as number;
    const n2 = ((p[0] as number) ^ c3 ^ k1) >>> 0;
    const n3 = p[1] as number;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
  return out;
}

/** Standard normal noise for `batch` images of `perImage` elements each (see the layout above). */
export function gaussianNoise(seed: number, batch: number, perImage: number): Float32Array {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new InvalidArgumentError('seed', 'an integer in [0, 2^32 − 1]', seed);
  const out = new Float32Array(batch * perImage);
  const block = new Uint32Array(4);
  const counter = new Uint32Array(4);
  const key = new Uint32Array([seed, 0]);
  for (let b = 0; b < batch; b++) {
    counter[1] = b;
    for (let i = 0; i < perImage; i += 4) {
      counter[0] = i / 4;
      philox4x32(counter, key, block);
      for (let pair = 0; pair < 2; pair++) {
        const u1 = ((block[2 * pair] as number) + 1) / TWO_POW_32;
        const u2 = (block[2 * pair + 1] as number) / TWO_POW_32;
        const r = Math.sqrt(-2 * Math.log(u1));
        const angle = 2 * Math.PI * u2;
        if (i + 2 * pair < perImage) out[b * perImage + i + 2 * pair] = r * Math.cos(angle);
        if (i + 2 * pair + 1 < perImage) out[b * perImage + i + 2 * pair + 1] = r * Math.sin(angle);
      }
    }
  }
  return out;
}
