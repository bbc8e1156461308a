/**
 * How an extraction plan is cut into shards. The plan is the single-process run's list of batches (a pure
 * function of the index and the settings); a shard takes a contiguous run of those batches, so every batch is
 * computed exactly as in a single run (same members, same padding) and the merged store is byte-identical.
 * Boundaries are placed where the running cost crosses k/N of the total, so shards get about equal work: the
 * largest shard exceeds total/N by less than one batch's cost.
 */
import { createHash } from "node:crypto";

export interface ShardRange {
  /** First batch (inclusive) and end (exclusive), as indices into the plan. */
  from: number;
  to: number;
  /** Sum of the batch costs in the range. */
  cost: number;
}

/** Splits `costs` (one non-negative number per batch, in plan order) into `n` contiguous ranges of about equal cost. */
export function partitionBatches(costs: readonly number[], n: number): ShardRange[] {
  if (!Number.isInteger(n) || n < 1) throw new Error(`internal: ${n} shards`);
  const m = costs.length;
  for (const c of costs) if (!(c >= 0 && Number.isFinite(c))) throw new Error(`internal: batch cost ${c}`);
  // Prefix sums in plan order: every process computes the same floating-point values.
  const prefix = new Float64Array(m + 1);
  for (let i = 0; i < m; i++) prefix[i + 1] = prefix[i] + costs[i];
  const total = prefix[m];
  const bounds = [0];
  for (let j = 1; j < n; j++) {
    const prev = bounds[j - 1];
    let b: number;
    if (total > 0) {
      const target = (total * j) / n;
      b = prev;
      while (b < m && prefix[b] < target) b++;
      // The nearer of the two boundaries around the target (ties: the earlier one).
      if (b > prev && target - prefix[b - 1] <= prefix[b] - target) b--;
    } else {
      b = Math.round((m * j) / n); // no cost information: equal batch counts
    }
    bounds.push(Math.max(prev, Math.min(m, b)));
  }
  bounds.push(m);
  return Array.from({ length: n }, (_, k) => ({ from: bounds[k], to: bounds[k + 1], cost: prefix[bounds[k + 1]] - prefix[bounds[k]] }));
}

/** sha256 of a plan (its batches, in order): shards from different plans must never be merged. */
export function planHash(batches: readonly (readonly number[])[]): string {
  const h = createHash("sha256");
  for (const b of batches) h.update(b.join(",") + ";");
  return h.digest("hex");
}

/** Text: the encoder sees each batch padded to its longest member, so a batch costs size x longest (tokens). */
export function paddedTokenCosts(batches: readonly (readonly number[])[], tokens: readonly number[]): number[] {
  return batches.map((b) => b.length * b.reduce((mx, p) => Math.max(mx, tokens[p]), 0));
}
