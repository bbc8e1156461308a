/**
 * The results table of every run (sortable, with the reference's published baselines as optional rows), the
 * spread of test scores over seeds, and the paired significance of differences between runs on the same rows.
 */
import path from "node:path";
import { meanStdCell, pValueText, slug, type Block, type Cell, type Section } from "../doc.js";
import { compare, groupRuns, whyApart, type Comparison, type Group, type RunRows } from "../compare.js";
import { dotPlotSvg } from "../figures/dots.js";
import type { RunInput } from "../inputs.js";

/** The reference pipeline's published results on IEMOCAP (accuracy / macro-F1; UA not published). */
export const REFERENCE_BASELINES = [
  { input: "audio", accuracy: 0.4, macro_f1: 0.33 },
  { input: "text", accuracy: 0.47, macro_f1: 0.39 },
  { input: "concat", accuracy: 0.53, macro_f1: 0.42 },
] as const;

/** At most this many runs on the same rows are compared pairwise; larger groups are compared with their best run. */
export const ALL_PAIRS_MAX = 6;

const shortModel = (id: string | undefined) => (id ? path.basename(id.replace(/\/+$/, "")) : "?");
const pp = (x: number) => `${x >= 0 ? "+" : "−"}${Math.abs(100 * x).toFixed(2)}`;

function layersText(run: RunInput): string {
  if (run.metrics.layer_weights) return `weighted sum of ${run.metrics.layer_weights.layers.length} layers`;
  if (run.metrics.per_layer) return `each of ${run.metrics.per_layer.length} layers`;
  const parts = (run.config.features ?? []).map((f) => {
    const layers = (run.storeMeta[f.name] as { layers?: number[] } | null)?.layers;
    return layers && layers.length > 0 ? (layers.length === 1 ? `layer ${layers[0]}` : `layers ${layers[0]}–${layers[layers.length - 1]}`) : "last";
  });
  return [...new Set(parts)].join(" / ") || "last";
}

export function protocolText(run: RunInput): string {
  const p = run.config.protocol;
  return p?.kind === "session-folds" ? `${p.folds.length}-fold LOSO` : "split";
}

export function inputsText(run: RunInput): string {
  return (run.config.features ?? []).map((f) => `${f.name} (${shortModel(f.model_id)})`).join(" + ");
}

export interface Significance {
  groups: Group[];
  comparisons: Comparison[][];
  excluded: { run: RunInput; reason: string }[];
  best: Map<Group, RunRows>;
}

export function significance(runs: RunInput[], resamples: number): Significance {
  const { groups, excluded } = groupRuns(runs);
  const best = new Map<Group, RunRows>();
  const comparisons = groups.map((g) => {
    if (g.runs.length < 2) return [];
    const top = [...g.runs].sort((a, b) => b.run.metrics.test.unweighted_accuracy - a.run.metrics.test.unweighted_accuracy)[0];
    best.set(g, top);
    const pairs: [RunRows, RunRows][] = [];
    if (g.runs.length <= ALL_PAIRS_MAX) {
      for (let i = 0; i < g.runs.length; i++) for (let j = i + 1; j < g.runs.length; j++) pairs.push(g.runs[i] === top || g.runs[j] !== top ? [g.runs[i], g.runs[j]] : [g.runs[j], g.runs[i]]);
    } else for (const r of g.runs) if (r !== top) pairs.push([top, r]);
    return compare(g, pairs, { resamples, seed: 0 });
  });
  return { groups, comparisons, excluded, best };
}

/** The UA difference of a run to the best run on its rows, and the McNemar p (Holm): two cells. */
function vsBestCells(run: RunInput, sig: Significance): [Cell, Cell] {
  const none: [Cell, Cell] = [{ text: "–", sort: -Infinity }, { text: "–", sort: Infinity }];
  for (const [gi, g] of sig.groups.entries()) {
    const top = sig.best.get(g);
    if (!top || !g.runs.some((r) => r.run === run)) continue;
    if (top.run === run) return [{ text: "best", sort: Infinity }, { text: "", sort: -Infinity }];
    const c = sig.comparisons[gi].find((x) => (x.a === top && x.b.run === run) || (x.b === top && x.a.run === run));
    if (!c) return none;
    const sign = c.a === top ? -1 : 1; // the difference this run minus the best
    const d = sign * c.bootstrap.dUa;
    const [lo, hi] = sign < 0 ? [-c.bootstrap.ciUa[1], -c.bootstrap.ciUa[0]] : c.bootstrap.ciUa;
    return [
      { text: `${pp(d)} [${pp(lo)}, ${pp(hi)}]`, sort: d },
      { text: pValueText(c.pHolm), sort: c.pHolm, title: `McNemar p (largest over seed pairs) ${pValueText(c.pMax)}, Holm-adjusted over the comparisons on these rows ${pValueText(c.pHolm)}`, cls: c.pHolm < 0.05 ? "ok" : undefined },
    ];
  }
  return none;
}

