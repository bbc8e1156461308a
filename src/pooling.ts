/**
 * Every pooling mode in one place (as sentence-transformers' `Pooling`): token or frame states
 * [B, T, H] -> one vector per item [B, H].
 */
export const POOLING_MODES = ["mean", "cls"] as const;
export type PoolingMode = (typeof POOLING_MODES)[number];

/**
 * mean: mask-weighted mean over positions whose mask is non-zero, sum(h*m)/max(sum(m), 1e-9) as the reference
 *       computes it (an all-masked row gives zeros, never NaN). Accumulated in float64.
 * cls:  the state at position 0.
 * `mask` is [B, T] (1 = real); null means every position is real.
 */
export function pool(
  mode: PoolingMode,
  hidden: ArrayLike<number>,
  dims: readonly [number, number, number],
  mask: ArrayLike<number | bigint> | null,
): Float32Array {
  const [B, T, H] = dims;
  if (hidden.length !== B * T * H) throw new Error(`pool: hidden has ${hidden.length} values, dims ${dims.join("x")}`);
  const out = new Float32Array(B * H);
  if (mode === "cls") {
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) out[b * H + h] = hidden[b * T * H + h];
    return out;
  }
  const acc = new Float64Array(H);
  for (let b = 0; b < B; b++) {
    acc.fill(0);
    let count = 0;
    for (let t = 0; t < T; t++) {
      const m = mask === null ? 1 : Number(mask[b * T + t]);
      if (m === 0) continue;
      count += m;
      const base = (b * T + t) * H;
      for (let h = 0; h < H; h++) acc[h] += hidden[base + h] * m;
    }
    const denom = Math.max(count, 1e-9);
    for (let h = 0; h < H; h++) out[b * H + h] = acc[h] / denom;
  }
  return out;
}
