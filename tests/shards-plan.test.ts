/**
 * The pure parts of cluster runs: how a plan is cut into shards (contiguous, about equal work, a pure function)
 * and which shard an array task is (Slurm and Kubernetes environments, and every way they can be wrong).
 */
import { describe, expect, it } from "vitest";
import { arrayTaskFromEnv, parseShard, parseShardName, shardName } from "../src/shards/array-task.js";
import { audioBatchCosts } from "../src/shards/durations.js";
import { paddedTokenCosts, partitionBatches, planHash } from "../src/shards/partition.js";
import { describeRows, fromRuns, toRuns } from "../src/shards/record.js";

/** Deterministic pseudo-random costs. */
function costs(n: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 100);
}

describe("partitionBatches", () => {
  it("cuts the plan into contiguous ranges that cover it once, each within one batch of total/N", () => {
    for (const [m, n, seed] of [[100, 4, 1], [37, 5, 2], [1000, 16, 3], [7, 7, 4]]) {
      const c = costs(m, seed);
      const ranges = partitionBatches(c, n);
      expect(ranges).toHaveLength(n);
      expect(ranges[0].from).toBe(0);
      expect(ranges[n - 1].to).toBe(m);
      ranges.forEach((r, k) => k > 0 && expect(r.from).toBe(ranges[k - 1].to));
      const total = c.reduce((a, b) => a + b, 0);
      const biggest = Math.max(...c);
      for (const r of ranges) {
        const sum = c.slice(r.from, r.to).reduce((a, b) => a + b, 0);
        expect(r.cost).toBeCloseTo(sum, 9);
        expect(Math.abs(sum - total / n)).toBeLessThanOrEqual(biggest + 1e-9);
      }
    }
  });

  it("balances work, not batch counts: a few heavy batches get a shard of their own", () => {
    const c = [...Array(12).fill(1), 12, 12];
    expect(partitionBatches(c, 3).map((r) => [r.from, r.to])).toEqual([[0, 12], [12, 13], [13, 14]]);
  });

  it("is a pure function of its inputs, and leaves extra shards empty when there are fewer batches", () => {
    const c = costs(50, 9);
    expect(partitionBatches(c, 6)).toEqual(partitionBatches([...c], 6));
    const few = partitionBatches([3, 1], 4);
    expect(few.map((r) => r.to - r.from).reduce((a, b) => a + b, 0)).toBe(2);
    expect(few.filter((r) => r.to === r.from)).toHaveLength(2);
    expect(partitionBatches([0, 0, 0, 0], 2).map((r) => [r.from, r.to])).toEqual([[0, 2], [2, 4]]);
  });

  it("costs: text batches by padded tokens, audio by the seconds the encoder sees", () => {
    expect(paddedTokenCosts([[0, 1], [2]], [5, 9, 3])).toEqual([18, 3]);
    // 12 s clip cut to 10 s; an unknown duration counts as the mean of the known kept ones ((10 + 2) / 2).
    expect(audioBatchCosts([[0, 1], [2]], [12, 2, null], 10)).toEqual([12, 6]);
    expect(planHash([[0, 1], [2]])).not.toBe(planHash([[0], [1, 2]]));
  });
});

