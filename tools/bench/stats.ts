/** Small statistics for benchmark tables. */

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Least-squares fit of y = c·x^p in log-log space, with R² of the log fit. */
export function fitPower(x: readonly number[], y: readonly number[]): { coefficient: number; exponent: number; r2: number } {
  const lx = x.map(Math.log);
  const ly = y.map(Math.log);
  const n = lx.length;
  const mx = lx.reduce((s, v) => s + v, 0) / n;
  const my = ly.reduce((s, v) => s + v, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += ((lx[i] as number) - mx) * ((ly[i] as number) - my);
    sxx += ((lx[i] as number) - mx) ** 2;
    syy += ((ly[i] as number) - my) ** 2;
  }
  const exponent = sxx > 0 ? sxy / sxx : 0;
  return { coefficient: Math.exp(my - exponent * mx), exponent, r2: syy > 0 && sxx > 0 ? (sxy * sxy) / (sxx * syy) : 1 };
}
