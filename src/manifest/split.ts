/**
 * Speaker-independent, stratified, seeded train/val/test splits for corpora that have none (the generic
 * recipe, partial corpora) or whose split is unusable.
 *
 * Rows are grouped by a column (the session, i.e. the speaker or the speaker pair): a group goes whole into one
 * split, so no speaker is in two. Groups are placed one by one, the largest first (ties in a seeded random
 * order), each into the split where it brings the per-class counts closest to `ratio x class total` (squared
 * error over every split and class, each class weighted by 1 / its total, plus the same for row counts). Every
 * split with a non-zero ratio gets at least one group. Rows with an empty group value are groups of one row
 * each (then that part of the split is per utterance, not per speaker, and the result says so).
 *
 * Hand-written: scikit-learn's StratifiedGroupKFold makes k equal folds, not ratios; no npm package does this.
 */
import { EmofeatError, UsageError } from "../errors.js";
import { Rng } from "../util/rng.js";
import { SPLITS, type Split } from "./index-csv.js";

export type SplitRatios = [number, number, number];

/** `80/10/10` (or `0.8/0.1/0.1`, `8/1/1`): train/val/test, normalised to sum 1; a part may be 0. */
export function parseRatios(text: string, flag = "--ratios"): SplitRatios {
  const parts = text.split("/").map((p) => p.trim());
  const nums = parts.map(Number);
  if (parts.length !== 3 || parts.some((p) => p === "") || nums.some((n) => !Number.isFinite(n) || n < 0))
    throw new UsageError(`${flag} "${text}": give train/val/test as three non-negative numbers, e.g. 80/10/10 (a part may be 0: 80/0/20)`);
  const sum = nums[0] + nums[1] + nums[2];
  if (!(sum > 0) || nums[0] === 0) throw new UsageError(`${flag} "${text}": the train part must be greater than 0`);
  return [nums[0] / sum, nums[1] / sum, nums[2] / sum];
}

export function formatRatios(r: SplitRatios): string {
  return r.map((x) => String(Math.round(x * 1000) / 10)).join("/");
}

export interface SplitRowInput {
  /** Group value (e.g. the session); "" = a group of its own. */
  group: string;
  label: string;
}

export interface SplitAssignment {
  /** Per input row. */
  splits: Split[];
  /** Groups per split, in the order placed. */
  groups: Record<Split, string[]>;
  /** Rows that had no group value (each was placed alone). */
  ungrouped: number;
}

