import { describe, expect, it } from "vitest";
import { perLayerSvg } from "../src/train/layer-plots.js";

describe("per-layer plot", () => {
  it("error bars of a wide spread stay inside the panel (scores cannot go below 0 or above 1)", () => {
    const score = (v: number) => ({ accuracy: v, unweighted_accuracy: v, macro_f1: v });
    const svg = perLayerSvg(
      [
        { layer: 0, test: score(0.25), test_std: score(0.02) },
        { layer: 1, test: score(0.1), test_std: score(0.3) },
        { layer: 2, test: score(0.95), test_std: score(0.2) },
      ],
      "t",
      { seeds: 3, chance: 0.25 },
    );
    // The panel is the first stroked rect; every vertical line (the error bars) must lie within it.
    const rect = /<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="none"/.exec(svg)!;
    const top = Number(rect[2]);
    const bottom = top + Number(rect[4]);
    const bars = [...svg.matchAll(/<line x1="([\d.]+)" y1="([\d.]+)" x2="\1" y2="([\d.]+)"/g)];
    expect(bars.length).toBeGreaterThanOrEqual(6);
    for (const b of bars)
      for (const y of [Number(b[2]), Number(b[3])]) {
        expect(y).toBeGreaterThanOrEqual(top - 0.05);
        expect(y).toBeLessThanOrEqual(bottom + 0.05);
      }
  });
});
