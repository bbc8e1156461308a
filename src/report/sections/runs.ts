/**
 * One part per run: test confusion matrix (counts and row-normalised rates), per-class precision / recall / F1,
 * training curves, learned layer weights, per-layer scores and gate (beta) distributions where the run has them,
 * per-seed results, and its full settings (collapsed).
 */
import { sampleStd } from "../../train/aggregate.js";
import { confusionSvg, curvesSvg, type CurveSeries } from "../../train/plots.js";
import { slug, type Block, type Cell, type Section } from "../doc.js";
import { barChartSvg } from "../figures/bars.js";
import { dotPlotSvg } from "../figures/dots.js";
import type { RunInput } from "../inputs.js";
import { inputsText, protocolText } from "./results.js";

const pct = (x: number) => (100 * x).toFixed(2);
/** Dots drawn per class and split in the beta figure. */
const BETA_DOTS = 300;
const round = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(1));

function curveSeries(run: RunInput): CurveSeries[] {
  const by = new Map<string, CurveSeries>();
  for (const e of run.epochs ?? []) {
    const k = `${e.seed}\u0000${e.fold}`;
    const name = e.fold && e.fold !== "split" ? `seed ${e.seed} / ${e.fold}` : `seed ${e.seed}`;
    const s = by.get(k) ?? { name, epochs: [], selectedEpoch: 0 };
    s.epochs.push(e);
    if (e.tested) s.selectedEpoch = e.epoch;
    by.set(k, s);
  }
  return [...by.values()];
}

function perClassBlock(run: RunInput, id: string): { id: string; svg: string; caption: string } {
  const m = run.metrics;
  const labels = m.labels;
  const seeds = m.seeds ?? [];
  const std = (key: "precision" | "recall" | "f1") =>
    labels.map((_, k) => (seeds.length > 1 ? sampleStd(seeds.map((s) => s.test.per_class[k]?.[key] ?? NaN)) : NaN));
  const support = m.test.per_class.map((c) => `${c.label} ${round(c.support)}`).join(", ");
  // Cross-validation runs score each fold apart and average (metrics.json), not the pooled rows.
  const folds = run.config.protocol?.kind === "session-folds" ? run.config.protocol.folds.length : 1;
  return {
    id,
    svg: barChartSvg({
      title: `${run.name}: per-class test scores`,
      categories: labels,
      series: [
        { label: "precision", values: m.test.per_class.map((c) => c.precision), errors: std("precision") },
        { label: "recall", values: m.test.per_class.map((c) => c.recall), errors: std("recall") },
        { label: "F1", values: m.test.per_class.map((c) => c.f1), errors: std("f1") },
      ],
      yLabel: "score",
      yRange: [0, 1],
    }),
    caption:
      `Per-class test precision, recall and F1 of ${run.name}` +
      (folds > 1 ? `, the mean over its ${folds} folds` : "") +
      (seeds.length > 1 ? `${folds > 1 ? " and" : ","} mean over ${seeds.length} seeds with ± 1 sample std as error bars` : "") +
      `. Test rows per class (n): ${support}${seeds.length > 1 ? " (per seed)" : ""}.`,
  };
}