export function resultsSection(runs: RunInput[], o: { baselines: boolean; resamples: number }): { section: Section; sig: Significance } {
  const sig = significance(runs, o.resamples);
  const blocks: Block[] = [];
  const rows: Cell[][] = [];
  const rowCls: (string | undefined)[] = [];
  for (const r of runs) {
    const m = r.metrics;
    const n = m.seeds?.length ?? 1;
    const isBest = [...sig.best.values()].some((b) => b.run === r);
    rows.push([
      { text: r.name, sort: r.name },
      m.head ?? r.config.head,
      inputsText(r),
      [...new Set((r.config.features ?? []).map((f) => r.storeMeta[f.name]?.pooling ?? f.pooling))].join(" / "),
      layersText(r),
      protocolText(r),
      { text: String(n), sort: n },
      meanStdCell(m.test?.accuracy, m.test_std?.accuracy, n),
      meanStdCell(m.test?.unweighted_accuracy, m.test_std?.unweighted_accuracy, n),
      meanStdCell(m.test?.macro_f1, m.test_std?.macro_f1, n),
      ...vsBestCells(r, sig),
    ]);
    rowCls.push(isBest ? "best" : undefined);
  }
  if (o.baselines)
    for (const b of REFERENCE_BASELINES) {
      rows.push([
        `reference: ${b.input}`,
        "published",
        b.input,
        "mean",
        "last",
        "split",
        { text: "–", sort: -Infinity },
        meanStdCell(b.accuracy, undefined, 1),
        { text: "–", sort: -Infinity },
        meanStdCell(b.macro_f1, undefined, 1),
        { text: "–", sort: -Infinity },
        { text: "–", sort: Infinity },
      ]);
      rowCls.push("baseline");
    }
  if (rows.length === 0) blocks.push({ kind: "para", text: "No runs were given.", cls: "note" });
  else
    blocks.push({
      kind: "table",
      id: "results-table",
      sortable: true,
      caption:
        `Test scores of ${runs.length} run(s) in percent: accuracy (WA), unweighted accuracy (UA, mean recall over classes) and macro-F1, ` +
        `mean ± sample standard deviation over seeds (one seed: no ±). Click a column to sort.` +
        (o.baselines ? " Rows in italics: the reference pipeline's published IEMOCAP baselines (accuracy / F1 only)." : "") +
        " Last columns: the UA difference (percentage points) to the best run tested on the same rows, with its 95% paired-bootstrap interval, and McNemar's p (Holm-adjusted; see Significance).",
      columns: [
        { label: "run" },
        { label: "head" },
        { label: "inputs", title: "feature stores (encoder model)" },
        { label: "pooling" },
        { label: "layers" },
        { label: "protocol" },
        { label: "seeds", numeric: true },
        { label: "WA %", numeric: true, title: "test accuracy" },
        { label: "UA %", numeric: true, title: "test unweighted accuracy (balanced accuracy)" },
        { label: "macro-F1 %", numeric: true },
        { label: "ΔUA vs best", numeric: true, title: "UA of this run minus the best run on the same test rows, percentage points [95% paired-bootstrap interval]" },
        { label: "p", numeric: true, title: "McNemar p vs the best run (largest over seed pairs), Holm-adjusted" },
      ],
      rows,
      rowCls,
    });

  // Spread over seeds.
  const withSeeds = runs.filter((r) => (r.metrics.seeds?.length ?? 0) > 0);
  if (withSeeds.length > 0) {
    const values = (k: "accuracy" | "unweighted_accuracy" | "macro_f1") => withSeeds.map((r) => r.metrics.seeds.map((s) => 100 * s.test[k]));
    const counts = [...new Set(withSeeds.map((r) => r.metrics.seeds.length))].sort((a, b) => a - b);
    blocks.push({ kind: "heading", level: 3, text: "Spread over seeds", id: "seed-spread" });
    blocks.push({
      kind: "figure",
      id: "fig-seed-spread",
      svg: dotPlotSvg({
        title: "Test scores per seed",
        rows: withSeeds.map((r) => r.name),
        series: [
          { label: "WA", values: values("accuracy") },
          { label: "UA", values: values("unweighted_accuracy") },
          { label: "macro-F1", values: values("macro_f1") },
        ],
        xLabel: "test score (%)",
      }),
      caption: `Each dot is one seed's test score (WA, UA, macro-F1; n = ${counts.join(" or ")} seed(s) per run, ${withSeeds.length} run(s)); the black tick is the mean over seeds. Wide spreads mean a difference between runs may be noise.`,
    });
  }
  blocks.push(...significanceBlocks(sig));
  return { section: { id: "results", title: "Results", blocks }, sig };
}

