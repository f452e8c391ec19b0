import { InvalidArgumentError } from '../../errors.js';

/**
 * T5's bidirectional relative-position bucket (TEXT_VAE_SPEC.md §4) for n = key − query:
 * `half = nb/2`, `exact = half/2`, `bucket(n) = (n > 0 ? half : 0) + f(|n|)` with
 * `f(m) = m` below `exact`, else `min(half − 1, exact + trunc(ln(m/exact) / ln(md/exact) · (half − exact)))`.
 *
 * The logarithm is never evaluated: `trunc(...) ≥ k` ⇔ `(m/exact)^(half−exact) ≥ (md/exact)^k`
 * ⇔ `m^(half−exact) · exact^k ≥ md^k · exact^(half−exact)`, compared in BigInt. The bucket edges
 * (m = 16, 32, 64, 128 for the real 32/128 configuration) are exact integers of the formula, where
 * a float logarithm one ulp low would fall into the bucket below.
 */
export function relativePositionBucket(n: number, numBuckets: number, maxDistance: number): number {
  const half = Math.floor(numBuckets / 2);
  const exact = Math.floor(half / 2);
  const m = Math.abs(n);
  return (n > 0 ? half : 0) + (m < exact ? m : largeBucket(m, half, exact, maxDistance));
}

function largeBucket(m: number, half: number, exact: number, maxDistance: number): number {
  const span = half - exact;
  const lhsBase = BigInt(m) ** BigInt(span);
  const e = BigInt(exact);
  const md = BigInt(maxDistance);
  let k = 0;
  // Largest k < span with m^span · exact^k ≥ md^k · exact^span (k = 0 always holds: m ≥ exact).
  while (k + 1 < span && lhsBase * e ** BigInt(k + 1) >= md ** BigInt(k + 1) * e ** BigInt(span)) k++;
  return exact + k;
}

/** Checks a bucket configuration the formula is defined for. */
export function checkBucketConfig(numBuckets: number, maxDistance: number): void {
  if (!Number.isInteger(numBuckets) || numBuckets < 4) {
    throw new InvalidArgumentError('T5 num_buckets', 'an integer ≥ 4', numBuckets);
  }
  const exact = Math.floor(Math.floor(numBuckets / 2) / 2);
  if (!Number.isInteger(maxDistance) || maxDistance <= exact) {
    throw new InvalidArgumentError('T5 max_distance', `an integer > ${exact} (num_buckets/4)`, maxDistance);
  }
}

/**
 * One bucket per relative distance for `qLen` queries and `kvLen` keys: entry `n + qLen − 1` is
 * the bucket of n = j − i, for n from −(qLen − 1) to kvLen − 1 (the t5_bias kernel's table).
 */
export function distanceBuckets(qLen: number, kvLen: number, numBuckets: number, maxDistance: number): Uint32Array {
  checkBucketConfig(numBuckets, maxDistance);
  const out = new Uint32Array(qLen + kvLen - 1);
  for (let n = -(qLen - 1); n < kvLen; n++) out[n + qLen - 1] = relativePositionBucket(n, numBuckets, maxDistance);
  return out;
}

/** The full bucket matrix `[qLen, kvLen]`, row i = query, column j = key (as the reference's). */
export function bucketMatrix(qLen: number, kvLen: number, numBuckets: number, maxDistance: number): Int32Array {
  const perDistance = distanceBuckets(qLen, kvLen, numBuckets, maxDistance);
  const out = new Int32Array(qLen * kvLen);
  for (let i = 0; i < qLen; i++) {
    for (let j = 0; j < kvLen; j++) out[i * kvLen + j] = perDistance[j - i + qLen - 1] as number;
  }
  return out;
}
