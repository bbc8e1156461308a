/** The run plots: what a reader needs is in them (n, metrics, colour scale, fold note; visible curves and tested epoch). */
import { describe, expect, it } from "vitest";
import type { EpochRecord } from "../src/train/engine.js";
import { BAND_ABOVE, confusionSvg, curvesSvg, epochTicks } from "../src/train/plots.js";
import { heatmapSvg } from "../src/train/plots-fusion.js";

function series(name: string, epochs: number, tested: number, shift = 0) {
  const recs: EpochRecord[] = Array.from({ length: epochs }, (_, i) => ({
    epoch: i + 1,
    train_loss: 1.5 - 0.05 * i + shift,
    val_loss: 1.5 - 0.05 * i + shift, // the same as train: must stay visible
    val_accuracy: 0.3 + 0.02 * i,
    val_unweighted_accuracy: 0.3 + 0.02 * i, // balanced validation: UA = accuracy
    val_macro_f1: 0.28 + 0.02 * i,
    val_weighted_f1: 0.3,
    seconds: 0.1,
  }));
  return { name, epochs: recs, selectedEpoch: tested };
}

/** The plot frame (x, width) of panel k. */
function frame(svg: string, k: number): { x: number; w: number } {
  const rects = [...svg.matchAll(/<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)" height="[\d.]+" fill="none" stroke="#444"\/>/g)];
  return { x: Number(rects[k][1]), w: Number(rects[k][2]) };
}

describe("confusion plot", () => {
  const cm = [
    [8, 2],
    [1, 9],
  ];
  it("has n and the headline metrics in its title, a colour scale, and says how folds and seeds combine", () => {
    const svg = confusionSvg(cm, ["angry", "sad"], "mlp on text: test confusion", {
      n: 20,
      metrics: { accuracy: 0.85, unweighted_accuracy: 0.8500001, macro_f1: 0.849624 },
      note: "summed over 5 folds (each row tested once); the metrics are means over folds",
    });
    expect(svg).toContain(">n = 20 · acc 85.00 · UA 85.00 · macro-F1 84.96<");
    expect(svg).toContain(">summed over 5 folds (each row tested once)<");
    expect(svg).toContain(">the metrics are means over folds<");
    for (const t of ["row %", "0%", "50%", "100%"]) expect(svg).toContain(`>${t}<`);
    // The scale: 20 steps from a nearly full blue (top, 97.5 %) to nearly white (bottom, 2.5 %), as the cells are shaded.
    const steps = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="14" height="[\d.]+" fill="rgb\((\d+),/g)].map((m) => Number(m[1]));
    expect(steps).toHaveLength(20);
    expect(steps[0]).toBe(60);
    expect(steps[19]).toBe(250);
  });
});

describe("curves plot", () => {
  it("integer epoch ticks, never repeated, never skipping the first", () => {
    for (const n of [1, 2, 7, 12, 50, 137]) {
      const t = epochTicks(n);
      expect(t[0]).toBe(1);
      expect(t.every((e) => Number.isInteger(e) && e <= n)).toBe(true);
      expect(new Set(t).size).toBe(t.length);
      expect(t.length).toBeLessThanOrEqual(11);
      const gaps = t.slice(2).map((e, i) => e - t[i + 1]);
      expect(new Set(gaps).size).toBeLessThanOrEqual(1); // evenly spaced after the first
    }
    expect(epochTicks(12)).toEqual([1, 2, 4, 6, 8, 10, 12]);
  });

  it("coinciding lines differ in dash and marker; the tested last epoch is marked inside the frame", () => {
    const svg = curvesSvg([series("seed 0", 10, 10)], "t");
    const dashes = [...svg.matchAll(/<polyline [^>]*?(?:stroke-dasharray="([^"]+)")?\/>/g)].map((m) => m[1] ?? "solid");
    expect(new Set(dashes.slice(0, 2)).size).toBe(2); // train vs val loss
    expect(new Set(dashes.slice(2, 5)).size).toBe(3); // accuracy, UA, macro-F1
    expect(svg).toMatch(/<rect x="[\d.]+" y="[\d.]+" width="5" height="5"/); // square markers
    expect(svg).toMatch(/<polygon points="[^"]+" fill="white"/); // triangle markers
    const f = frame(svg, 1);
    const dot = /<circle cx="([\d.]+)" cy="[\d.]+" r="4.5"/.exec(svg);
    expect(dot).not.toBeNull();
    const x = Number(dot![1]);
    expect(x).toBeGreaterThan(f.x + 5);
    expect(x).toBeLessThan(f.x + f.w - 5); // not on the frame's edge, where it used to vanish
    expect(svg).toContain(">tested checkpoint (epoch 10)<");
  });

  it(`many seeds x folds (> ${BAND_ABOVE}): one mean line with a min-max band per metric, and the tested epochs counted`, () => {
    const many = Array.from({ length: 12 }, (_, i) => series(`seed ${i % 3} / fold ${i}`, 12, 9 + (i % 4), i * 0.01));
    const svg = curvesSvg(many, "t");
    expect(svg).toContain("lines: mean over 12 runs (seeds x folds); bands: min to max");
    expect([...svg.matchAll(/fill-opacity="0.15"/g)]).toHaveLength(5);
    expect([...svg.matchAll(/<polyline /g)]).toHaveLength(5);
    // Train loss mean at epoch 1 = 1.5 + mean(shift) = 1.5 + 0.055; the band spans shifts 0 .. 0.11.
    expect(svg).toContain(">tested epochs (number of runs)<");
    expect([...svg.matchAll(/font-size="9" text-anchor="middle">3<\/text>/g)]).toHaveLength(4); // epochs 9-12, 3 runs each
  });
});

describe("attention heat map (predict --explain)", () => {
  const map = (frames: number, tokens: string[], title: string) =>
    heatmapSvg({
      title,
      values: [0, 1].map(() => Array.from({ length: frames + tokens.length }, (_, j) => j / 100)),
      rowLabels: ["angry", "sad"],
      colLabels: [...Array.from({ length: frames }, (_, i) => `${(0.02 * i).toFixed(2)} s`), ...tokens],
      rowTitle: "emotion",
      colTitle: "fused position",
      colBreaks: [frames],
      wideFrom: frames,
    });
  const width = (svg: string) => Number(/<svg [^>]*width="([\d.]+)"/.exec(svg)![1]);

  it("labels every token after many frames, the first one too", () => {
    // 79 frames: thinned frame labels end right before the first token column.
    const tokens = ["[CLS]", "i", "can", "'", "t", "believe", "you", "did", "that", "[SEP]"];
    const svg = map(79, tokens, "decoder");
    for (const t of tokens) expect(svg).toContain(`>${t}</text>`);
  });

  it("is wide enough for its title over a narrow grid", () => {
    const title = "demo_s1_001: angry, beta 0.500 - block 1: audio attends to text (a long title)";
    expect(width(map(1, ["[CLS]", "hi"], title))).toBeGreaterThanOrEqual(7 * title.length);
  });
});