function significanceBlocks(sig: Significance): Block[] {
  const blocks: Block[] = [{ kind: "heading", level: 3, text: "Significance of differences", id: "significance" }];
  const taken = new Set<string>();
  const comparable = sig.groups.filter((g) => g.runs.length >= 2);
  if (comparable.length === 0)
    blocks.push({ kind: "para", cls: "note", text: "No two runs were tested on the same rows with the same labels, so no paired test applies." });
  sig.groups.forEach((g, gi) => {
    if (g.runs.length < 2) return;
    const cs = sig.comparisons[gi];
    const seeds = [...new Set(cs.flatMap((c) => c.mcnemar.length))];
    const rows: Cell[][] = cs.map((c) => {
      const seedsText = c.mcnemar.map((t) => (t.seedA === t.seedB ? `s${t.seedA}` : `s${t.seedA}/s${t.seedB}`)).join(", ");
      const worst = c.mcnemar.find((t) => t.p === c.pMax)!;
      return [
        { text: c.a.run.name, sort: c.a.run.name },
        { text: c.b.run.name, sort: c.b.run.name },
        { text: `${pp(c.bootstrap.dWa)} [${pp(c.bootstrap.ciWa[0])}, ${pp(c.bootstrap.ciWa[1])}]`, sort: c.bootstrap.dWa },
        { text: `${pp(c.bootstrap.dUa)} [${pp(c.bootstrap.ciUa[0])}, ${pp(c.bootstrap.ciUa[1])}]`, sort: c.bootstrap.dUa },
        { text: `${worst.b} / ${worst.c}`, sort: worst.b - worst.c, title: c.mcnemar.map((t) => `seeds ${t.seedA}/${t.seedB}: b=${t.b} c=${t.c} p=${pValueText(t.p)}`).join("; ") },
        { text: pValueText(c.pMax), sort: c.pMax },
        { text: pValueText(c.pHolm), sort: c.pHolm, cls: c.pHolm < 0.05 ? "ok" : undefined },
        { text: seedsText, sort: c.mcnemar.length },
      ];
    });
    const names = g.runs.map((r) => r.run.name).join(", ");
    blocks.push({
      kind: "table",
      id: slug(`significance-${g.key}`, taken),
      sortable: true,
      caption:
        `Paired comparisons on the same ${g.ids.length} test rows (runs ${names}; ` +
        `${g.runs.length <= ALL_PAIRS_MAX ? "every pair" : "each run against the best by UA"}). ΔWA and ΔUA = A − B in percentage points, ` +
        `mean over seeds, with the 95% interval of ${cs[0]?.bootstrap.resamples ?? 0} paired bootstrap resamples of the rows. ` +
        `McNemar: exact binomial test on the rows one run gets right and the other wrong (b = A only, c = B only), per seed pair ` +
        `(${seeds.join(" or ")} pair(s)); shown: the largest p over seed pairs and its counts, and that p Holm-adjusted over the ${cs.length} comparison(s) of this table.` +
        (g.runs.some((r) => r.run.config.protocol?.kind === "session-folds") ? " Cross-validation runs: the rows of all folds pooled." : ""),
      columns: [
        { label: "run A" },
        { label: "run B" },
        { label: "ΔWA pp [95% CI]", numeric: true },
        { label: "ΔUA pp [95% CI]", numeric: true },
        { label: "McNemar b / c", numeric: true },
        { label: "p (max over seeds)", numeric: true },
        { label: "p Holm", numeric: true },
        { label: "seed pairs" },
      ],
      rows,
    });
  });
  if (sig.excluded.length > 0)
    blocks.push({
      kind: "para",
      cls: "note",
      text: `Not in paired tests: ${sig.excluded.map((e) => `${e.run.name} (${e.reason})`).join("; ")}.`,
    });
  // Runs on other rows are not compared; say why, against the largest group (the main comparison).
  if (sig.groups.length > 1) {
    const main = [...sig.groups].sort((x, y) => y.runs.length - x.runs.length)[0];
    const names = (g: Group) => g.runs.map((r) => r.run.name).join(", ");
    const why = sig.groups.filter((g) => g !== main).map((g) => `${names(g)} vs ${names(main)}: ${whyApart(g, main)}`);
    blocks.push({ kind: "para", cls: "note", text: `Not compared (paired tests need the same test rows with the same labels): ${why.join("; ")}.` });
  }
  return blocks;
}
