/**
 * Which runs the report pairs, and why it refuses the others: runs on other classes, other test rows, or the
 * same rows labelled differently are never compared, and the page says which of these keeps them apart.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { groupRuns, whyApart } from "../src/report/compare.js";
import { loadInputs, type RunInput } from "../src/report/inputs.js";
import { resultsSection } from "../src/report/sections/results.js";
import { trainPerLayer } from "../src/train/per-layer.js";
import { trainProbe } from "../src/train/probe.js";
import { readRunPredictions } from "../src/train/run-dir.js";
import { loadLayerSynth, writeLayerFixture } from "./helpers/layer-data.js";
import { removeDir, tempDir } from "./helpers/paths.js";

const scores = { accuracy: 0.5, unweighted_accuracy: 0.5, macro_f1: 0.5 };

/** A finished run as the report reads it, with one seed's test predictions (every prediction right but the first). */
function run(name: string, rows: [id: string, label: string][]): RunInput {
  return {
    dir: `/runs/${name}`,
    name,
    config: { head: "mlp", features: [{ name: "text", model_id: "m", pooling: "mean" }], protocol: { kind: "split" } },
    metrics: { head: "mlp", labels: [...new Set(rows.map((r) => r[1]))], test: scores, test_std: scores, seeds: [{ seed: 0, test: scores }] },
    epochs: null,
    predictions: rows.map(([utter_id, label], i) => ({ utter_id, split: "test", seed: 0, fold: "", label, pred: i === 0 ? "x" : label })),
    beta: null,
    storeMeta: {},
    problems: [],
  } as unknown as RunInput;
}

const base: [string, string][] = [["u1", "angry"], ["u2", "happy"], ["u3", "sad"], ["u4", "neutral"]];

describe("report: runs that cannot be paired, and why", () => {
  it("names other classes, other rows (with how many are shared) and relabelled rows", () => {
    const { groups } = groupRuns([
      run("a", base),
      run("b", base),
      run("three", base.slice(0, 3)),
      run("other", base.map(([id, l]) => [`v${id}`, l])),
      run("relabel", base.map(([id, l]) => [id, l === "angry" ? "anger" : l])),
    ]);
    expect(groups.map((g) => g.runs.map((r) => r.run.name))).toEqual([["a", "b"], ["three"], ["other"], ["relabel"]]);
    const [main, three, other, relabel] = groups;
    expect(whyApart(three, main)).toBe("other test classes (angry, happy, sad vs angry, happy, neutral, sad); other test rows (3 vs 4 rows, 3 shared)");
    expect(whyApart(other, main)).toBe("other test rows (4 vs 4 rows, 0 shared)");
    expect(whyApart(relabel, main)).toBe("other test classes (anger, happy, neutral, sad vs angry, happy, neutral, sad); 1 of the shared rows labelled differently");
  });

  it("the results section compares only the runs on the same rows and says why the others are left out", () => {
    const { section, sig } = resultsSection([run("a", base), run("b", base), run("three", base.slice(0, 3))], { baselines: false, resamples: 100 });
    expect(sig.comparisons.flat().map((c) => [c.a.run.name, c.b.run.name])).toEqual([["a", "b"]]);
    const notes = section.blocks.filter((b) => b.kind === "para").map((b) => (b as { text: string }).text);
    expect(notes).toContain(
      "Not compared (paired tests need the same test rows with the same labels): three vs a, b: other test classes (angry, happy, sad vs angry, happy, neutral, sad); other test rows (3 vs 4 rows, 3 shared).",
    );
  });

  it("two runs on different rows: no paired test, and the reason", () => {
    const { section, sig } = resultsSection([run("a", base), run("other", base.map(([id, l]) => [`v${id}`, l]))], { baselines: false, resamples: 100 });
    expect(sig.comparisons.flat()).toEqual([]);
    const notes = section.blocks.filter((b) => b.kind === "para").map((b) => (b as { text: string }).text);
    expect(notes.some((t) => /^No two runs were tested on the same rows/.test(t))).toBe(true);
    expect(notes.some((t) => /: other test rows \(4 vs 4 rows, 0 shared\)\.$/.test(t))).toBe(true);
  });
});

describe("report: runs left out of paired tests", () => {
  it("say why: an unreadable predictions.csv is named with its reason, a missing one as missing", () => {
    const broken = { ...run("broken", base), predictions: null, problems: ["predictions.csv: /runs/broken/predictions.csv: not a valid CSV: Invalid Record Length"] };
    const old = { ...run("old", base), predictions: null };
    const { excluded } = groupRuns([broken, old, run("a", base)]);
    expect(excluded.map((e) => [e.run.name, e.reason])).toEqual([
      ["broken", "predictions.csv: /runs/broken/predictions.csv: not a valid CSV: Invalid Record Length"],
      ["old", "no predictions.csv in the run folder (runs made before emofeat recorded test predictions have none)"],
    ]);
  });
});

describe("report: a --per-layer run", () => {
  it("is compared row by row through its best layer's predictions (the rows its table line scores)", async () => {
    const dir = await tempDir("emofeat-report-perlayer-");
    try {
      const fx = await writeLayerFixture(dir, await loadLayerSynth());
      const perLayer = path.join(dir, "runs", "per-layer");
      const flat = path.join(dir, "runs", "flat");
      const res = await trainPerLayer({ csv: fx.csv, features: `audio=${fx.layered}`, head: "linear", out: perLayer, settings: { epochs: 2 } });
      await trainProbe({ csv: fx.csv, features: `audio=${fx.flat}`, head: "linear", out: flat, settings: { epochs: 2 } });
      const inputs = await loadInputs({ runs: [perLayer, flat], features: [] });
      const run = inputs.runs.find((r) => r.name === "per-layer")!;
      expect(await readRunPredictions(perLayer)).toBeNull(); // the parent folder has none of its own
      expect(run.predictions).toEqual(await readRunPredictions(path.join(perLayer, res.perLayer.find((e) => e.layer === res.bestLayer)!.run)));
      const { sig } = resultsSection(inputs.runs, { baselines: false, resamples: 100 });
      expect(sig.excluded).toEqual([]);
      expect(sig.comparisons.flat().map((c) => [c.a.run.name, c.b.run.name].sort())).toEqual([["flat", "per-layer"]]);
    } finally {
      await removeDir(dir);
    }
  });
});
