/**
 * Which runs can be compared row by row (their predictions.csv cover the same test utterances with the same
 * labels), and the paired comparisons between them: McNemar per seed pair, bootstrap intervals of the WA / UA
 * differences over rows, Holm-adjusted p-values.
 */
import { createHash } from "node:crypto";
import type { RunInput } from "./inputs.js";
import { holm, mcnemarExact, pairedBootstrap, type BootstrapResult, type PairedRows } from "./stats.js";

/** A run's test predictions as aligned arrays: rows sorted by utter_id, one prediction vector per seed. */
export interface RunRows {
  run: RunInput;
  ids: string[];
  labels: string[];
  seeds: number[];
  /** Per seed: the predicted class name per row. */
  preds: string[][];
}

export interface Group {
  /** Short hash of the rows and labels. */
  key: string;
  ids: string[];
  labels: string[];
  runs: RunRows[];
}

export interface SeedTest {
  seedA: number;
  seedB: number;
  b: number;
  c: number;
  p: number;
}

export interface Comparison {
  a: RunRows;
  b: RunRows;
  n: number;
  bootstrap: BootstrapResult;
  mcnemar: SeedTest[];
  /** The largest McNemar p over the seed pairs (every seed pair is at least this significant). */
  pMax: number;
  /** Holm-adjusted pMax within the comparisons of its table. */
  pHolm: number;
}

/** Aligns a run's predictions; a reason instead when they cannot be used. */
export function runRows(run: RunInput): RunRows | { run: RunInput; reason: string } {
  const rows = run.predictions;
  if (!rows) {
    const unreadable = run.problems.find((p) => /^(\S+\/)?predictions\.csv: /.test(p));
    return { run, reason: unreadable ?? "no predictions.csv in the run folder (runs made before emofeat recorded test predictions have none)" };
  }
  const test = rows.filter((r) => r.split === "test");
  if (test.length === 0) return { run, reason: "predictions.csv has no test rows" };
  const bySeed = new Map<number, Map<string, { label: string; pred: string }>>();
  for (const r of test) {
    const m = bySeed.get(r.seed) ?? new Map();
    if (m.has(r.utter_id)) return { run, reason: `predictions.csv: ${r.utter_id} appears twice for seed ${r.seed}` };
    m.set(r.utter_id, { label: r.label, pred: r.pred });
    bySeed.set(r.seed, m);
  }
  const seeds = [...bySeed.keys()].sort((a, b) => a - b);
  const first = bySeed.get(seeds[0])!;
  const ids = [...first.keys()].sort();
  for (const s of seeds) {
    const m = bySeed.get(s)!;
    if (m.size !== ids.length || ids.some((id) => !m.has(id) || m.get(id)!.label !== first.get(id)!.label))
      return { run, reason: `predictions.csv: seed ${s} covers other test rows than seed ${seeds[0]}` };
  }
  return {
    run,
    ids,
    labels: ids.map((id) => first.get(id)!.label),
    seeds,
    preds: seeds.map((s) => ids.map((id) => bySeed.get(s)!.get(id)!.pred)),
  };
}

export function groupRuns(runs: RunInput[]): { groups: Group[]; excluded: { run: RunInput; reason: string }[] } {
  const groups = new Map<string, Group>();
  const excluded: { run: RunInput; reason: string }[] = [];
  for (const run of runs) {
    const r = runRows(run);
    if ("reason" in r) {
      excluded.push(r);
      continue;
    }
    const h = createHash("sha256");
    r.ids.forEach((id, i) => h.update(`${id}\u0000${r.labels[i]}\n`));
    const key = h.digest("hex").slice(0, 12);
    const g = groups.get(key) ?? { key, ids: r.ids, labels: r.labels, runs: [] };
    g.runs.push(r);
    groups.set(key, g);
  }
  return { groups: [...groups.values()], excluded };
}

/**
 * Why two groups' runs cannot be paired row by row, in words: other classes, other test rows (how many shared),
 * or the same rows labelled differently.
 */
export function whyApart(a: Group, b: Group): string {
  const classes = (g: Group) => [...new Set(g.labels)].sort();
  const ca = classes(a);
  const cb = classes(b);
  const sameClasses = ca.length === cb.length && ca.every((c, i) => c === cb[i]);
  const labelOf = new Map(b.ids.map((id, i) => [id, b.labels[i]]));
  let shared = 0;
  let relabelled = 0;
  a.ids.forEach((id, i) => {
    const l = labelOf.get(id);
    if (l === undefined) return;
    shared++;
    if (l !== a.labels[i]) relabelled++;
  });
  const parts: string[] = [];
  if (!sameClasses) parts.push(`other test classes (${ca.join(", ")} vs ${cb.join(", ")})`);
  if (shared !== a.ids.length || shared !== b.ids.length)
    parts.push(`other test rows (${a.ids.length} vs ${b.ids.length} rows, ${shared} shared)`);
  if (relabelled > 0) parts.push(`${relabelled} of the shared rows labelled differently`);
  return parts.join("; ");
}

/** Per-row correctness averaged over seeds. */
function meanCorrect(r: RunRows): Float64Array {
  const out = new Float64Array(r.ids.length);
  for (const p of r.preds) p.forEach((pred, i) => (out[i] += pred === r.labels[i] ? 1 : 0));
  for (let i = 0; i < out.length; i++) out[i] /= r.preds.length;
  return out;
}

/** McNemar for each seed pair: equal seed numbers when both runs have the same seeds, else in order. */
export function seedTests(a: RunRows, b: RunRows): SeedTest[] {
  const same = a.seeds.length === b.seeds.length && a.seeds.every((s, i) => s === b.seeds[i]);
  const k = same ? a.seeds.length : Math.min(a.seeds.length, b.seeds.length);
  const out: SeedTest[] = [];
  for (let s = 0; s < k; s++) {
    let bb = 0;
    let cc = 0;
    a.preds[s].forEach((pa, i) => {
      const ra = pa === a.labels[i];
      const rb = b.preds[s][i] === b.labels[i];
      if (ra && !rb) bb++;
      else if (!ra && rb) cc++;
    });
    out.push({ seedA: a.seeds[s], seedB: b.seeds[s], b: bb, c: cc, p: mcnemarExact(bb, cc) });
  }
  return out;
}

/** Paired comparisons of the given pairs within one group (shared bootstrap resamples; Holm over the pairs). */
export function compare(group: Group, pairs: [RunRows, RunRows][], o: { resamples?: number; seed?: number } = {}): Comparison[] {
  const classes = [...new Set(group.labels)].sort();
  const y = Int32Array.from(group.labels, (l) => classes.indexOf(l));
  const correct = new Map(group.runs.map((r) => [r, meanCorrect(r)]));
  const paired: PairedRows[] = pairs.map(([a, b]) => ({ y, a: correct.get(a)!, b: correct.get(b)!, numClasses: classes.length }));
  const boot = pairedBootstrap(paired, { resamples: o.resamples, seed: o.seed });
  const out = pairs.map(([a, b], k) => {
    const mcnemar = seedTests(a, b);
    return { a, b, n: group.ids.length, bootstrap: boot[k], mcnemar, pMax: Math.max(...mcnemar.map((t) => t.p)), pHolm: NaN };
  });
  const adjusted = holm(out.map((c) => c.pMax));
  out.forEach((c, i) => (c.pHolm = adjusted[i]));
  return out;
}