/** Assigns every row a split; see the module note. Deterministic for a given input, ratios and seed. */
export function assignSplits(rows: readonly SplitRowInput[], ratios: SplitRatios, seed: number, by = "session"): SplitAssignment {
  const labels = [...new Set(rows.map((r) => r.label))].sort();
  const li = new Map(labels.map((l, i) => [l, i]));
  const C = labels.length;
  // Groups in first-appearance order (index order), each with its per-class counts.
  const groupOf = new Map<string, number>();
  const groups: { name: string; rows: number[]; counts: number[] }[] = [];
  let ungrouped = 0;
  rows.forEach((r, i) => {
    let g: number | undefined;
    if (r.group === "") {
      ungrouped++;
      g = undefined;
    } else g = groupOf.get(r.group);
    if (g === undefined) {
      g = groups.length;
      groups.push({ name: r.group === "" ? `row ${i + 1}` : r.group, rows: [], counts: new Array(C).fill(0) });
      if (r.group !== "") groupOf.set(r.group, g);
    }
    groups[g].rows.push(i);
    groups[g].counts[li.get(r.label)!]++;
  });
  const active = SPLITS.map((_, s) => s).filter((s) => ratios[s] > 0);
  if (groups.length < active.length)
    throw new EmofeatError(
      `a speaker-independent split ${formatRatios(ratios)} needs at least ${active.length} groups by "${by}"; the index has ${groups.length} ` +
        `(${groups.map((g) => g.name).join(", ")}). Give rows distinct ${by} values, or set a ratio to 0 (e.g. 80/0/20).`,
    );

  const N = rows.length;
  const classTotal = new Array(C).fill(0);
  for (const g of groups) g.counts.forEach((c, k) => (classTotal[k] += c));
  const target = SPLITS.map((_, s) => classTotal.map((t) => ratios[s] * t));
  const rowTarget = SPLITS.map((_, s) => ratios[s] * N);
  const cur = SPLITS.map(() => new Array(C).fill(0));
  const curRows = [0, 0, 0];
  const placed: number[][] = [[], [], []];
  const w = classTotal.map((t) => 1 / Math.max(1, t) ** 2);
  // Change of the squared error when `counts` (rows) move into (sign +1) or out of (-1) split s.
  const delta = (s: number, counts: number[], rowsN: number, sign: number) => {
    let d = 0;
    for (let k = 0; k < C; k++) {
      const a = cur[s][k] - target[s][k];
      const b = a + sign * counts[k];
      d += w[k] * (b * b - a * a);
    }
    const a = curRows[s] - rowTarget[s];
    const b = a + sign * rowsN;
    return d + (b * b - a * a) / Math.max(1, N) ** 2;
  };
  const move = (g: number, s: number, sign: number) => {
    groups[g].counts.forEach((c, k) => (cur[s][k] += sign * c));
    curRows[s] += sign * groups[g].rows.length;
  };

  const order = groups.map((_, i) => i);
  new Rng(seed).shuffle(order);
  order.sort((a, b) => groups[b].rows.length - groups[a].rows.length); // stable: ties keep the seeded order
  const home = new Array<number>(groups.length);
  for (const g of order) {
    let best = active[0];
    let bestD = Infinity;
    for (const s of active) {
      const d = delta(s, groups[g].counts, groups[g].rows.length, +1);
      if (d < bestD - 1e-12) {
        bestD = d;
        best = s;
      }
    }
    move(g, best, +1);
    home[g] = best;
    placed[best].push(g);
  }
  // A split with a non-zero ratio must not stay empty: move in the group whose move costs least.
  for (const s of active) {
    if (placed[s].length > 0) continue;
    let bestG = -1;
    let bestD = Infinity;
    for (const from of active) {
      if (placed[from].length < 2) continue;
      for (const g of placed[from]) {
        const d = delta(from, groups[g].counts, groups[g].rows.length, -1) + delta(s, groups[g].counts, groups[g].rows.length, +1);
        if (d < bestD) {
          bestD = d;
          bestG = g;
        }
      }
    }
    const from = home[bestG];
    move(bestG, from, -1);
    placed[from] = placed[from].filter((g) => g !== bestG);
    move(bestG, s, +1);
    placed[s].push(bestG);
    home[bestG] = s;
  }

  const splits = new Array<Split>(N);
  groups.forEach((g, gi) => g.rows.forEach((r) => (splits[r] = SPLITS[home[gi]])));
  const byName = (s: number) => placed[s].map((g) => groups[g].name);
  return { splits, groups: { train: byName(0), val: byName(1), test: byName(2) }, ungrouped };
}

/** Lines describing an assignment: groups per split, and classes a split lacks. */
export function describeAssignment(a: SplitAssignment, rows: readonly SplitRowInput[], ratios: SplitRatios, seed: number, by: string): string[] {
  const lines = [`split ${formatRatios(ratios)} by ${by} (seed ${seed}), stratified by label; no ${by} is in two splits`];
  const labels = [...new Set(rows.map((r) => r.label))].sort();
  SPLITS.forEach((s, k) => {
    if (ratios[k] === 0) return;
    const n = a.splits.filter((x) => x === s).length;
    const names = a.groups[s].filter((g) => !g.startsWith("row "));
    const shown = names.length > 8 ? `${names.slice(0, 8).join(", ")}, ... (${names.length})` : names.join(", ");
    lines.push(`  ${s}: ${n} rows${names.length ? `, ${by} ${shown}` : ""}`);
    const present = new Set(rows.filter((_, i) => a.splits[i] === s).map((r) => r.label));
    const missing = labels.filter((l) => !present.has(l));
    if (missing.length > 0) lines.push(`  warning: ${s} has no rows of ${missing.join(", ")} (too few ${by} groups hold them)`);
  });
  if (a.ungrouped > 0) lines.push(`  note: ${a.ungrouped} row(s) have an empty ${by}; each was placed on its own (not speaker-independent)`);
  return lines;
}