function layerBlocks(run: RunInput, taken: Set<string>): { id: string; svg: string; caption: string }[] {
  const out: { id: string; svg: string; caption: string }[] = [];
  const lw = run.metrics.layer_weights;
  const runs = (run.metrics.seeds?.length ?? 1) * Math.max(1, run.config.protocol?.folds?.length ?? 1);
  if (lw && Array.isArray(lw.layers) && lw.layers.length > 0)
    out.push({
      id: slug(`${run.name}-layer-weights`, taken),
      svg: barChartSvg({
        title: `${run.name}: learned layer weights`,
        categories: lw.layers.map(String),
        series: [{ label: "weight", values: lw.mean, errors: lw.std }],
        yLabel: "softmax weight",
        xLabel: "layer (hidden_states index)",
      }),
      caption: `Softmax-normalised weight the head learned for each encoder layer (hidden_states index; 0 = the input of the first transformer layer), mean ± std over ${runs} trained head(s) (seeds × folds); a uniform mix would give ${(1 / lw.layers.length).toFixed(3)} each.`,
    });
  const pl = run.metrics.per_layer;
  if (pl && pl.length > 0)
    out.push({
      id: slug(`${run.name}-per-layer`, taken),
      svg: barChartSvg({
        title: `${run.name}: test scores per layer`,
        categories: pl.map((p) => String(p.layer)),
        series: [
          { label: "WA", values: pl.map((p) => p.test.accuracy), errors: pl.map((p) => p.test_std?.accuracy) },
          { label: "UA", values: pl.map((p) => p.test.unweighted_accuracy), errors: pl.map((p) => p.test_std?.unweighted_accuracy) },
          { label: "macro-F1", values: pl.map((p) => p.test.macro_f1), errors: pl.map((p) => p.test_std?.macro_f1) },
        ],
        yLabel: "test score",
        xLabel: "layer (hidden_states index)",
        yRange: [0, 1],
      }),
      caption: `A probe trained on each of ${pl.length} encoder layers alone (hidden_states index on the x axis): test WA, UA and macro-F1, mean ± std over ${run.metrics.seeds?.length ?? 1} seed(s).`,
    });
  return out;
}

function betaBlocks(run: RunInput, taken: Set<string>): Block[] {
  const blocks: Block[] = [];
  const rows = run.beta;
  const summary = run.metrics.beta?.mean_by_class;
  if (rows && rows.length > 0) {
    const labels = [...new Set([...run.metrics.labels, ...rows.map((r) => r.label)])].filter((l) => rows.some((r) => r.label === l));
    const splits = ["test", "val", "train"].filter((s) => rows.some((r) => r.split === s));
    const shown = splits.slice(0, 2);
    const values = (split: string) => labels.map((l) => rows.filter((r) => r.split === split && r.label === l).map((r) => r.beta));
    const counts = labels.map((l) => `${l} ${rows.filter((r) => r.split === shown[0] && r.label === l).length}`).join(", ");
    blocks.push({
      kind: "figure",
      id: slug(`${run.name}-beta`, taken),
      svg: dotPlotSvg({
        title: `${run.name}: gate β per utterance`,
        rows: labels,
        series: shown.map((s) => ({ label: s, values: values(s) })),
        xLabel: "β",
        xRange: [0, 1],
        box: true,
        maxDots: BETA_DOTS,
      }),
      caption:
        `The fusion gate β of each utterance (beta.csv, selected checkpoint), per true class and split (${shown.join(", ")}); box = quartiles, black tick = mean. ` +
        `Every seed and fold contributes its rows; n per class (${shown[0]}): ${counts}` +
        (rows.length > BETA_DOTS ? `; at most ${BETA_DOTS} dots are drawn per class and split (evenly spaced quantiles), the box and mean use every value.` : "."),
    });
  }
  if (summary) {
    const splits = (["train", "val", "test"] as const).filter((s) => summary[s]);
    const labels = [...new Set(splits.flatMap((s) => Object.keys(summary[s]!)))];
    blocks.push({
      kind: "table",
      id: slug(`${run.name}-beta-table`, taken),
      caption: `Mean gate β per class and split (metrics.json) of ${run.name}.`,
      columns: [{ label: "class" }, ...splits.map((s) => ({ label: s, numeric: true }))],
      rows: labels.map((l) => [l, ...splits.map((s) => (summary[s]![l] === undefined ? "–" : summary[s]![l].toFixed(3)))]),
    });
  }
  return blocks;
}