describe("array tasks", () => {
  const slurm = (id: number, extra: Record<string, string> = {}) => ({ SLURM_ARRAY_TASK_ID: String(id), ...extra });

  it("Slurm: task id minus SLURM_ARRAY_TASK_MIN (and step), count from SLURM_ARRAY_TASK_COUNT", () => {
    expect(arrayTaskFromEnv(slurm(5, { SLURM_ARRAY_TASK_MIN: "1", SLURM_ARRAY_TASK_MAX: "16", SLURM_ARRAY_TASK_COUNT: "16" }))).toMatchObject({ index: 4, count: 16 });
    expect(arrayTaskFromEnv(slurm(6, { SLURM_ARRAY_TASK_MIN: "0", SLURM_ARRAY_TASK_STEP: "2", SLURM_ARRAY_TASK_MAX: "6", SLURM_ARRAY_TASK_COUNT: "4" }))).toMatchObject({ index: 3, count: 4 });
    expect(parseShard("auto", { env: slurm(3, { SLURM_ARRAY_TASK_MIN: "0", SLURM_ARRAY_TASK_COUNT: "4" }) })).toEqual({ k: 3, n: 4 });
    expect(parseShard("auto", { shards: 4, env: slurm(3, { SLURM_ARRAY_TASK_COUNT: "4" }) })).toEqual({ k: 3, n: 4 });
    // Without a count from Slurm, --shards gives it.
    expect(parseShard("auto", { shards: 8, env: slurm(2) })).toEqual({ k: 2, n: 8 });
  });

  it("EMOFEAT_ARRAY_BASE (the sbatch scripts set it): task ids are shard numbers, also in a resubmitted part of the array", () => {
    const base = { EMOFEAT_ARRAY_BASE: "0" };
    // `sbatch --array=2 x.sbatch`: Slurm describes a one-task array starting at 2.
    const rerun: Record<string, string> = slurm(2, { ...base, SLURM_ARRAY_TASK_MIN: "2", SLURM_ARRAY_TASK_MAX: "2", SLURM_ARRAY_TASK_COUNT: "1" });
    expect(parseShard("auto", { shards: 4, env: rerun })).toEqual({ k: 2, n: 4 });
    expect(parseShard("auto", { shards: 4, env: slurm(3, { ...base, SLURM_ARRAY_TASK_MIN: "0", SLURM_ARRAY_TASK_COUNT: "4" }) })).toEqual({ k: 3, n: 4 });
    expect(parseShard("auto", { shards: 4, env: slurm(4, { EMOFEAT_ARRAY_BASE: "1", SLURM_ARRAY_TASK_MIN: "1", SLURM_ARRAY_TASK_COUNT: "4" }) })).toEqual({ k: 3, n: 4 });
    // Without the base, the same rerun is a one-task array that disagrees with --shards.
    const { EMOFEAT_ARRAY_BASE: _, ...plain } = rerun;
    expect(() => parseShard("auto", { shards: 4, env: plain })).toThrow(/1 tasks .* --shards says 4/);
    expect(() => parseShard("auto", { shards: 4, env: slurm(1, { ...base, SLURM_ARRAY_TASK_COUNT: "8" }) })).toThrow(/8 tasks .* --shards says 4/);
    expect(() => parseShard("auto", { shards: 4, env: slurm(4, base) })).toThrow(/only 4 shards/);
    expect(() => parseShard("auto", { shards: 4, env: slurm(0, { EMOFEAT_ARRAY_BASE: "1" }) })).toThrow(/below EMOFEAT_ARRAY_BASE=1/);
    expect(() => parseShard("auto", { env: slurm(0, base) })).toThrow(/does not say how many shards/);
  });

  it("Kubernetes: JOB_COMPLETION_INDEX with --shards", () => {
    expect(parseShard("auto", { shards: 16, env: { JOB_COMPLETION_INDEX: "15" } })).toEqual({ k: 15, n: 16 });
    expect(() => parseShard("auto", { env: { JOB_COMPLETION_INDEX: "2" } })).toThrow(/does not say how many shards.*--shards N/);
  });

  it("refuses, with the reason, when nothing is set or the numbers disagree", () => {
    expect(() => parseShard("auto", { env: {} })).toThrow(/neither SLURM_ARRAY_TASK_ID .* nor JOB_COMPLETION_INDEX/);
    expect(() => parseShard("auto", { shards: 8, env: slurm(1, { SLURM_ARRAY_TASK_COUNT: "4" }) })).toThrow(/4 tasks .* --shards says 8/);
    expect(() => parseShard("auto", { shards: 4, env: { JOB_COMPLETION_INDEX: "4" } })).toThrow(/only 4 shards/);
    expect(() => parseShard("auto", { env: slurm(7, { SLURM_ARRAY_TASK_MIN: "0", SLURM_ARRAY_TASK_MAX: "7", SLURM_ARRAY_TASK_COUNT: "3" }) })).toThrow(/not a contiguous range/);
    expect(() => parseShard("auto", { env: { SLURM_ARRAY_TASK_ID: "x" } })).toThrow(/SLURM_ARRAY_TASK_ID="x"/);
    expect(() => parseShard("4/4")).toThrow(/K must be 0..3/);
    expect(() => parseShard("1/4", { shards: 2 })).toThrow(/disagree/);
    expect(() => parseShard("half")).toThrow(/expected K\/N/);
    expect(parseShard("2-of-5")).toEqual({ k: 2, n: 5 });
  });

  it("names shard folders K-of-N and reads them back", () => {
    expect(shardName({ k: 3, n: 16 })).toBe("3-of-16");
    expect(parseShardName("3-of-16")).toEqual({ k: 3, n: 16 });
    for (const bad of ["16-of-16", "03-of-16", "3of16", "x"]) expect(parseShardName(bad)).toBeNull();
  });

  it("describes rows as 1-based runs", () => {
    expect(toRuns([5, 0, 1, 2, 9])).toEqual([[0, 3], [5, 6], [9, 10]]);
    expect(fromRuns(toRuns([5, 0, 1, 2, 9]))).toEqual([0, 1, 2, 5, 9]);
    expect(describeRows([0, 1, 2, 5])).toBe("rows 1-3, 6");
    expect(describeRows([4])).toBe("row 5");
  });
});
