/**
 * Every pooling mode in one place (as sentence-transformers' `Pooling`): token or frame states [B, T, H] of one
 * layer -> one vector per item, or (`none`) the real positions themselves. All modes honour the mask.
 */
export const POOLING_MODES = ["mean", "cls", "max", "mean+std", "none"] as const;
export type PoolingMode = (typeof POOLING_MODES)[number];
/** Modes that give one vector per item. */
export type VectorPooling = Exclude<PoolingMode, "none">;

/** Width of one pooled vector: mean+std concatenates two H-vectors. */
export function pooledWidth(mode: PoolingMode, hidden: number): number {
  return mode === "mean+std" ? 2 * hidden : hidden;
}

/**
 * mean:     mask-weighted mean over positions whose mask is non-zero, sum(h*m)/max(sum(m), 1e-9) as the
 *           reference computes it (an all-masked row gives zeros, never NaN). Accumulated in float64.
 * cls:      the state at position 0.
 * max:      the largest value over real positions, per dimension (an all-masked row gives zeros).
 * mean+std: [mean; std] (2H), statistics pooling as s3prl's TemporalStatisticsPooling: std = torch.std over the
 *           real positions, i.e. the SAMPLE standard deviation sqrt(sum((h - mean)^2) / (n - 1)); with a single
 *           real position (where torch gives NaN) std is 0. Two passes in float64.
 * `mask` is [B, T] (non-zero = real); null means every position is real.
 */
export function pool(
  mode: VectorPooling,
  hidden: ArrayLike<number>,
  dims: readonly [number, number, number],
  mask: ArrayLike<number | bigint> | null,
): Float32Array {
  const [B, T, H] = dims;
  if (hidden.length !== B * T * H) throw new Error(`pool: hidden has ${hidden.length} values, dims ${dims.join("x")}`);
  const W = pooledWidth(mode, H);
  const out = new Float32Array(B * W);
  if (mode === "cls") {
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) out[b * H + h] = hidden[b * T * H + h];
    return out;
  }
  const real = (b: number, t: number) => (mask === null ? 1 : Number(mask[b * T + t]));
  if (mode === "max") {
    const acc = new Float64Array(H);
    for (let b = 0; b < B; b++) {
      acc.fill(-Infinity);
      let any = false;
      for (let t = 0; t < T; t++) {
        if (real(b, t) === 0) continue;
        any = true;
        const base = (b * T + t) * H;
        for (let h = 0; h < H; h++) if (hidden[base + h] > acc[h]) acc[h] = hidden[base + h];
      }
      if (any) for (let h = 0; h < H; h++) out[b * W + h] = acc[h];
    }
    return out;
  }
  const acc = new Float64Array(H);
  const sq = new Float64Array(H);
  for (let b = 0; b < B; b++) {
    acc.fill(0);
    let count = 0;
    let n = 0;
    for (let t = 0; t < T; t++) {
      const m = real(b, t);
      if (m === 0) continue;
      count += m;
      n++;
      const base = (b * T + t) * H;
      for (let h = 0; h < H; h++) acc[h] += hidden[base + h] * m;
    }
    const denom = Math.max(count, 1e-9);
    for (let h = 0; h < H; h++) acc[h] /= denom;
    for (let h = 0; h < H; h++) out[b * W + h] = acc[h];
    if (mode !== "mean+std") continue;
    sq.fill(0);
    if (n >= 2) {
      for (let t = 0; t < T; t++) {
        if (real(b, t) === 0) continue;
        const base = (b * T + t) * H;
        for (let h = 0; h < H; h++) {
          const dlt = hidden[base + h] - acc[h];
          sq[h] += dlt * dlt;
        }
      }
      for (let h = 0; h < H; h++) out[b * W + H + h] = Math.sqrt(sq[h] / (n - 1));
    }
  }
  return out;
}

/**
 * Pools each layer's states (one [B, T, H] array per layer, same mask) and interleaves them per item:
 * [B, L, W] row-major, W = pooledWidth(mode, H). With one layer this is exactly `pool`.
 */
export function poolLayers(
  mode: VectorPooling,
  states: readonly ArrayLike<number>[],
  dims: readonly [number, number, number],
  mask: ArrayLike<number | bigint> | null,
): Float32Array {
  const [B, , H] = dims;
  const L = states.length;
  if (L === 1) return pool(mode, states[0], dims, mask);
  const W = pooledWidth(mode, H);
  const out = new Float32Array(B * L * W);
  states.forEach((s, l) => {
    const p = pool(mode, s, dims, mask);
    for (let b = 0; b < B; b++) out.set(p.subarray(b * W, (b + 1) * W), (b * L + l) * W);
  });
  return out;
}

/**
 * `none`: the first `count` positions of item `b` from every layer, as [count, L, H] row-major (the sequence
 * stores' frame layout). Masks here are prefixes (right padding), so the real positions are the first ones.
 */
export function framesOf(states: readonly ArrayLike<number>[], dims: readonly [number, number, number], b: number, count: number): Float32Array {
  const [, T, H] = dims;
  const L = states.length;
  if (count > T) throw new Error(`framesOf: ${count} positions asked, the batch has ${T}`);
  const out = new Float32Array(count * L * H);
  for (let t = 0; t < count; t++)
    for (let l = 0; l < L; l++) {
      const src = states[l];
      const from = (b * T + t) * H;
      const to = (t * L + l) * H;
      for (let h = 0; h < H; h++) out[to + h] = src[from + h];
    }
  return out;
}