function seedTable(run: RunInput, id: string): Block | null {
  const seeds = run.metrics.seeds ?? [];
  if (seeds.length === 0) return null;
  const folds = seeds.some((s) => s.folds && s.folds.length > 0);
  const rows: Cell[][] = [];
  for (const s of seeds) {
    rows.push([String(s.seed), folds ? "all (pooled confusion, mean scores)" : String(s.selected_epoch ?? "–"), pct(s.test.accuracy), pct(s.test.unweighted_accuracy), pct(s.test.macro_f1), String(s.seconds ?? "–")]);
    if (folds)
      for (const f of s.folds ?? [])
        rows.push([`  ${s.seed} / ${f.fold}`, String(f.selected_epoch), pct(f.test.accuracy), pct(f.test.unweighted_accuracy), pct(f.test.macro_f1), ""]);
  }
  return {
    kind: "table",
    id,
    caption: `Test scores of ${run.name} per seed${folds ? " and fold" : ""} (percent), with the epoch whose parameters were tested.`,
    columns: [{ label: folds ? "seed / fold" : "seed" }, { label: "tested epoch", numeric: true }, { label: "WA %", numeric: true }, { label: "UA %", numeric: true }, { label: "macro-F1 %", numeric: true }, { label: "seconds", numeric: true }],
    rows,
  };
}

export function runSection(run: RunInput, taken: Set<string>): Block {
  const m = run.metrics;
  const id = slug(`run-${run.name}`, taken);
  const seeds = m.seeds?.length ?? 1;
  const blocks: Block[] = [{ kind: "heading", level: 3, text: run.name, id: `${id}-title` }];
  blocks.push({
    kind: "para",
    text:
      `${m.head ?? run.config.head} on ${inputsText(run)}; ${protocolText(run)}; ${seeds} seed(s); ${m.labels.length} classes (${m.labels.join(", ")}); ` +
      `test WA ${pct(m.test.accuracy)}, UA ${pct(m.test.unweighted_accuracy)}, macro-F1 ${pct(m.test.macro_f1)} on ${round(m.test.n)} rows. Folder: ${run.dir}.`,
  });
  for (const p of run.problems) blocks.push({ kind: "para", cls: "warn", text: `Could not read ${p}` });
  const figs: { id: string; svg: string; caption: string }[] = [];
  const multi = seeds > 1;
  const folds = run.config.protocol?.kind === "session-folds";
  figs.push({
    id: slug(`${run.name}-confusion`, taken),
    svg: confusionSvg(m.test.confusion, m.labels, `${run.name}: test confusion`),
    caption:
      `Test confusion matrix of ${run.name}: rows are true classes, columns predictions; each cell gives the count and the row-normalised rate (the class's recall in the diagonal)` +
      `${folds ? ", counts summed over folds" : ""}${multi ? `, mean over ${seeds} seeds` : ""}. n = ${round(m.test.n)} test rows${multi ? " per seed" : ""}.`,
  });
  figs.push(perClassBlock(run, slug(`${run.name}-per-class`, taken)));
  const curves = curveSeries(run);
  if (curves.length > 0) {
    const epochs = Math.max(...curves.map((c) => c.epochs.length));
    figs.push({
      id: slug(`${run.name}-curves`, taken),
      svg: curvesSvg(curves, `${run.name}: training curves`),
      caption: `Training of ${run.name}: train and validation loss, and validation accuracy, UA and macro-F1 per epoch; ${curves.length} curve(s) (seeds × folds), up to ${epochs} epochs; dashed line = the epoch tested (${m.selection ?? run.config.settings?.select}).`,
    });
  } else blocks.push({ kind: "para", cls: "note", text: "No training curves (epochs.csv missing or empty)." });
  figs.push(...layerBlocks(run, taken));
  blocks.push({ kind: "figures", items: figs });
  blocks.push(...betaBlocks(run, taken));
  const t = seedTable(run, slug(`${run.name}-seeds`, taken));
  if (t) blocks.push(t);
  blocks.push({ kind: "details", summary: `Full settings of ${run.name} (config.json)`, blocks: [{ kind: "code", text: JSON.stringify(run.config, null, 2) }] });
  return { kind: "group", id, blocks };
}

export function runsSection(runs: RunInput[], taken: Set<string>): Section {
  const blocks: Block[] = runs.length === 0 ? [{ kind: "para", cls: "note", text: "No runs were given." }] : runs.map((r) => runSection(r, taken));
  return { id: "runs", title: "Runs", blocks };
}
